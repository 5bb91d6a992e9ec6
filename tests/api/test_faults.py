"""Faults that fit in the normal suite (issue 11, items 3 to 6): SIGTERM under a short write load,
clients that abort mid-request or mid-response, hundreds of idle and slow connections, concurrent
conflicting writes, and identical Idempotency-Key retries racing each other.

The long cases (PostgreSQL stopped under load, SIGKILL under load, a longer SIGTERM under load)
are the `fault` target in tests/fault/ (`./scripts/test --fault`)."""

import json
import re
import select
import signal
import socket
import struct
import threading
import time
from types import SimpleNamespace

import pytest

from care_setup import (  # staff and manager are fixtures
    manager,
    staff,
    allocation_body,
    new_person,
    new_team,
    open_episode,
    register_partner,
)
from carecoord import (
    assert_no_sanitizer_report,
    assert_problem,
    create,
    etag_of,
    full_service_user_payload,
    metric_value,
    mint_token,
    parse_metrics,
    service_user_payload,
    signal_consumed,
    tail,
    unique,
    wait_until,
)
from faults import Load, Outcomes, check_ledger, check_no_half_writes, report


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api))


def race(n, request):
    """Runs request(i) for i in range(n) in n threads released together; returns the results in
    order (a response or the exception raised)."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = request(i)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a racing request hung"
    for r in results:
        assert not isinstance(r, Exception), repr(r)
    return results


def one_winner(results, ok=200, losers=(409, 412)):
    """Exactly one `ok`; every other answer a problem with a status in losers. Returns the
    winner."""
    statuses = sorted(r.status_code for r in results)
    winners = [r for r in results if r.status_code == ok]
    assert len(winners) == 1, f"{len(winners)} winners: {statuses} {[r.text[:200] for r in results]}"
    for r in results:
        if r is not winners[0]:
            assert r.status_code in losers, f"{r.status_code} {r.text[:300]}"
            assert_problem(r, r.status_code)
    return winners[0]


def audit_count(db, action, resource_id, **where):
    sql = "SELECT count(*) FROM audit_events WHERE action = %s AND resource_id = %s"
    params = [action, resource_id]
    for column, value in where.items():
        sql += f" AND {column} = %s"
        params.append(value)
    return db.scalar(sql, tuple(params))


def held_episode(api, db, teams, manager, staff):
    """A person, an open CPA episode of the community team and its care co-ordinator."""
    person = create(api, "/service-users", full_service_user_payload())
    episode_id = open_episode(db, person["id"], teams.cmht["id"])
    coordinator = staff()
    r = manager.api.post(f"/episodes/{episode_id}/allocations", json=allocation_body(coordinator.id))
    assert r.status_code == 201, r.text
    return SimpleNamespace(id=episode_id, person=person, coordinator=coordinator,
                           allocation=r.json())


PLAN = {"needs": [{"domain": "housing", "description": "Rent arrears"}],
        "goals": [{"in_own_words": "Keep my flat", "target_date": "2027-03-31"}],
        "interventions": [{"what": "Benefits advice", "delivered_by": "agency",
                           "provider_name": "Citizens Advice", "frequency": "Fortnightly"}],
        "crisis_plan": {"early_warning_signs": "Sleeping less",
                        "what_person_should_do": "Call the crisis line",
                        "what_others_should_do": "Call the crisis team",
                        "contacts_24_7": [{"name": "Crisis team", "number": "0113 496 0000"}]},
        "contingency_plan": {"contact_name": "Duty worker", "contact_phone": "0113 496 0001"},
        "persons_views": "Happy with the plan"}


# -- item 5: concurrent conflicting writes --------------------------------------------------------

CLIENTS = 6


@pytest.mark.parametrize("state", ["draft", "active"])
def test_concurrent_changes_of_one_care_plan_one_wins_the_rest_412(service, api, db, teams, manager,
                                                                    staff, state):
    """Six clients PATCH the same care plan with the same If-Match: one 200, five 412; the plan
    holds the winner's change and there is exactly one update event (and, for an active plan,
    exactly one new version)."""
    held = held_episode(api, db, teams, manager, staff)
    c = held.coordinator
    base = f"/episodes/{held.id}/care-plans"
    plan = c.api.post(base, json=PLAN)
    assert plan.status_code == 201, plan.text
    plan = plan.json()
    if state == "active":
        r = c.api.post(f"{base}/{plan['id']}/activate", headers={"If-Match": etag_of(plan["version"])})
        assert r.status_code == 200, r.text
        plan = r.json()
    token = mint_token(service.env, sub=c.sub, roles=(c.role,))
    views = [f"Client {i} wrote this" for i in range(CLIENTS)]

    def change(i):
        with service.api(token=token) as s:
            return s.patch(f"{base}/{plan['id']}", json={"persons_views": views[i]},
                           headers={"If-Match": etag_of(plan["version"])})

    updates = audit_count(db, "update", plan["id"])  # activation is one
    results = race(CLIENTS, change)
    winner = one_winner(results, losers=(412,))
    now = c.api.get(f"{base}/{plan['id']}").json()
    assert now["persons_views"] == winner.json()["persons_views"] in views
    assert now["version"] == plan["version"] + 1
    assert audit_count(db, "update", plan["id"]) == updates + 1
    versions = db.scalar("SELECT count(*) FROM care_plan_versions WHERE care_plan_id = %s", (plan["id"],))
    assert versions == (2 if state == "active" else 0)


def test_concurrent_changes_of_one_allocation_one_wins_the_rest_412(service, api, db, teams, manager,
                                                                     staff):
    """Six managers PATCH the deputy of the same allocation with the same If-Match."""
    held = held_episode(api, db, teams, manager, staff)
    allocation = held.allocation
    deputies = [staff().id for _ in range(CLIENTS)]
    token = mint_token(service.env, sub=manager.sub, roles=("manager",))
    url = f"/episodes/{held.id}/allocations/{allocation['id']}"

    def change(i):
        with service.api(token=token) as s:
            return s.patch(url, json={"deputy_staff_id": deputies[i]},
                           headers={"If-Match": etag_of(allocation["version"])})

    winner = one_winner(race(CLIENTS, change), losers=(412,))
    assert winner.json()["deputy_staff_id"] in deputies
    row = db.one("SELECT deputy_staff_id::text, version FROM allocations WHERE id = %s", (allocation["id"],))
    assert row == {"deputy_staff_id": winner.json()["deputy_staff_id"], "version": allocation["version"] + 1}
    assert audit_count(db, "update", allocation["id"]) == 1


def test_concurrent_handovers_of_one_allocation_one_wins_the_rest_409(service, api, db, teams, manager,
                                                                       staff):
    """Six managers replace the same current allocation, each with another holder: one 201, five
    409; one current allocation (the winner's), the old one ended once, one create event."""
    held = held_episode(api, db, teams, manager, staff)
    holders = [staff().id for _ in range(CLIENTS)]
    token = mint_token(service.env, sub=manager.sub, roles=("manager",))

    def handover(i):
        with service.api(token=token) as s:
            return s.post(f"/episodes/{held.id}/allocations", json=allocation_body(
                holders[i], replaces_allocation_id=held.allocation["id"],
                end_reason="Care co-ordinator moved to another team"))

    winner = one_winner(race(CLIENTS, handover), ok=201, losers=(409,)).json()
    assert winner["holder_staff_id"] in holders
    current = db.rows("SELECT id::text FROM allocations WHERE episode_id = %s AND ended_at IS NULL",
                      (held.id,))
    assert current == [{"id": winner["id"]}]
    assert db.count("allocations", "episode_id = %s", (held.id,)) == 2
    assert db.count("allocations", "replaces_allocation_id = %s", (held.allocation["id"],)) == 1
    created = db.scalar("SELECT count(*) FROM audit_events WHERE action = 'create'"
                        " AND resource_type = 'allocation' AND service_user_id = %s", (held.person["id"],))
    assert created == 2  # the first allocation and the winner's


def test_concurrent_decisions_of_one_referral_one_wins_the_rest_409_or_412(service, api, db, teams):
    """Six managers decide the same triaged referral (accepts and declines) with its If-Match: one
    200, the rest 409 (already decided) or 412 (version moved on); one decision event, and an
    episode exactly when the winner accepted."""
    person = new_person(api)
    r = api.post("/referrals", json={"service_user_id": person["id"], "source_type": "gp",
                                     "referrer_name": "Dr Shaw", "referrer_contact": "01632 960123",
                                     "reason": "Low mood.", "urgency": "routine"})
    assert r.status_code == 201, r.text
    r = api.post(f"/referrals/{r.json()['id']}/triage",
                 json={"urgency": "routine", "responding_team_id": teams.cmht["id"]})
    assert r.status_code == 200, r.text
    referral = r.json()
    bodies = [{"decision": "accept", "care_level": "cpa"} if i % 2 == 0 else
              {"decision": "decline", "reason": f"Declined by client {i}"} for i in range(CLIENTS)]

    def decide(i):
        with service.api() as s:
            return s.post(f"/referrals/{referral['id']}/decision", json=bodies[i],
                          headers={"If-Match": etag_of(referral["version"])})

    winner = one_winner(race(CLIENTS, decide)).json()
    final = db.one("SELECT status, episode_id::text, version FROM referrals WHERE id = %s", (referral["id"],))
    assert final["status"] == winner["status"] in ("accepted", "declined")
    assert final["version"] == referral["version"] + 1
    assert db.count("episodes", "referral_id = %s", (referral["id"],)) == (winner["status"] == "accepted")
    decisions = db.rows("SELECT details->>'to' AS to_state FROM audit_events WHERE action = 'update'"
                        " AND resource_type = 'referral' AND resource_id = %s AND details->>'from' = 'triaged'",
                        (referral["id"],))
    assert decisions == [{"to_state": winner["status"]}]


# -- item 6: identical Idempotency-Key retries racing ---------------------------------------------


@pytest.fixture(scope="module")
def partner_org(service, database):
    org = unique("asc-")
    done = register_partner(service, database, org, "adult_social_care")
    assert done.returncode == 0, done.stderr
    return org


def _service_user(ctx):
    return "/service-users", service_user_payload(), None, "service_users"


def _referral(ctx):
    body = {"source_type": "gp", "referrer_name": "Dr Shaw", "referrer_contact": "01632 960123",
            "reason": "Low mood.", "urgency": "routine",
            "service_user": {"nhs_number": service_user_payload()["nhs_number"], "given_name": "Sam",
                             "family_name": unique("Race"), "date_of_birth": "1990-02-03"}}
    return "/referrals", body, None, "referrals"


def _care_plan(ctx):
    return f"/episodes/{ctx.held.id}/care-plans", PLAN, ctx.held.coordinator, "care_plans"


def _review(ctx):
    return (f"/episodes/{ctx.held.id}/reviews", {"type": "scheduled", "due_on": "2027-03-01"},
            ctx.held.coordinator, "reviews")


def _carer(ctx):
    return (f"/service-users/{ctx.held.person['id']}/carers",
            {"name": "Samira Begum", "relationship": "sister", "contact": {"phone": "07700 900123"},
             "under_18": False, "lives_with_person": False}, ctx.held.coordinator, "carers")


def _allocation(ctx):
    person = new_person(ctx.api)
    episode_id = open_episode(ctx.db, person["id"], ctx.teams.cmht["id"])
    return (f"/episodes/{episode_id}/allocations", allocation_body(ctx.staff().id), ctx.manager,
            "allocations")


def _partner_share(ctx):
    body = {"org": ctx.partner_org, "kind": "care_act_assessment_referral",
            "lawful_basis": {"basis": "consent", "consent_given_on": "2026-11-20"},
            "data_set": ["person", "needs_summary"], "needs_summary": "Struggling with personal care",
            "message": "Please assess under the Care Act"}
    return f"/episodes/{ctx.held.id}/partner-shares", body, ctx.held.coordinator, "partner_shares"


CREATES = {"service-user": _service_user, "referral": _referral, "care-plan": _care_plan,
           "review": _review, "carer": _carer, "allocation": _allocation,
           "partner-share": _partner_share}


@pytest.mark.parametrize("route", list(CREATES))
def test_identical_retries_racing_create_one_record(service, api, db, teams, manager, staff,
                                                    partner_org, route):
    """Six identical POSTs with one Idempotency-Key, released together: all 201 with the same
    body, Location and ETag, exactly one of them the original; one record, one create event."""
    ctx = SimpleNamespace(api=api, db=db, teams=teams, manager=manager, staff=staff,
                          partner_org=partner_org)
    if route in ("care-plan", "review", "carer", "partner-share"):
        ctx.held = held_episode(api, db, teams, manager, staff)
    path, body, who, table = CREATES[route](ctx)
    token = mint_token(service.env, sub=who.sub, roles=(who.role,)) if who else service.token
    key = unique("race-")
    before = db.count(table)

    def post(i):
        with service.api(token=token) as s:
            return s.post(path, json=body, headers={"Idempotency-Key": key})

    results = race(CLIENTS, post)
    assert [r.status_code for r in results] == [201] * CLIENTS, [r.text[:300] for r in results]
    first = results[0]
    for r in results:
        assert r.json() == first.json()
        assert r.headers["Location"] == first.headers["Location"]
        assert r.headers["ETag"] == first.headers["ETag"]
    originals = [r for r in results if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(originals) == 1, "exactly one original, the rest replays"
    assert db.count(table) == before + 1
    made = first.json()["id"]
    assert db.count(table, "id = %s", (made,)) == 1
    assert audit_count(db, "create", made) == 1


# -- item 3 (short form): SIGTERM under a write load -----------------------------------------------


def test_sigterm_under_write_load_finishes_in_flight_refuses_new_and_exits_0(service_factory, db, api, teams):
    """Four writers keep creating records; SIGTERM arrives mid-load. Every answer is a 2xx, a
    503 problem+json (a request that arrived on an open connection while draining) or a refused
    connection; every acknowledged write is in the database with its audit event; exit 0."""
    svc = service_factory.start(env={"CARECOORD_DRAIN_TIMEOUT_S": "20"})
    outcomes = Outcomes(answer_deadline_s=10, allow_refused=True, allow_lost=True)
    load = Load(svc.base_url, svc.token, outcomes, teams.cmht["id"], people=2, intakes=2,
                retry_creates=False).start()
    try:
        load.wait_acknowledged(20, 60)
        sent_at = time.monotonic()
        svc.signal(signal.SIGTERM)
        rc = svc.wait_exit(30)
        exit_s = time.monotonic() - sent_at
    finally:
        load.stop()
    text = svc.stderr_text()
    assert rc == 0, f"exit {rc}; log:\n{tail(text)}"
    assert_no_sanitizer_report(text)
    assert not outcomes.faults, outcomes.faults[:10]
    checked = check_ledger(db, outcomes)
    check_no_half_writes(db)
    report("sigterm-under-load (short)", {**outcomes.summary(), "ledger_checked": checked,
                                          "exit_s": round(exit_s, 2)})


def read_response(sock, deadline_s=15):
    """One whole response from a blocking socket: (status, headers dict lower-cased, body)."""
    sock.settimeout(deadline_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without a whole response: {data[:200]!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_sigterm_serves_a_request_already_arriving_and_refuses_later_ones_cleanly(service_factory, db):
    """When SIGTERM arrives: a request whose head has arrived and whose body is still coming is
    served (201) once it has all arrived; a request sent afterwards on an open keep-alive
    connection gets 503 problem+json with Retry-After and Connection: close; a new connection is
    refused; the process exits 0."""
    svc = service_factory.start(env={"CARECOORD_DRAIN_TIMEOUT_S": "20", "CARECOORD_CONNECTION_TIMEOUT_S": "20"})
    person = service_user_payload()
    body = json.dumps(person).encode()
    arriving = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    idle = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    try:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(idle)[0] == 200
        arriving.sendall((f"POST /service-users HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {svc.token}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
                         + body[:10])
        with svc.api() as probe:
            wait_until(lambda: metric_value(parse_metrics(probe.get("/metrics").text),
                                            "carecoord_http_requests_arriving") == 1, 10,
                       "the request to be arriving")
        svc.signal(signal.SIGTERM)
        wait_until(lambda: signal_consumed(svc.proc.pid, signal.SIGTERM), 10, "SIGTERM to be taken")
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, text = read_response(idle)
        assert status == 503, text
        assert headers.get("connection", "").lower() == "close", headers
        assert headers.get("content-type", "").startswith("application/problem+json"), headers
        assert re.fullmatch(r"\d+", headers.get("retry-after", "")), headers
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", svc.port), timeout=5).close()
        assert svc.alive(), "exited while a request was arriving"
        arriving.sendall(body[10:])
        status, headers, text = read_response(arriving)
        assert status == 201, text
        assert headers.get("connection", "").lower() == "close", headers
    finally:
        arriving.close()
        idle.close()
    rc = svc.wait_exit(30)
    log = svc.stderr_text()
    assert rc == 0, f"exit {rc}; log:\n{tail(log)}"
    assert_no_sanitizer_report(log)
    assert db.count("service_users", "nhs_number = %s", (person["nhs_number"],)) == 1


# -- item 4: clients that abort, idle connections, slowloris ---------------------------------------


def rst_close(sock):
    """Close with a TCP reset rather than a FIN (the client vanished)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def in_flight(api):
    """Requests in flight, not counting the /metrics request asking."""
    return metric_value(parse_metrics(api.get("/metrics").text), "carecoord_http_requests_in_flight") - 1


def test_clients_that_abort_mid_request_or_mid_response_leave_the_service_serving(service_factory, db, test_env):
    """Half a request head, half a body, a reset mid-body, a large list and a streamed extract
    abandoned unread or half read: the service stays up, forgets them (nothing left in flight, no
    pooled connection or extract slot held), answers a normal client throughout, and stops
    cleanly."""
    svc = service_factory.start(env={"CARECOORD_CONNECTION_TIMEOUT_S": "3", "CARECOORD_HTTP_THREADS": "4",
                                     "CARECOORD_PSEUDONYM_KEY_FILE": f"{test_env.keys_dir}/pseudonym.key",
                                     "CARECOORD_EXTRACT_CONCURRENCY": "1"})
    token = svc.token
    reporting = mint_token(svc.env, sub="fault-reporting", roles=("reporting",))
    head = (f"POST /service-users HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n").encode()
    body = ('{"nhs_number": "%s", "given_name": "Half", "family_name": "Sent", '
            '"date_of_birth": "1980-01-01", "gender": "unknown"}' % service_user_payload()["nhs_number"]).encode()
    with svc.api() as normal:
        for _ in range(60):  # a list page large enough not to fit in the socket buffers at once
            create(normal, "/service-users", service_user_payload(address={"lines": ["x" * 100] * 5, "postcode": "AB1 2CD"}))
        person = create(normal, "/service-users", service_user_payload())
        db.execute("INSERT INTO referrals (service_user_id, source_type, reason, urgency, response_due_at,"
                   " created_by) SELECT %s, 'gp', 'Bulk', 'routine', now() + interval '28 days', 'fault-test'"
                   " FROM generate_series(1, 6000)", (person["id"],))
        referrals = db.count("referrals")
        big = (f"GET /service-users?limit=200 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
        extract = (f"GET /extracts/referrals HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {reporting}\r\n\r\n").encode()
        people_before = db.count("service_users")

        def abort(kind):
            s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
            if kind == "half-head":
                s.sendall(head[: len(head) // 2])
                s.close()
            elif kind == "half-body":
                s.sendall(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
                s.close()
            elif kind == "reset-mid-body":
                s.sendall(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
                rst_close(s)
            elif kind in ("list-unread", "extract-unread"):
                s.sendall(big if kind.startswith("list") else extract)
                s.close()
            elif kind in ("list-unread-reset", "extract-unread-reset"):
                s.sendall(big if kind.startswith("list") else extract)
                rst_close(s)
            elif kind in ("list-half-read", "extract-half-read"):
                s.sendall(big if kind.startswith("list") else extract)
                s.recv(4096)
                rst_close(s)

        kinds = ["half-head", "half-body", "reset-mid-body", "list-unread", "list-unread-reset",
                 "list-half-read", "extract-unread", "extract-unread-reset", "extract-half-read"]
        for round_ in range(10):
            for kind in kinds:
                abort(kind)
            r = normal.get("/service-users", params={"limit": 5})
            assert r.status_code == 200, r.text
        assert svc.alive()
        wait_until(lambda: in_flight(normal) == 0, 15, "the abandoned requests to be finished with")
        assert db.count("service_users") == people_before, "a half-sent body created a record"
        assert normal.get("/readyz").status_code == 200
        samples = parse_metrics(normal.get("/metrics").text)
        assert metric_value(samples, "carecoord_db_pool_in_use") == 0
        with svc.api(token=reporting) as tool:  # the one extract slot is free again
            r = tool.get("/extracts/referrals")
            assert r.status_code == 200, r.text[:300]
            assert len(r.text.splitlines()) == referrals
    started = time.monotonic()
    svc.stop()  # exit 0, no sanitizer report
    assert time.monotonic() - started < 10, "the drain waited for requests that were abandoned"


def connect_many(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setblocking(False)
        socks.append(s)
    return socks


def closed_by_server(sock):
    """True once the server has closed the connection (EOF or reset readable)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1024) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False


def answered(sock):
    """True once a response has started to arrive on sock (non-blocking)."""
    try:
        return bool(select.select([sock], [], [], 0)[0]) and sock.recv(65536, socket.MSG_PEEK) != b""
    except (BlockingIOError, ConnectionResetError):
        return False


def test_connections_beyond_the_limit_wait_until_a_slot_frees(service_factory):
    """CARECOORD_MAX_CONNECTIONS=50 and 80 connections each sending a request: 50 are served, the
    other 30 wait unaccepted (in the listen queue, costing the service nothing) and are served as
    soon as 10, then all, of the first ones close."""
    limit = 50
    svc = service_factory.start(env={"CARECOORD_MAX_CONNECTIONS": str(limit), "CARECOORD_HTTP_THREADS": "2",
                                     "CARECOORD_CONNECTION_TIMEOUT_S": "60"})
    held = connect_many(svc.port, 80)
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    try:
        for s in held:
            s.sendall(request)
        served = wait_until(lambda: (lambda n: n if len(n) >= limit else None)(
            [s for s in held if answered(s)]), 15, f"{limit} connections to be served")
        waiting = [s for s in held if s not in served]
        # a second request on every served connection: answered while the others still wait
        for s in served:
            s.setblocking(True)
            s.recv(65536)
            s.sendall(request)
        wait_until(lambda: all(answered(s) for s in served), 15, "the second requests")
        assert len(served) == limit and not any(answered(s) for s in waiting), (
            f"{len(served) + sum(answered(s) for s in waiting)} connections served with a limit of {limit}")
        for s in served[:10]:
            s.close()
        wait_until(lambda: sum(answered(s) for s in waiting) == 10, 15,
                   "10 waiting connections to be served once 10 slots were released")
        for s in served[10:]:
            s.close()
        wait_until(lambda: all(answered(s) for s in waiting), 15, "every waiting connection to be served")
        with svc.api() as normal:
            assert normal.get("/healthz").status_code == 200
    finally:
        for s in held:
            s.close()
    svc.stop()


def test_300_idle_and_slow_connections_do_not_starve_a_normal_client(service_factory):
    """300 connections held open by clients that send nothing, half a request head, a header line
    every half second, or a body a few bytes at a time (slowloris): a normal client's requests
    succeed throughout, and the server closes every one of them once CARECOORD_CONNECTION_TIMEOUT_S
    has passed without a whole request, however slowly they keep sending."""
    timeout_s = 2
    svc = service_factory.start(env={"CARECOORD_CONNECTION_TIMEOUT_S": str(timeout_s),
                                     "CARECOORD_HTTP_THREADS": "4", "CARECOORD_MAX_CONNECTIONS": "400"})
    groups = {name: connect_many(svc.port, 75) for name in ("silent", "half-head", "slow-head", "slow-body")}
    for s in groups["half-head"]:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
    for s in groups["slow-head"]:
        s.sendall(b"POST /service-users HTTP/1.1\r\nHost: t\r\n")
    for s in groups["slow-body"]:
        s.sendall(b"POST /service-users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100000\r\n\r\n{")
    opened = time.monotonic()
    stop = threading.Event()

    def dribble():
        while not stop.is_set():
            for name, line in (("slow-head", b"X-Slow: 1\r\n"), ("slow-body", b"  ")):
                for s in groups[name]:
                    try:
                        s.send(line)
                    except OSError:
                        pass
            stop.wait(0.5)

    dribbler = threading.Thread(target=dribble, daemon=True)
    dribbler.start()
    served = 0
    held = sum(len(g) for g in groups.values())
    try:
        with svc.api() as normal:
            closed_at = {}
            while time.monotonic() - opened < timeout_s + 8 and len(closed_at) < held:
                r = normal.get("/healthz", timeout=5)
                assert r.status_code == 200, r.text
                served += 1
                for name, group in groups.items():
                    for i, s in enumerate(group):
                        if (name, i) not in closed_at and closed_by_server(s):
                            closed_at[(name, i)] = time.monotonic() - opened
                stop.wait(0.1)
            still_open = {name: sum((name, i) not in closed_at for i in range(len(g)))
                          for name, g in groups.items()}
            assert not any(still_open.values()), (
                f"connections still open {timeout_s + 8}s after opening: {still_open}")
            latest = max(closed_at.values())
            assert latest < timeout_s + 4, f"the last one closed after {latest:.1f}s"
            samples = parse_metrics(normal.get("/metrics").text)
            # the slow ones at least (libmicrohttpd's idle timeout may close the silent ones first)
            slow = len(groups["slow-head"]) + len(groups["slow-body"])
            assert metric_value(samples, "carecoord_http_connections_timed_out_total") >= slow
            assert metric_value(samples, "carecoord_http_connections") == 1  # this client's
    finally:
        stop.set()
        dribbler.join(5)
        for group in groups.values():
            for s in group:
                s.close()
    assert svc.alive()
    report("idle-connections", {"held": held, "normal_requests_served": served,
                                "last_closed_s": round(latest, 1)})
    svc.stop()
