"""Reports and extracts read from a streaming standby (CARECOORD_READ_DATABASE_URL), while writes
and every audit event go to the primary (CARECOORD_DATABASE_URL).

The module starts a primary and a hot standby of its own (scripts/pg-cluster init, then
`replica`: pg_basebackup -R), both with pg_stat_statements, which each server keeps for the
statements it ran itself: that is how the tests see where a report's or an extract's query ran.
Pausing the standby's replay (pg_wal_replay_pause) makes it fall behind on demand, so that a
report that does not show a committed write can only have been counted on the standby, and so
that an extract's wait for the standby to catch up can be observed. No sleeps: replay positions,
pause states and statement counters are polled against a deadline."""

import datetime
import json
import os
import threading

import psycopg2
import pytest

from care_setup import Staff, new_team
from carecoord import (Db, PrivateCluster, assert_problem, free_port, metric_value, mint_token,
                       nhs_number, parse_metrics, pg_url, unique, wait_until)

DBNAME = "carecoord"
APP = "carecoord_app"
REPORT_SQL = "%within_window%"  # the CPA review measure's statement (a CTE column, not a value)
EXTRACT_SQL = "%extract_rows%"  # an extract's cursor and its FETCHes
AUDIT_SQL = "INSERT INTO audit_events%"
CATCH_UP_SQL = "%pg_last_wal_replay_lsn%"


class StreamingPair:
    """A primary (scripts/pg-cluster init) and a hot standby copied from it (scripts/pg-cluster
    replica), run as the postgres OS user in a private temporary directory."""

    def __init__(self, env):
        self.primary = PrivateCluster(env)
        self.standby_dir = os.path.join(self.primary.base, "standby")
        self.standby_port = free_port()

    def start(self):
        p = self.primary
        p.start_migrated(DBNAME)
        # Preloaded before the copy is taken, so that the standby has it too.
        self.sql(self.primary_url("postgres", "postgres"),
                 "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        p.stop()
        p.start()
        self.sql(self.primary_url("postgres"), "CREATE EXTENSION pg_stat_statements")
        p.run("replica", self.standby_dir, str(self.standby_port), str(p.port), p.pwfile)
        self.start_standby()
        self.wait_caught_up()

    # -- addresses ------------------------------------------------------------------------------

    def primary_url(self, role, dbname=DBNAME):
        return self.primary.url(role, dbname)

    def standby_url(self, role, dbname=DBNAME):
        password = {"postgres": self.primary.superuser_password, APP: self.primary.app_password}[role]
        return pg_url(role, password, "127.0.0.1", self.standby_port, dbname)

    def read_url(self, attrs):
        """The application role's URL listing the standby, then (prefer-standby) the primary."""
        hosts = f"127.0.0.1:{self.standby_port}"
        if attrs == "prefer-standby":
            hosts += f",127.0.0.1:{self.primary.port}"
        return (f"postgresql://{APP}:{self.primary.app_password}@{hosts}/{DBNAME}"
                f"?target_session_attrs={attrs}")

    # -- the standby ----------------------------------------------------------------------------

    def start_standby(self):
        self.primary.run("start", self.standby_dir)

    def stop_standby(self):
        self.primary.run("stop", self.standby_dir)

    def pause_replay(self):
        self.sql(self.standby_url("postgres"), "SELECT pg_wal_replay_pause()")
        wait_until(lambda: self.sql(self.standby_url("postgres"),
                                    "SELECT pg_get_wal_replay_pause_state()") == "paused",
                   20, "the standby's replay to pause")

    def resume_replay(self):
        self.sql(self.standby_url("postgres"), "SELECT pg_wal_replay_resume()")

    def wait_caught_up(self):
        """Until the standby has replayed everything the primary had written by now."""
        target = self.sql(self.primary_url("postgres"), "SELECT pg_current_wal_insert_lsn()::text")
        wait_until(lambda: self.sql(self.standby_url("postgres"),
                                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)),
                   30, f"the standby to replay up to {target}")

    # -- looking -------------------------------------------------------------------------------

    @staticmethod
    def sql(url, statement, params=()):
        """The first column of the first row (or None), on a connection of its own."""
        conn = psycopg2.connect(url, connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                row = cur.fetchone() if cur.description else None
                return row[0] if row else None
        finally:
            conn.close()

    def calls(self, url, pattern):
        """How many times the application role ran statements like pattern on that server."""
        return self.sql(url, "SELECT coalesce(sum(calls), 0)::int FROM pg_stat_statements"
                             " WHERE userid = %s::regrole AND query LIKE %s", (APP, pattern))

    def on_primary(self, pattern):
        return self.calls(self.primary_url("postgres"), pattern)

    def on_standby(self, pattern):
        return self.calls(self.standby_url("postgres"), pattern)

    def reset_statements(self):
        for url in (self.primary_url("postgres"), self.standby_url("postgres")):
            self.sql(url, "SELECT pg_stat_statements_reset()")

    def destroy(self):
        try:
            if os.path.isfile(os.path.join(self.standby_dir, "data", "PG_VERSION")):
                self.primary.run("stop", self.standby_dir, check=False)
        finally:
            self.primary.destroy()


@pytest.fixture(scope="module")
def pair(test_env):
    p = StreamingPair(test_env)
    try:
        p.start()
        yield p
    finally:
        p.destroy()


@pytest.fixture(scope="module")
def key_file(test_env):
    return os.path.join(test_env.keys_dir, "pseudonym.key")


def read_env(pair, key_file, attrs="prefer-standby", **extra):
    env = {"CARECOORD_READ_DATABASE_URL": pair.read_url(attrs),
           "CARECOORD_READ_DB_POOL_SIZE": "2",
           "CARECOORD_READ_PRIMARY_RECHECK_S": "1",
           "CARECOORD_PSEUDONYM_KEY_FILE": key_file,
           "CARECOORD_WEBHOOK_THREADS": "0"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def service(service_factory, pair, key_file):
    """Writes to the primary; reads reports and extracts from the standby, or from the primary
    when the standby does not answer (prefer-standby, two hosts)."""
    return service_factory.start(database_url=pair.primary_url(APP),
                                 env=read_env(pair, key_file, CARECOORD_READ_CATCH_UP_MS="20000"))


@pytest.fixture(scope="module")
def standby_only(service_factory, pair, key_file):
    """Reads from the standby alone (target_session_attrs=standby), with a short catch-up wait."""
    return service_factory.start(database_url=pair.primary_url(APP),
                                 env=read_env(pair, key_file, attrs="standby",
                                              CARECOORD_READ_CATCH_UP_MS="300"))


@pytest.fixture(scope="module")
def reporting(service):
    with service.api(token=mint_token(service.env, sub="bi-tool", roles=("reporting",))) as s:
        yield s


@pytest.fixture(scope="module")
def primary_db(pair):
    db = Db(pair.primary_url("postgres"), DBNAME)
    yield db
    db.close()


def refer(api, count=1):
    """Referrals of new people received now (gp, routine), written through the service."""
    made = []
    for _ in range(count):
        person = {"nhs_number": nhs_number(), "given_name": "Sam", "family_name": unique("Rep"),
                  "date_of_birth": "1990-02-03"}
        r = api.post("/referrals", json={"source_type": "gp", "referrer_name": "Dr Shaw",
                                         "referrer_contact": "01632 960123",
                                         "reason": "Low mood.", "urgency": "routine",
                                         "service_user": person})
        assert r.status_code == 201, r.text
        made.append(r.json())
    return made


def untriaged_gp_routine(body):
    """statistics.received of the report's row for referrals not yet triaged (no team), from a
    GP, routine; 0 when there is no such row."""
    rows = [row for row in body["rows"] if row["team"] is None
            and row.get("breakdown") == {"source_type": "gp", "urgency": "routine"}]
    assert len(rows) <= 1, rows
    return rows[0]["statistics"]["received"] if rows else 0


def events(db, request_id):
    return [(e["action"], e["resource_type"], e["outcome"]) for e in db.rows(
        "SELECT action, resource_type, outcome FROM audit_events WHERE request_id = %s ORDER BY id",
        (request_id,))]


def ndjson(r):
    return [json.loads(line) for line in r.text.splitlines() if line]


def metrics(api):
    return parse_metrics(api.get("/metrics").text)


# -- where reports run ---------------------------------------------------------------------------


def test_a_report_is_counted_on_the_standby_and_its_event_written_on_the_primary(
        pair, service, primary_db):
    with service.api() as api:
        team = new_team(api)
    manager = Staff(service, primary_db, team["id"], "manager", professional_role="manager")
    try:
        pair.wait_caught_up()
        pair.reset_statements()
        rid = unique("report-")
        r = manager.api.get("/reports/cpa-review-compliance", headers={"X-Request-Id": rid})
        assert r.status_code == 200, r.text
        assert r.json()["team_id"] == team["id"]
    finally:
        manager.close()
    # The measure's statement ran on the standby, and not on the primary.
    assert pair.on_standby(REPORT_SQL) == 1
    assert pair.on_primary(REPORT_SQL) == 0
    # Its read event was written on the primary (before the report was sent), never the standby.
    assert events(primary_db, rid) == [("read", "report", "success")]
    assert pair.on_primary(AUDIT_SQL) >= 1
    assert pair.on_standby(AUDIT_SQL) == 0
    # The read pool's sessions are the standby's; the primary has none of them.
    read_sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'carecoord read'"
    assert pair.sql(pair.standby_url("postgres"), read_sessions) >= 1
    assert pair.sql(pair.primary_url("postgres"), read_sessions) == 0
    with service.api() as api:
        samples = metrics(api)
    assert metric_value(samples, "carecoord_db_read_pool_size") == 2
    assert metric_value(samples, "carecoord_db_read_pool_on_standby") >= 1


def test_a_write_shows_in_a_report_once_the_standby_has_replayed_it(pair, service, reporting,
                                                                     primary_db):
    before = untriaged_gp_routine(reporting.get("/reports/referrals").json())
    pair.pause_replay()
    try:
        with service.api() as api:
            made = refer(api, 5)  # writes go on: they are the primary's
        assert primary_db.count("referrals", "id = ANY(%s::uuid[])", ([m["id"] for m in made],)) == 5
        rid = unique("stale-")
        stale = reporting.get("/reports/referrals", headers={"X-Request-Id": rid})
        assert stale.status_code == 200, stale.text
        # Counted where the referrals are not yet: on the standby, whose replay is paused.
        assert untriaged_gp_routine(stale.json()) == before
        assert events(primary_db, rid) == [("read", "report", "success")]
    finally:
        pair.resume_replay()
    pair.wait_caught_up()
    fresh = reporting.get("/reports/referrals").json()
    assert untriaged_gp_routine(fresh) == before + 5


# -- extracts --------------------------------------------------------------------------------------


def test_an_extract_waits_for_the_standby_to_replay_what_committed_before_it(
        pair, service, reporting, primary_db):
    """A referral committed on the primary before the extract, not yet replayed on the standby:
    the extract waits until the standby has it (so that Extract-Next-Since never skips it),
    rather than reading a snapshot without it."""
    pair.pause_replay()
    try:
        with service.api() as api:
            [referral] = refer(api)
        pair.reset_statements()
        result = {}

        def run():
            result["r"] = reporting.get("/extracts/referrals", headers={"X-Request-Id": "x-wait"})

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        wait_until(lambda: pair.on_standby(CATCH_UP_SQL) >= 2, 20,
                   "the extract to wait on the standby's replay")
        assert thread.is_alive(), "the extract did not wait for the standby"
    finally:
        pair.resume_replay()
    thread.join(30)
    r = result["r"]
    assert r.status_code == 200, r.text
    assert referral["id"] in {row["ServiceRequestId"] for row in ndjson(r)}
    assert pair.on_standby(EXTRACT_SQL) >= 1 and pair.on_primary(EXTRACT_SQL) == 0
    assert events(primary_db, "x-wait") == [("export", "extract", "success")]
    snapshot = r.headers["Extract-Snapshot-At"]
    assert r.headers["Extract-Next-Since"] <= snapshot


def test_a_change_in_flight_during_an_extract_from_the_standby_is_in_the_next_one(
        pair, service, reporting):
    with service.api() as api:
        [referral] = refer(api)
    pair.wait_caught_up()
    writer = psycopg2.connect(pair.primary_url(APP), connect_timeout=10)
    try:
        with writer.cursor() as cur:
            cur.execute("UPDATE referrals SET updated_at = now() WHERE id = %s", (referral["id"],))
        since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        r = reporting.get("/extracts/referrals", params={"since": since})
        assert r.status_code == 200, r.text
        assert referral["id"] not in {row["ServiceRequestId"] for row in ndjson(r)}
        writer.commit()
    finally:
        writer.close()
    again = reporting.get("/extracts/referrals", params={"since": r.headers["Extract-Next-Since"]})
    assert again.status_code == 200, again.text
    assert referral["id"] in {row["ServiceRequestId"] for row in ndjson(again)}


def test_an_extract_from_a_standby_too_far_behind_is_503_and_audited_as_failed(
        pair, standby_only, primary_db):
    token = mint_token(standby_only.env, sub="bi-tool", roles=("reporting",))
    with standby_only.api(token=token) as bi:
        assert bi.get("/extracts/referrals").status_code == 200
        pair.pause_replay()
        try:
            with standby_only.api() as api:
                refer(api)
            r = bi.get("/extracts/referrals", headers={"X-Request-Id": "x-behind"})
            assert_problem(r, 503, "service-unavailable")
            assert r.headers.get("Retry-After")
        finally:
            pair.resume_replay()
        assert events(primary_db, "x-behind") == [("export", "extract", "success"),
                                                  ("export", "extract", "failed")]
        failed = primary_db.one("SELECT details FROM audit_events WHERE request_id = 'x-behind'"
                                " AND outcome = 'failed'")["details"]
        assert failed == {"table": "referrals", "mhsds": "MHS101", "status": 503}
        pair.wait_caught_up()
        assert bi.get("/extracts/referrals").status_code == 200


# -- the standby goes away and comes back --------------------------------------------------------


def test_with_the_standby_down_reads_fall_back_or_answer_503_and_writes_go_on(
        pair, service, standby_only, reporting, primary_db):
    token = mint_token(standby_only.env, sub="bi-tool", roles=("reporting",))
    with standby_only.api(token=token) as bi, service.api() as api, standby_only.api() as api2:
        assert bi.get("/reports/referrals").status_code == 200
        pair.stop_standby()
        try:
            pair.sql(pair.primary_url("postgres"), "SELECT pg_stat_statements_reset()")
            # prefer-standby with the primary listed too: the report is counted on the primary.
            rid = unique("fallback-")
            r = reporting.get("/reports/cpa-review-compliance", headers={"X-Request-Id": rid})
            assert r.status_code == 200, r.text
            assert pair.on_primary(REPORT_SQL) == 1
            assert events(primary_db, rid) == [("read", "report", "success")]
            assert metric_value(metrics(api), "carecoord_db_read_pool_on_standby") == 0
            # The standby alone: 503 problem+json with Retry-After, nothing sent, no event.
            rid = unique("down-")
            down = bi.get("/reports/referrals", headers={"X-Request-Id": rid})
            assert_problem(down, 503, "service-unavailable")
            assert down.headers.get("Retry-After")
            assert events(primary_db, rid) == []
            assert_problem(bi.get("/extracts/referrals"), 503, "service-unavailable")
            # Writes and readiness depend on the primary only.
            assert api.post("/teams", json={"name": unique("Team "), "type": "crisis_home_treatment"}
                            ).status_code == 201
            assert api2.post("/teams", json={"name": unique("Team "), "type": "crisis_home_treatment"}
                             ).status_code == 201
            assert api2.get("/readyz").status_code == 200
        finally:
            pair.start_standby()
        pair.wait_caught_up()
        # Back on the standby: the standby-only service at once, the other once its read sessions
        # on the primary are a second old (CARECOORD_READ_PRIMARY_RECHECK_S=1).
        assert bi.get("/reports/referrals").status_code == 200

        def served_by_standby():
            before = pair.on_standby(REPORT_SQL)
            assert reporting.get("/reports/cpa-review-compliance").status_code == 200
            return pair.on_standby(REPORT_SQL) > before

        wait_until(served_by_standby, 20, "reports to be counted on the standby again",
                   interval_s=0.25)
        assert metric_value(metrics(api), "carecoord_db_read_pool_on_standby") >= 1
