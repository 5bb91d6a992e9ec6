"""The audit trail: atomic events (R-AUD-1), append-only storage and the tamper-evident hash
chain built by the sealer (R-AUD-2), and the manager's views of it: GET /audit-events,
GET /audit-events/verify and GET /service-users/{id}/access-log.

Events for single writes and reads are already checked in test_service_users.py and
test_idempotency.py; this module concentrates on the chain and the read APIs."""

import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import psycopg2.errors
import pytest

from carecoord import (
    assert_problem,
    create,
    etag_of,
    mint_token,
    paginate,
    service_user_payload,
    team_payload,
    unique,
    wait_until,
)

SEAL_DEADLINE_S = 60.0

# The canonical content the service hashes (service/audit/chain.h), restated here so that the
# test checks the chain independently of the service's own verification.
CONTENT_SQL = """
SELECT jsonb_build_object('id', e.id,
  'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
  'actor', e.actor, 'roles', to_jsonb(e.roles), 'action', e.action,
  'resource_type', e.resource_type, 'resource_id', e.resource_id,
  'service_user_id', e.service_user_id, 'request_id', e.request_id,
  'client_address', e.client_address, 'outcome', e.outcome, 'details', e.details)::text
  AS content, c.seq, c.prev_hash, c.hash
FROM audit_chain c JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq
"""


def verify(api):
    r = api.get("/audit-events/verify")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"valid", "checked", "unsealed", "first_broken"}, body
    return body


def wait_sealed(api):
    """Polls verify until every event is sealed (the sealer runs every ~200 ms)."""
    return wait_until(
        lambda: (lambda b: b if b["unsealed"] == 0 else None)(verify(api)),
        SEAL_DEADLINE_S,
        "the sealer to seal every audit event",
    )


def assert_broken_at(body, link, reason):
    assert body["valid"] is False, body
    assert body["first_broken"] == {"event_id": link["event_id"], "seq": link["seq"], "reason": reason}


def tamper(db, *statements):
    """Runs statements as the superuser with every trigger (the append-only guards and the
    foreign keys) switched off for this session only: what an attacker with full database
    access could do."""
    conn = db.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL session_replication_role = replica")
            for sql, params in statements:
                cur.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def middle_link(db):
    wait_until(lambda: db.scalar("SELECT count(*) FROM audit_chain") >= 3, SEAL_DEADLINE_S, "three links")
    return db.one(
        "SELECT c.seq, c.event_id FROM audit_chain c"
        " WHERE c.seq = (SELECT (max(seq) + 1) / 2 FROM audit_chain)"
    )


# == R-AUD-1: a change and its event commit or roll back together ================================


def test_failed_create_leaves_neither_record_nor_event_R_AUD_1(api, db):
    name = unique("Team ")
    create(api, "/teams", team_payload(name=name))
    request_id = unique("dup-")
    r = api.post("/teams", json=team_payload(name=name.upper()), headers={"X-Request-Id": request_id})
    assert_problem(r, 409, "conflict")
    assert db.count("teams", "lower(name) = lower(%s)", (name,)) == 1
    assert db.count("audit_events", "request_id = %s", (request_id,)) == 0


# == R-AUD-2: append-only ===========================================================================


@pytest.mark.parametrize("table", ["audit_events", "audit_chain"])
@pytest.mark.parametrize(
    "sql",
    ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}", "TRUNCATE {t}", "TRUNCATE {t} CASCADE"],
)
def test_app_role_cannot_change_or_remove_audit_rows_R_AUD_2(api, db, app_conn, table, sql):
    create(api, "/teams", team_payload())
    wait_sealed(api)
    before = db.count(table)
    assert before >= 1
    column = "actor" if table == "audit_events" else "hash"
    with app_conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(sql.format(t=table, c=column))
    assert db.count(table) == before


@pytest.mark.parametrize("table", ["audit_events", "audit_chain"])
@pytest.mark.parametrize("sql", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}", "TRUNCATE {t} CASCADE"])
def test_triggers_refuse_changes_even_by_the_owner_R_AUD_2(api, database, db, table, sql):
    """The owner holds every privilege on its tables; the triggers still refuse."""
    create(api, "/teams", team_payload())
    wait_sealed(api)
    before = db.count(table)
    column = "actor" if table == "audit_events" else "hash"
    conn = psycopg2.connect(database.owner_url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.RaiseException, match="append-only"):
                cur.execute(sql.format(t=table, c=column))
    finally:
        conn.close()
    assert db.count(table) == before


APP_INSERT = ("INSERT INTO audit_events (actor, action, resource_type, outcome, request_id,"
              " client_address{cols}) {override}VALUES ('forger', 'read', 'team', 'success', 'forged',"
              " '10.0.0.1'{vals})")


@pytest.mark.parametrize("sql", [
    APP_INSERT.format(cols=", id", override="OVERRIDING SYSTEM VALUE ",
                      vals=", (SELECT max(id) + 1 FROM audit_events)"),
    APP_INSERT.format(cols=", occurred_at", override="", vals=", '2001-01-01T00:00:00Z'"),
    APP_INSERT.format(cols=", txid", override="", vals=", '1'"),
    "INSERT INTO audit_chain (event_id, seq, prev_hash, hash, sealed_at)"
    " VALUES (1, 999999, repeat('0', 64), repeat('1', 64), '2001-01-01T00:00:00Z')",
], ids=["id", "occurred_at", "txid", "sealed_at"])
def test_app_role_cannot_choose_an_events_id_time_or_place_in_the_chain_R_AUD_2(api, db, app_conn, sql):
    """An id taken ahead of the identity would make every later audited write fail; a chosen
    occurred_at backdates an event; a chosen txid puts it outside the sealer's order. The role
    may insert only the columns the service writes."""
    with app_conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(sql)
    assert db.count("audit_events", "actor = 'forger'") == 0
    assert db.count("audit_chain", "seq = 999999") == 0
    # the service's own writes are still audited
    rid = unique("after-forger-")
    assert api.post("/teams", json=team_payload(), headers={"X-Request-Id": rid}).status_code == 201
    assert db.count("audit_events", "request_id = %s", (rid,)) == 1


@pytest.mark.parametrize("sql", [
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "ALTER TABLE audit_chain DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RETURN NEW; END $$",
    "SET session_replication_role = replica",
    "DROP TABLE audit_chain",
    "ALTER TABLE audit_events RENAME TO audit_events_old",
    "ALTER TABLE audit_chain ALTER COLUMN hash DROP NOT NULL",
])
def test_app_role_cannot_switch_off_or_replace_the_guards_R_AUD_2(db, app_conn, sql):
    with app_conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(sql)
    assert db.scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('audit_events'::regclass,"
                     " 'audit_chain'::regclass) AND NOT tgisinternal AND tgenabled = 'O'") == 4


def test_app_role_cannot_grant_itself_more_R_AUD_2(db, app_conn):
    with app_conn.cursor() as cur:
        cur.execute("GRANT UPDATE, DELETE, TRUNCATE ON audit_events, audit_chain TO CURRENT_USER")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("UPDATE audit_events SET actor = actor")
    assert db.scalar("SELECT has_table_privilege('carecoord_app', 'audit_events', 'UPDATE')"
                     " OR has_table_privilege('carecoord_app', 'audit_chain', 'DELETE')") is False


# == R-AUD-2: the chain ==============================================================================


def test_team_writes_each_produce_exactly_one_event_R_AUD_1(api, db):
    rid_create, rid_update = unique("create-"), unique("update-")
    r = api.post("/teams", json=team_payload(), headers={"X-Request-Id": rid_create})
    assert r.status_code == 201, r.text
    team = r.json()
    r = api.patch(
        f"/teams/{team['id']}",
        json={"name": unique("Renamed ")},
        headers={"If-Match": etag_of(team["version"]), "X-Request-Id": rid_update},
    )
    assert r.status_code == 200, r.text
    for rid, action in ((rid_create, "create"), (rid_update, "update")):
        rows = db.rows("SELECT * FROM audit_events WHERE request_id = %s", (rid,))
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["action"], row["resource_type"], row["resource_id"]) == (action, "team", team["id"])
        assert row["service_user_id"] is None and row["outcome"] == "success"
        assert row["actor"] == "carecoord-api-tests" and row["roles"] == ["manager"]
        assert row["client_address"] == "127.0.0.1"


def test_concurrent_writes_through_two_replicas_are_sealed_into_one_gap_free_chain_R_AUD_2(
    service_factory, service, api, db
):
    """200 concurrent writes, spread over two service processes on the same database: two
    sealers compete (the advisory lock keeps them from forking the chain) and writers never
    wait for either."""
    replicas = [service, service_factory.start()]
    local = threading.local()

    def post_team(i):
        if not hasattr(local, "apis"):
            local.apis = [replica.api() for replica in replicas]
        r = local.apis[i % 2].post("/teams", json=team_payload(name=unique(f"Concurrent {i} ")))
        assert r.status_code == 201, r.text
        return r.json()["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(post_team, range(200)))
    assert len(set(ids)) == 200

    body = wait_sealed(api)
    assert body["valid"] is True and body["first_broken"] is None, body
    assert body["checked"] >= 200

    stats = db.one("SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM audit_chain")
    assert stats["lo"] == 1 and stats["hi"] == stats["n"], f"seq has gaps: {stats}"
    assert stats["n"] == db.count("audit_events")
    # every create of this burst is sealed, exactly once
    assert db.scalar(
        "SELECT count(DISTINCT c.event_id) FROM audit_chain c JOIN audit_events e ON e.id = c.event_id"
        " WHERE e.action = 'create' AND e.resource_type = 'team' AND e.resource_id = ANY(%s)",
        (ids,),
    ) == 200
    # links follow (txid, id) order: the order in which events are known to be final
    assert db.scalar(
        "SELECT count(*) FROM (SELECT e.txid, e.id, lag(e.txid) OVER w AS ptx, lag(e.id) OVER w AS pid"
        " FROM audit_chain c JOIN audit_events e ON e.id = c.event_id WINDOW w AS (ORDER BY c.seq)) s"
        " WHERE (s.ptx, s.pid) > (s.txid, s.id)"
    ) == 0


def test_chain_hashes_are_sha256_of_previous_hash_and_content_R_AUD_2(api, db):
    create(api, "/teams", team_payload())
    wait_sealed(api)
    prev = None
    rows = db.rows(CONTENT_SQL)
    assert rows
    for row in rows:
        assert row["prev_hash"] == prev, row["seq"]
        expected = hashlib.sha256(((prev or "") + "\n" + row["content"]).encode("utf-8")).hexdigest()
        assert row["hash"] == expected, f"link {row['seq']}"
        prev = row["hash"]


def test_modified_event_is_reported_at_exactly_that_event_R_AUD_2(api, db):
    create(api, "/teams", team_payload())
    create(api, "/teams", team_payload())
    wait_sealed(api)
    link = middle_link(db)
    original = db.scalar("SELECT actor FROM audit_events WHERE id = %s", (link["event_id"],))
    conn = db.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            cur.execute("UPDATE audit_events SET actor = 'tamperer' WHERE id = %s", (link["event_id"],))
            cur.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        conn.commit()
    finally:
        conn.close()
    try:
        body = verify(api)
        assert_broken_at(body, link, "content_mismatch")
        assert body["checked"] == db.count("audit_chain")
    finally:
        tamper(db, ("UPDATE audit_events SET actor = %s WHERE id = %s", (original, link["event_id"])))
    assert verify(api)["valid"] is True


def test_deleted_event_is_reported_R_AUD_2(api, db):
    create(api, "/teams", team_payload())
    wait_sealed(api)
    link = middle_link(db)
    saved = f"saved_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE TABLE {saved} AS SELECT * FROM audit_events WHERE id = %s", (link["event_id"],))
    try:
        tamper(db, ("DELETE FROM audit_events WHERE id = %s", (link["event_id"],)))
        body = verify(api)
        assert_broken_at(body, link, "event_missing")
    finally:
        tamper(db, (f"INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM {saved}", ()))
        db.execute(f"DROP TABLE {saved}")
    assert verify(api)["valid"] is True


def test_removed_link_and_broken_link_are_reported_R_AUD_2(api, db):
    create(api, "/teams", team_payload())
    wait_sealed(api)
    link = middle_link(db)
    following = db.one("SELECT seq, event_id, prev_hash FROM audit_chain WHERE seq = %s", (link["seq"] + 1,))
    tag = uuid.uuid4().hex[:8]
    saved_event, saved_link = f"saved_event_{tag}", f"saved_link_{tag}"
    db.execute(f"CREATE TABLE {saved_event} AS SELECT * FROM audit_events WHERE id = %s", (link["event_id"],))
    db.execute(f"CREATE TABLE {saved_link} AS SELECT * FROM audit_chain WHERE seq = %s", (link["seq"],))
    try:
        # a link whose prev_hash no longer names its predecessor
        tamper(db, ("UPDATE audit_chain SET prev_hash = repeat('0', 64) WHERE seq = %s", (following["seq"],)))
        body = verify(api)
        assert_broken_at(body, following, "broken_link")
        tamper(db, ("UPDATE audit_chain SET prev_hash = %s WHERE seq = %s", (following["prev_hash"], following["seq"])))
        assert verify(api)["valid"] is True
        # an event and its link both removed: the gap shows at the next link
        tamper(
            db,
            ("DELETE FROM audit_chain WHERE seq = %s", (link["seq"],)),
            ("DELETE FROM audit_events WHERE id = %s", (link["event_id"],)),
        )
        body = verify(api)
        assert_broken_at(body, following, "sequence_gap")
    finally:
        tamper(
            db,
            (f"INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM {saved_event}"
             " WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.id = (SELECT id FROM "
             f"{saved_event}))", ()),
            (f"INSERT INTO audit_chain SELECT * FROM {saved_link}"
             " WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = (SELECT seq FROM "
             f"{saved_link}))", ()),
            ("UPDATE audit_chain SET prev_hash = %s WHERE seq = %s", (following["prev_hash"], following["seq"])),
        )
        db.execute(f"DROP TABLE {saved_event}, {saved_link}")
    assert verify(api)["valid"] is True


def test_reordered_events_are_reported_R_AUD_2(api, db):
    """Two links made to name each other's events: the history in another order."""
    create(api, "/teams", team_payload())
    wait_sealed(api)
    link = middle_link(db)
    following = db.one("SELECT seq, event_id FROM audit_chain WHERE seq = %s", (link["seq"] + 1,))
    swap = "UPDATE audit_chain SET event_id = %s WHERE seq = %s"
    tamper(db, ("UPDATE audit_chain SET event_id = -1 WHERE seq = %s", (link["seq"],)),
           (swap, (link["event_id"], following["seq"])), (swap, (following["event_id"], link["seq"])))
    try:
        body = verify(api)
        assert body["valid"] is False, body
        assert body["first_broken"]["seq"] == link["seq"], body
        assert body["first_broken"]["reason"] == "content_mismatch", body
    finally:
        tamper(db, ("UPDATE audit_chain SET event_id = -1 WHERE seq = %s", (link["seq"],)),
               (swap, (following["event_id"], following["seq"])), (swap, (link["event_id"], link["seq"])))
    assert verify(api)["valid"] is True


def test_an_edited_event_whose_hash_is_recomputed_shows_at_the_next_link_R_AUD_2(api, db):
    """Whoever knows the scheme can rehash the link of the event they changed, but not every
    link after it without rewriting the whole chain."""
    create(api, "/teams", team_payload())
    create(api, "/teams", team_payload())
    wait_sealed(api)
    link = middle_link(db)
    original = db.one("SELECT e.actor, c.hash FROM audit_events e JOIN audit_chain c ON c.event_id = e.id"
                      " WHERE e.id = %s", (link["event_id"],))
    tamper(db, ("UPDATE audit_events SET actor = 'tamperer' WHERE id = %s", (link["event_id"],)))
    try:
        row = next(r for r in db.rows(CONTENT_SQL) if r["seq"] == link["seq"])
        rehashed = hashlib.sha256(((row["prev_hash"] or "") + "\n" + row["content"]).encode()).hexdigest()
        tamper(db, ("UPDATE audit_chain SET hash = %s WHERE seq = %s", (rehashed, link["seq"])))
        following = db.one("SELECT seq, event_id FROM audit_chain WHERE seq = %s", (link["seq"] + 1,))
        assert_broken_at(verify(api), following, "broken_link")
    finally:
        tamper(db, ("UPDATE audit_events SET actor = %s WHERE id = %s", (original["actor"], link["event_id"])),
               ("UPDATE audit_chain SET hash = %s WHERE seq = %s", (original["hash"], link["seq"])))
    assert verify(api)["valid"] is True


def test_a_truncated_tail_shows_against_a_head_recorded_earlier_R_AUD_2(api, db):
    """The documented limit of a chain kept in the database alone: removing the newest events
    with their links leaves a shorter chain that verifies. What shows it is the newest sealed
    event's seq and hash, recorded outside the database earlier (README "Audit trail"): after
    the removal the trail no longer holds that link, and verify checks fewer links."""
    for _ in range(3):
        create(api, "/teams", team_payload())
    before = wait_sealed(api)
    head = api.get("/audit-events", params={"limit": 1}).json()["items"][0]
    assert head["seq"] == before["checked"] and head["hash"], head
    tag = uuid.uuid4().hex[:8]
    saved_events, saved_links = f"saved_tail_events_{tag}", f"saved_tail_links_{tag}"
    cut = head["seq"] - 2
    db.execute(f"CREATE TABLE {saved_links} AS SELECT * FROM audit_chain WHERE seq > %s", (cut,))
    db.execute(f"CREATE TABLE {saved_events} AS SELECT e.* FROM audit_events e"
               f" JOIN {saved_links} l ON l.event_id = e.id")
    try:
        tamper(db, ("DELETE FROM audit_chain WHERE seq > %s", (cut,)),
               (f"DELETE FROM audit_events WHERE id IN (SELECT event_id FROM {saved_links})", ()))
        body = verify(api)
        assert body["valid"] is True and body["checked"] == cut, body  # the limit, as documented
        newest = api.get("/audit-events", params={"limit": 1}).json()["items"][0]
        assert (newest["seq"], newest["hash"]) != (head["seq"], head["hash"])
        assert db.count("audit_chain", "seq = %s AND hash = %s", (head["seq"], head["hash"])) == 0
    finally:
        tamper(db, (f"INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM {saved_events}", ()),
               (f"INSERT INTO audit_chain SELECT * FROM {saved_links}", ()))
        db.execute(f"DROP TABLE {saved_events}, {saved_links}")
    assert verify(api)["valid"] is True


def test_verify_needs_the_manager_role(service):
    token = mint_token(service.env, sub=unique("sub-"), roles=("coordinator",))
    with service.api(token=token) as coordinator:
        assert_problem(coordinator.get("/audit-events/verify"), 403)
        assert_problem(coordinator.get("/audit-events"), 403)
    with service.api(token=None) as anonymous:
        r = anonymous.get("/audit-events")
        assert_problem(r, 401)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")


# == GET /audit-events ===============================================================================


@pytest.fixture(scope="module")
def person_history(api):
    """A service user created, read twice and updated once, with each request's id."""
    rids = {k: unique(f"{k}-") for k in ("create", "read1", "read2", "update")}
    r = api.post("/service-users", json=service_user_payload(), headers={"X-Request-Id": rids["create"]})
    assert r.status_code == 201, r.text
    su = r.json()
    for k in ("read1", "read2"):
        assert api.get(f"/service-users/{su['id']}", headers={"X-Request-Id": rids[k]}).status_code == 200
    r = api.patch(
        f"/service-users/{su['id']}",
        json={"preferred_language": "Welsh"},
        headers={"If-Match": etag_of(su["version"]), "X-Request-Id": rids["update"]},
    )
    assert r.status_code == 200, r.text
    return su, rids


EVENT_KEYS = {
    "id", "occurred_at", "actor", "roles", "action", "resource_type", "resource_id",
    "service_user_id", "request_id", "client_address", "outcome", "details", "seq", "hash",
}


def test_list_filters_by_person_newest_first_with_chain_hashes_R_AUD_1(api, person_history):
    su, rids = person_history
    wait_sealed(api)
    r = api.get("/audit-events", params={"service_user_id": su["id"]})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["request_id"] for i in items] == [rids["update"], rids["read2"], rids["read1"], rids["create"]]
    assert [i["action"] for i in items] == ["update", "read", "read", "create"]
    ids = [i["id"] for i in items]
    assert ids == sorted(ids, reverse=True)
    for item in items:
        assert set(item) == EVENT_KEYS, item
        assert item["service_user_id"] == su["id"] and item["resource_type"] == "service_user"
        assert item["outcome"] == "success" and item["actor"] == "carecoord-api-tests"
        assert item["roles"] == ["manager"]
        assert isinstance(item["seq"], int) and len(item["hash"]) == 64
    assert [c["field"] for c in items[0]["details"]["changes"]] == ["preferred_language"]


def test_list_filters_by_action_actor_type_and_time(api, person_history):
    su, _ = person_history
    reads = api.get("/audit-events", params={"service_user_id": su["id"], "action": "read"}).json()["items"]
    assert len(reads) == 2 and all(i["action"] == "read" for i in reads)
    teams = api.get("/audit-events", params={"resource_type": "team", "limit": 200}).json()["items"]
    assert teams and all(i["resource_type"] == "team" for i in teams)
    nobody = api.get("/audit-events", params={"actor": unique("nobody-")}).json()
    assert nobody == {"items": [], "next_cursor": None}
    mine = api.get("/audit-events", params={"actor": "carecoord-api-tests", "service_user_id": su["id"]})
    assert len(mine.json()["items"]) == 4
    created = api.get("/audit-events", params={"service_user_id": su["id"], "action": "create"}).json()["items"][0]
    at = created["occurred_at"]
    window = {"service_user_id": su["id"], "from": "2000-01-01T00:00:00Z", "to": "2999-12-31T23:59:59.5+01:00"}
    assert len(api.get("/audit-events", params=window).json()["items"]) == 4
    future = api.get("/audit-events", params={"service_user_id": su["id"], "from": "2999-01-01T00:00:00Z"})
    assert future.json()["items"] == []
    # `to` is exclusive, `from` inclusive
    before = api.get("/audit-events", params={"service_user_id": su["id"], "to": at}).json()["items"]
    assert before == []
    since = api.get("/audit-events", params={"service_user_id": su["id"], "from": at}).json()["items"]
    assert len(since) == 4


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"from": "2026-02-30T00:00:00Z"},
        {"to": "2026-01-01T00:00:00"},
        {"to": "2026-01-01 00:00:00Z"},
        {"action": "steal"},
        {"service_user_id": "not-a-uuid"},
        {"limit": "0"},
        {"cursor": "nonsense"},
        {"actor_name": "x"},
    ],
)
def test_bad_list_parameters_are_400(api, params):
    assert_problem(api.get("/audit-events", params=params), 400, "bad-request")


def test_list_paginates_by_cursor_and_link(api, person_history):
    su, _ = person_history
    for via in ("cursor", "link"):
        items, pages = paginate(api, "/audit-events", {"service_user_id": su["id"]}, via=via, limit=1)
        assert len(pages) == 4 and len(items) == 4
        ids = [i["id"] for i in items]
        assert ids == sorted(set(ids), reverse=True)


def test_uuid_cursor_from_another_list_is_refused(api):
    create(api, "/teams", team_payload())
    create(api, "/teams", team_payload())
    cursor = api.get("/teams", params={"limit": 1}).json()["next_cursor"]
    assert cursor
    assert_problem(api.get("/audit-events", params={"cursor": cursor}), 400, "bad-request")


# == GET /service-users/{id}/access-log ===================================================================


def test_access_log_lists_reads_and_changes_of_that_person_only_R_AUD_1(api, person_history):
    su, rids = person_history
    other = create(api, "/service-users", service_user_payload())
    assert api.get(f"/service-users/{other['id']}").status_code == 200
    listed = unique("list-")
    r = api.get("/service-users", params={"nhs_number": su["nhs_number"]}, headers={"X-Request-Id": listed})
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [su["id"]]

    items, _ = paginate(api, f"/service-users/{su['id']}/access-log", limit=2)
    assert [i["request_id"] for i in items] == [listed, rids["update"], rids["read2"], rids["read1"], rids["create"]]
    assert [i["action"] for i in items] == ["read", "update", "read", "read", "create"]
    for item in items:
        assert set(item) == {"id", "occurred_at", "actor", "action", "outcome", "request_id"}
        assert item["actor"] == "carecoord-api-tests" and item["occurred_at"]

    other_log = api.get(f"/service-users/{other['id']}/access-log").json()["items"]
    assert [i["action"] for i in other_log] == ["read", "create"]
    assert not {i["request_id"] for i in other_log} & set(rids.values())


def test_access_log_merges_reads_of_the_record_and_of_every_kind_of_list_newest_first_R_AUD_1(api):
    """Events about the person, pages of people that showed them (details.ids) and pages of
    records about people that named them (details.service_user_ids) are found through their own
    indexes and merged newest first, a page at a time."""
    su = create(api, "/service-users", service_user_payload())
    rids = [unique(f"{k}-") for k in ("read", "people", "referral", "referrals", "read-again")]
    assert api.get(f"/service-users/{su['id']}", headers={"X-Request-Id": rids[0]}).status_code == 200
    r = api.get("/service-users", params={"nhs_number": su["nhs_number"]}, headers={"X-Request-Id": rids[1]})
    assert [i["id"] for i in r.json()["items"]] == [su["id"]]
    r = api.post("/referrals", headers={"X-Request-Id": rids[2]},
                 json={"service_user_id": su["id"], "source_type": "gp", "reason": "Low mood.",
                       "urgency": "routine"})
    assert r.status_code == 201, r.text
    r = api.get("/referrals", params={"service_user_id": su["id"]}, headers={"X-Request-Id": rids[3]})
    assert [i["service_user_id"] for i in r.json()["items"]] == [su["id"]]
    assert api.get(f"/service-users/{su['id']}", headers={"X-Request-Id": rids[4]}).status_code == 200

    for limit in (1, 2, 50):
        items, _ = paginate(api, f"/service-users/{su['id']}/access-log", limit=limit)
        assert [i["request_id"] for i in items] == list(reversed(rids)) + [items[-1]["request_id"]], limit
        assert [i["action"] for i in items] == ["read", "read", "create", "read", "read", "create"]
        ids = [i["id"] for i in items]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)


@pytest.mark.parametrize("person", [str(uuid.uuid4()), "nope"])
def test_access_log_of_unknown_person_is_404(api, person):
    assert_problem(api.get(f"/service-users/{person}/access-log"), 404, "not-found")


def test_access_log_needs_the_manager_role(service, person_history):
    su, _ = person_history
    token = mint_token(service.env, sub=unique("sub-"), roles=("coordinator",))
    with service.api(token=token) as coordinator:
        assert_problem(coordinator.get(f"/service-users/{su['id']}/access-log"), 403)


# == the sealer survives a database restart ===============================================================


def test_sealer_resumes_after_database_restart_R_AUD_2(service_factory, private_cluster, test_env):
    cluster = private_cluster
    svc = service_factory.start(database_url=cluster.start_migrated())
    with svc.api() as api:
        create(api, "/teams", team_payload())
        assert wait_sealed(api)["checked"] == 1
        cluster.stop()
        cluster.start()
        wait_until(lambda: api.get("/teams").status_code == 200, 20, "requests to succeed after restart")
        create(api, "/teams", team_payload())
        body = wait_sealed(api)
        assert body["valid"] is True and body["checked"] == 2, body
        assert svc.alive()
    svc.stop()
    assert "AddressSanitizer" not in svc.stderr_text()
