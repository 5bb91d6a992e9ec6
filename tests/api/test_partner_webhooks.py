"""Partner webhooks (PUT, GET, DELETE /partners/me/webhook and the delivery threads): a partner
system registers a URL and is posted its organisation's events, signed with the secret it was
given, retried with a growing wait until it answers 2xx, never lost across a restart, never
another organisation's. Receivers are Python HTTP servers on 127.0.0.1, which the services here
may post to only because they run with CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK=1."""

import contextlib
import datetime
import hashlib
import hmac
import json
import os
import re
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from care_setup import assert_conforms, events
from carecoord import (
    Db,
    ServiceFactory,
    TestDatabase,
    assert_no_sanitizer_report,
    assert_problem,
    assert_validation,
    create_database,
    drop_database,
    free_port,
    mint_token,
    nhs_number,
    run_binary,
    unique,
    wait_until,
)

BASE_MS, CAP_MS = 200, 1600
HOOK_ENV = {
    "CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK": "1",
    "CARECOORD_WEBHOOK_POLL_MS": "50",
    "CARECOORD_WEBHOOK_BACKOFF_BASE_MS": str(BASE_MS),
    "CARECOORD_WEBHOOK_BACKOFF_CAP_MS": str(CAP_MS),
    "CARECOORD_WEBHOOK_CONNECT_TIMEOUT_MS": "2000",
    "CARECOORD_WEBHOOK_TIMEOUT_MS": "5000",
}
# A production-like instance that delivers nothing (so that it never competes for the module's
# webhooks, whose loopback URLs it would refuse).
STRICT_ENV = {"CARECOORD_WEBHOOK_THREADS": "0"}
DELIVERY_DEADLINE_S = 30.0
SECRET_RE = re.compile(r"^[0-9a-f]{64}$")


# -- receivers ---------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST. It answers 500 while `failing` is set,
    or to the next `fail_next` posts, and 200 otherwise; with `hold` set it answers only once the
    event is set; with `delay_s` it takes that long to answer (a slow receiver)."""

    def __init__(self, delay_s=0.0):
        self.lock = threading.Lock()
        self.deliveries = []
        self.failing = False
        self.fail_next = 0
        self.hold = None
        self.delay_s = delay_s
        self.in_flight = 0
        self.max_in_flight = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/carecoord?channel=mh"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    hold = receiver.hold
                    if receiver.failing or receiver.fail_next > 0:
                        status = 500
                        receiver.fail_next = max(0, receiver.fail_next - 1)
                    else:
                        status = 200
                    record = {"path": self.path, "headers": dict(self.headers.items()),
                              "body": body, "status": status, "answered": False}
                    receiver.deliveries.append(record)
                if hold is not None:
                    hold.wait(60)
                elif receiver.delay_s:
                    threading.Event().wait(receiver.delay_s)  # a slow receiver, not a race fix
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if status == 200 else b"try later")
                    record["answered"] = True
                except OSError:
                    pass  # the service gave up on this delivery
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def log_message(self, *args):
                pass

        return Handler

    def snapshot(self):
        with self.lock:
            return list(self.deliveries)

    def acknowledged(self):
        """Bodies of the deliveries answered 200, in arrival order."""
        return [json.loads(d["body"]) for d in self.snapshot() if d["status"] == 200]

    def seqs(self, acknowledged_only=True):
        """Every event seq received (duplicates kept), in arrival order."""
        out = []
        for d in self.snapshot():
            if d["status"] == 200 or not acknowledged_only:
                out += [e["seq"] for e in json.loads(d["body"])["events"]]
        return out

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


# -- set-up helpers ----------------------------------------------------------------------------


def register_org(env, database, code=None, active=True):
    code = code or unique("asc-")
    args = ["partner", code, "adult_social_care", f"Partner {code}"] + ([] if active else ["--inactive"])
    done = run_binary(env, args, extra_env={"CARECOORD_MIGRATION_DATABASE_URL": database.owner_url})
    assert_no_sanitizer_report(done.stderr, "carecoord partner")
    assert done.returncode == 0, done.stderr
    return code


def partner(service, org, sub=None):
    return service.api(token=mint_token(service.env, sub=sub or f"{org}-system",
                                        roles=("partner",), org=org))


def append_events(db, org, count=1, type_="referral.received"):
    """Events in org's feed, as the triggers write them (the owner's function), all in one
    transaction, so that no delivery can start between them."""
    db.execute("SELECT partner_event_append(%s, %s, 'referral', gen_random_uuid(), 1)"
               " FROM generate_series(1, %s)", (org, type_, count))
    return db.scalar("SELECT last_event_seq FROM partner_organisations WHERE code = %s", (org,))


def webhook_row(db, org):
    rows = db.rows("SELECT * FROM partner_webhooks WHERE org = %s", (org,))
    return rows[0] if rows else None


def wait_delivered(db, org, seq, deadline_s=DELIVERY_DEADLINE_S):
    return wait_until(lambda: (webhook_row(db, org) or {}).get("delivered_seq", -1) >= seq,
                      deadline_s, f"{org}'s webhook to acknowledge event {seq}")


def verify_signature(secret, header, body):
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def feed(db, org):
    return db.rows("SELECT seq, type, resource_type, resource_id::text AS resource_id,"
                   " resource_version, occurred_at FROM partner_events WHERE org = %s"
                   " ORDER BY seq", (org,))


def timestamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_events_match_feed(sent, rows):
    assert [e["seq"] for e in sent] == [r["seq"] for r in rows]
    for event, row in zip(sent, rows):
        assert set(event) == {"seq", "type", "occurred_at", "resource"}
        assert event["type"] == row["type"]
        assert timestamp(event["occurred_at"]) == row["occurred_at"]
        assert event["resource"] == {
            "type": row["resource_type"], "id": row["resource_id"],
            "version": row["resource_version"],
            "href": ("/partners/me/shares/" if row["resource_type"] == "partner_share"
                     else "/referrals/") + row["resource_id"]}


@contextlib.contextmanager
def own_database(test_env, tmp_path):
    """A database of the test's own, so that only the services it starts deliver from it."""
    name = f"cc_wh_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin_url = test_env.pg_url("postgres", "postgres")
    create_database(admin_url, name, template=test_env.template_db)
    database = TestDatabase(test_env, name)
    factory = ServiceFactory(test_env, database, str(tmp_path))
    db = Db(database.superuser_url, name)
    try:
        yield SimpleNamespace(database=database, factory=factory, db=db)
    finally:
        try:
            factory.teardown()
        finally:
            db.close()
            drop_database(admin_url, name)


# -- the module's services -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hooks(service_factory):
    """The delivering service, allowed to post to loopback receivers."""
    return service_factory.start(env=HOOK_ENV)


@pytest.fixture(scope="module")
def strict(service_factory):
    """An instance with the production URL rules (and no delivery threads)."""
    return service_factory.start(env=STRICT_ENV)


@pytest.fixture(autouse=True)
def no_webhooks_left(db):
    """Every test starts with no webhook registered in the module's database."""
    db.execute("DELETE FROM partner_webhooks")
    yield


# -- registration and signed deliveries ---------------------------------------------------------


def test_deliveries_are_signed_with_the_secret_given_once(hooks, database, db, receivers,
                                                          test_env):
    org = register_org(test_env, database)
    receiver = receivers()
    with partner(hooks, org) as api:
        created = api.put("/partners/me/webhook", json={"url": receiver.url})
        assert created.status_code == 201, created.text
        assert created.headers["Location"] == "/partners/me/webhook"
        body = created.json()
        assert_conforms(test_env.repo, "PartnerWebhook", body)
        secret = body["secret"]
        assert SECRET_RE.match(secret)
        assert body["url"] == receiver.url and body["delivered_seq"] == 0
        assert body["failures"] == 0 and body["last_error"] is None

        got = api.get("/partners/me/webhook")
        assert got.status_code == 200
        assert "secret" not in got.json()
        assert_conforms(test_env.repo, "PartnerWebhook", got.json())

        # Events made the usual way: referrals the partner sends (referral.received).
        for _ in range(3):
            r = api.post("/referrals", json={
                "service_user": {"nhs_number": nhs_number(), "given_name": "Sam",
                                 "family_name": unique("Hook"), "date_of_birth": "1990-02-03"},
                "source_type": "adult_social_care", "reason": "Needs a Care Act assessment.",
                "urgency": "routine"})
            assert r.status_code == 201, r.text
        wait_delivered(db, org, 3)

        deliveries = [d for d in receiver.snapshot() if d["status"] == 200]
        sent = []
        for d in deliveries:
            headers = {k.lower(): v for k, v in d["headers"].items()}
            assert headers["content-type"] == "application/json"
            assert verify_signature(secret, headers["carecoord-signature"], d["body"])
            batch = json.loads(d["body"])["events"]
            assert headers["carecoord-delivery"] == f"{org}:{batch[0]['seq']}-{batch[-1]['seq']}"
            assert d["path"] == "/hooks/carecoord?channel=mh"
            sent += batch
        assert_events_match_feed(sent, feed(db, org))
        assert [e["type"] for e in sent] == ["referral.received"] * 3

        state = api.get("/partners/me/webhook").json()
        assert state["delivered_seq"] == 3 and state["failures"] == 0
        assert state["last_error"] is None and state["last_attempt_at"] is not None

        # Replacing keeps the secret unless asked to rotate it; the new one signs from then on.
        same = api.put("/partners/me/webhook", json={"url": receiver.url})
        assert same.status_code == 200 and "secret" not in same.json()
        rotated = api.put("/partners/me/webhook", json={"url": receiver.url,
                                                         "rotate_secret": True})
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert SECRET_RE.match(new_secret) and new_secret != secret
        seq = append_events(db, org)
        wait_delivered(db, org, seq)
        last = [d for d in receiver.snapshot() if d["status"] == 200][-1]
        signature = {k.lower(): v for k, v in last["headers"].items()}["carecoord-signature"]
        assert verify_signature(new_secret, signature, last["body"])
        assert not verify_signature(secret, signature, last["body"])

    audit = events(db, "partner_webhook", org)
    assert [(e["action"], e["outcome"]) for e in audit] == [
        ("create", "success"), ("update", "success"), ("update", "success")]
    assert audit[0]["details"]["origin"] == receiver.url.split("/hooks")[0]
    assert audit[2]["details"]["secret_rotated"] is True
    text = json.dumps([e["details"] for e in audit])
    assert secret not in text and new_secret not in text and "channel" not in text


def test_delivery_starts_after_the_latest_event_unless_from_seq_says(hooks, database, db,
                                                                     receivers, test_env):
    org = register_org(test_env, database)
    before = append_events(db, org, 4)
    receiver = receivers()
    with partner(hooks, org) as api:
        r = api.put("/partners/me/webhook", json={"url": receiver.url})
        assert r.status_code == 201 and r.json()["delivered_seq"] == before
        seq = append_events(db, org)
        wait_delivered(db, org, seq)
        assert receiver.seqs() == [5]
        # Sent again from the start: the events after 0.
        r = api.put("/partners/me/webhook", json={"url": receiver.url, "from_seq": 0})
        assert r.status_code == 200 and r.json()["delivered_seq"] == 0
        wait_delivered(db, org, seq)
        assert receiver.seqs() == [5, 1, 2, 3, 4, 5]
        assert_validation(api.put("/partners/me/webhook",
                                  json={"url": receiver.url, "from_seq": seq + 1}), "/from_seq")
        assert_validation(api.put("/partners/me/webhook",
                                  json={"url": receiver.url, "from_seq": -1}), "/from_seq")


# -- retries ---------------------------------------------------------------------------------------


def test_failures_are_retried_with_a_growing_wait_until_acknowledged(hooks, database, db,
                                                                     receivers, test_env):
    org = register_org(test_env, database)
    receiver = receivers()
    receiver.failing = True
    with partner(hooks, org) as api:
        assert api.put("/partners/me/webhook", json={"url": receiver.url}).status_code == 201
    seq = append_events(db, org, 2)

    seen = {}

    def observe():
        row = webhook_row(db, org)
        if row["failures"]:
            seen[row["failures"]] = row
        return row["failures"] >= 4

    wait_until(observe, DELIVERY_DEADLINE_S, "four failed deliveries")
    assert len(seen) >= 3, f"observed failure counts {sorted(seen)}"
    for failures, row in seen.items():
        # The wait after the n-th failure in a row: min(base * 2^(n-1), cap).
        wait = row["next_attempt_at"] - row["last_attempt_at"]
        assert wait == datetime.timedelta(milliseconds=min(BASE_MS * 2 ** (failures - 1), CAP_MS))
        assert row["last_error"] == "the receiver answered HTTP 500"
        assert row["delivered_seq"] == 0

    receiver.failing = False
    wait_delivered(db, org, seq)
    row = webhook_row(db, org)
    assert row["failures"] == 0 and row["last_error"] is None
    # Each attempt posted the same batch: at least once, in order.
    bodies = [json.loads(d["body"]) for d in receiver.snapshot()]
    assert len(bodies) >= 5 and all(b == bodies[0] for b in bodies)
    assert [e["seq"] for e in bodies[0]["events"]] == [1, 2]
    assert [d["status"] for d in receiver.snapshot()][-1] == 200


def test_an_unreachable_receiver_counts_as_a_failure(hooks, database, db, test_env):
    org = register_org(test_env, database)
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with partner(hooks, org) as api:
        assert api.put("/partners/me/webhook", json={"url": url}).status_code == 201
        append_events(db, org)
        wait_until(lambda: webhook_row(db, org)["failures"] >= 1, DELIVERY_DEADLINE_S,
                   "a failed delivery")
        state = api.get("/partners/me/webhook").json()
    assert state["delivered_seq"] == 0 and state["failures"] >= 1
    assert "connect" in state["last_error"].lower()
    assert url not in state["last_error"]


# -- restarts ----------------------------------------------------------------------------------------


def test_nothing_is_lost_across_a_restart(test_env, tmp_path, receivers):
    receiver = receivers()
    receiver.failing = True
    with own_database(test_env, tmp_path) as own:
        org = register_org(test_env, own.database)
        first = own.factory.start(env=HOOK_ENV)
        with partner(first, org) as api:
            assert api.put("/partners/me/webhook", json={"url": receiver.url}).status_code == 201
        append_events(own.db, org, 3)
        wait_until(lambda: webhook_row(own.db, org)["failures"] >= 1, DELIVERY_DEADLINE_S,
                   "a failed delivery")
        first.stop()
        assert webhook_row(own.db, org)["lease_id"] is None

        # Events written while no service runs wait in the outbox.
        last = append_events(own.db, org, 4)
        second = own.factory.start(env=HOOK_ENV)
        receiver.failing = False
        wait_delivered(own.db, org, last)
        second.stop()

    acknowledged = receiver.acknowledged()
    for body in acknowledged:  # each batch in order, without gaps
        seqs = [e["seq"] for e in body["events"]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    deduplicated = list(dict.fromkeys(receiver.seqs()))
    assert deduplicated == list(range(1, last + 1))


def test_stopping_gives_up_a_delivery_under_way_without_counting_it(test_env, tmp_path,
                                                                    receivers):
    receiver = receivers()
    receiver.hold = threading.Event()
    with own_database(test_env, tmp_path) as own:
        org = register_org(test_env, own.database)
        svc = own.factory.start(env={**HOOK_ENV, "CARECOORD_WEBHOOK_TIMEOUT_MS": "60000"})
        with partner(svc, org) as api:
            assert api.put("/partners/me/webhook", json={"url": receiver.url}).status_code == 201
        append_events(own.db, org, 2)
        wait_until(lambda: receiver.in_flight == 1, DELIVERY_DEADLINE_S, "a delivery under way")
        assert webhook_row(own.db, org)["lease_id"] is not None
        svc.stop()  # well within the 60 s the delivery could otherwise take
        row = webhook_row(own.db, org)
        assert row["lease_id"] is None and row["lease_until"] is None
        assert row["failures"] == 0 and row["delivered_seq"] == 0
        receiver.hold.set()
        receiver.hold = None

        again = own.factory.start(env=HOOK_ENV)
        wait_delivered(own.db, org, 2)
        again.stop()
    # The delivery given up is posted again in full (the receiver dedupes by seq).
    posted = [[e["seq"] for e in json.loads(d["body"])["events"]] for d in receiver.snapshot()]
    assert len(posted) >= 2 and all(p == [1, 2] for p in posted)


def test_two_instances_never_post_the_same_batch(test_env, tmp_path, receivers):
    with own_database(test_env, tmp_path) as own:
        env = {**HOOK_ENV, "CARECOORD_WEBHOOK_BATCH": "3"}
        services = [own.factory.start(env=env), own.factory.start(env=env)]
        orgs = {}
        for i in range(3):
            org = register_org(test_env, own.database)
            receiver = receivers(delay_s=0.05)
            with partner(services[i % 2], org) as api:
                assert api.put("/partners/me/webhook",
                               json={"url": receiver.url}).status_code == 201
            orgs[org] = receiver
        for _ in range(4):
            for org in orgs:
                append_events(own.db, org, 3)
        for org in orgs:
            wait_delivered(own.db, org, 12)
        for svc in services:
            svc.stop()
    for org, receiver in orgs.items():
        assert receiver.max_in_flight == 1
        assert receiver.seqs(acknowledged_only=False) == list(range(1, 13)), org


# -- scoping --------------------------------------------------------------------------------------


def test_each_organisation_is_sent_only_its_own_events(hooks, database, db, receivers,
                                                       test_env):
    a, b, quiet = (register_org(test_env, database) for _ in range(3))
    gone = register_org(test_env, database)
    to = {org: receivers() for org in (a, b, gone)}
    for org in (a, b, gone):
        with partner(hooks, org) as api:
            assert api.put("/partners/me/webhook", json={"url": to[org].url}).status_code == 201
    register_org(test_env, database, gone, active=False)
    for _ in range(3):
        for org in (a, quiet, b, gone):
            append_events(db, org)
    wait_delivered(db, a, 3)
    wait_delivered(db, b, 3)
    # After the events of the deactivated organisation, one more for a: once it is delivered,
    # the deactivated one has been passed over (it would have been due first).
    seq = append_events(db, a)
    wait_delivered(db, a, seq)

    for org in (a, b):
        sent = [e for body in to[org].acknowledged() for e in body["events"]]
        assert_events_match_feed(sent, feed(db, org))
        for d in to[org].snapshot():
            assert d["headers"]["Carecoord-Delivery"].startswith(org + ":")
    assert to[gone].snapshot() == []
    assert webhook_row(db, gone)["delivered_seq"] == 0
    with partner(hooks, gone) as api:
        assert_problem(api.get("/partners/me/webhook"), 403, "forbidden")


def test_a_deleted_webhook_is_sent_nothing_more(hooks, database, db, receivers, test_env):
    org, other = register_org(test_env, database), register_org(test_env, database)
    mine, theirs = receivers(), receivers()
    with partner(hooks, org) as api, partner(hooks, other) as other_api:
        assert api.put("/partners/me/webhook", json={"url": mine.url}).status_code == 201
        assert other_api.put("/partners/me/webhook",
                             json={"url": theirs.url}).status_code == 201
        wait_delivered(db, org, append_events(db, org))
        r = api.delete("/partners/me/webhook")
        assert r.status_code == 204 and r.content == b""
        assert webhook_row(db, org) is None
        assert_problem(api.get("/partners/me/webhook"), 404, "not-found")
        assert_problem(api.delete("/partners/me/webhook"), 404, "not-found")
        append_events(db, org, 2)
        wait_delivered(db, other, append_events(db, other))
    assert mine.seqs() == [1]
    assert [e["action"] for e in events(db, "partner_webhook", org)] == ["create", "delete"]


# -- registration rules ---------------------------------------------------------------------------


def test_plain_http_needs_the_test_setting(strict, hooks, database, receivers, test_env):
    org = register_org(test_env, database)
    receiver = receivers()
    with partner(strict, org) as api:
        assert_validation(api.put("/partners/me/webhook", json={"url": receiver.url}), "/url")
        assert_problem(api.get("/partners/me/webhook"), 404, "not-found")
        r = api.put("/partners/me/webhook", json={"url": "https://hooks.example.org/in"})
        assert r.status_code == 201, r.text
    with partner(hooks, org) as api:
        r = api.put("/partners/me/webhook", json={"url": receiver.url})
        assert r.status_code == 200 and r.json()["url"] == receiver.url


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://hooks.example.org/in"}, "/url"),
    ({"url": "https://user:password@hooks.example.org/in"}, "/url"),
    ({"url": "https://hooks.example.org@evil.example/in"}, "/url"),
    ({"url": "not a url"}, "/url"),
    ({"url": "https://hooks.example.org/" + "a" * 2000}, "/url"),
    ({"url": "https://hooks.example.org:70000/in"}, "/url"),
    ({"url": "https://hooks.example.org/in#part"}, "/url"),
    ({"url": "http://localhost:8080/in"}, "/url"),
    ({"url": "http://10.1.2.3/in"}, "/url"),
    ({"url": 42}, "/url"),
    ({}, "/url"),
    ({"url": "https://hooks.example.org/in", "rotate_secret": "yes"}, "/rotate_secret"),
    ({"url": "https://hooks.example.org/in", "secret": "mine"}, "/secret"),
])
def test_bad_registrations_are_refused(hooks, database, db, test_env, body, field):
    org = register_org(test_env, database)
    with partner(hooks, org) as api:
        assert_validation(api.put("/partners/me/webhook", json=body), field)
    assert webhook_row(db, org) is None


def test_only_registered_partner_systems_may_manage_webhooks(hooks, database, db, test_env):
    body = {"url": "https://hooks.example.org/in"}
    for role in ("manager", "coordinator", "reporting"):
        with hooks.api(token=mint_token(hooks.env, roles=(role,))) as api:
            assert_problem(api.put("/partners/me/webhook", json=body), 403, "forbidden")
            assert_problem(api.get("/partners/me/webhook"), 403, "forbidden")
            assert_problem(api.delete("/partners/me/webhook"), 403, "forbidden")
    nobody = unique("nobody-")
    with partner(hooks, nobody, sub="refused-" + nobody) as api:
        assert_problem(api.put("/partners/me/webhook", json=body), 403, "forbidden")
        assert_problem(api.delete("/partners/me/webhook"), 403, "forbidden")
    denied = events(db, "partner_organisation", nobody, actor="refused-" + nobody)
    assert [(e["action"], e["outcome"]) for e in denied] == [("deny", "denied")] * 2
    with hooks.api(token=mint_token(hooks.env, sub=unique("p-"), roles=("partner",))) as api:
        assert_problem(api.put("/partners/me/webhook", json=body), 403, "forbidden")
    assert db.count("partner_webhooks") == 0


# -- where deliveries may go -------------------------------------------------------------------------


def test_a_delivery_never_connects_to_a_loopback_address_in_production(test_env, tmp_path):
    """Name resolution could point an https URL anywhere: the address connected to is checked,
    and loopback (like link-local, the cloud metadata service's) is refused."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    try:
        with own_database(test_env, tmp_path) as own:
            org = register_org(test_env, own.database)
            svc = own.factory.start(env={"CARECOORD_WEBHOOK_POLL_MS": "50"})
            url = f"https://127.0.0.1:{listener.getsockname()[1]}/in"
            with partner(svc, org) as api:
                assert api.put("/partners/me/webhook", json={"url": url}).status_code == 201
                append_events(own.db, org)
                wait_until(lambda: webhook_row(own.db, org)["failures"] >= 1,
                           DELIVERY_DEADLINE_S, "a refused delivery")
                state = api.get("/partners/me/webhook").json()
            svc.stop()
        assert "address" in state["last_error"] and state["delivered_seq"] == 0
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()
