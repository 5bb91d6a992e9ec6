"""Horizontal scale: two `carecoord serve` instances on one database agree on everything,
because the service keeps nothing in memory that replicas could disagree on: idempotency keys,
records and their versions, the audit chain and the partners' event outbox all live in
PostgreSQL (README.md, "Deploying"). Each test here talks to both instances.

Other tests cover parts of this too: tests/api/test_audit.py (200 concurrent writes through two
replicas sealed into one gap-free chain) and tests/api/test_partner_webhooks.py (two instances
never post the same batch).
"""

import threading

import pytest

from care_setup import new_team, partner_api, register_partner
from carecoord import (
    assert_problem,
    create,
    etag_of,
    nhs_number,
    service_user_payload,
    team_payload,
    unique,
    wait_until,
)

SEAL_DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def pair(service, service_factory):
    """The module's service and a second instance on the same database."""
    return service, service_factory.start()


@pytest.fixture(scope="module")
def apis(pair):
    a, b = (svc.api() for svc in pair)
    yield a, b
    a.close()
    b.close()


def test_the_two_instances_are_separate_processes_on_one_database(pair, apis):
    a, b = pair
    assert a.proc.pid != b.proc.pid and a.port != b.port
    versions = {api.get("/readyz").json()["schema_version"] for api in apis}
    assert len(versions) == 1


def test_an_idempotent_create_retried_on_the_other_instance_replays_the_response(apis, db):
    a, b = apis
    payload = service_user_payload()
    key = {"Idempotency-Key": unique("two-")}
    first = a.post("/service-users", json=payload, headers=key)
    assert first.status_code == 201, first.text
    retry = b.post("/service-users", json=payload, headers=key)
    assert retry.status_code == 201, retry.text
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json() == first.json()
    for header in ("Location", "ETag"):
        assert retry.headers[header] == first.headers[header]
    assert db.count("service_users", "nhs_number = %s", (payload["nhs_number"],)) == 1
    # the key is bound to its body on both instances alike
    other = service_user_payload()
    assert_problem(b.post("/service-users", json=other, headers=key), 422, "idempotency-key-reused")
    assert_problem(a.post("/service-users", json=other, headers=key), 422, "idempotency-key-reused")


def test_concurrent_retries_on_both_instances_create_one_record(pair, db):
    """Eight identical requests at once, half through each instance: the key's row in
    PostgreSQL makes the later ones wait for the first and replay it."""
    payload = service_user_payload()
    key = {"Idempotency-Key": unique("race-")}
    answers = [None] * 8
    start = threading.Barrier(len(answers))

    def post(i):
        with pair[i % 2].api() as session:
            start.wait(timeout=30)
            try:
                answers[i] = session.post("/service-users", json=payload, headers=key)
            except Exception as exc:  # noqa: BLE001 - reported below
                answers[i] = exc

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(answers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung"
    for r in answers:
        assert not isinstance(r, Exception), r
        assert r.status_code == 201, (r.status_code, r.text[:300])
    assert len({r.json()["id"] for r in answers}) == 1
    assert len({r.headers["ETag"] for r in answers}) == 1
    originals = [r for r in answers if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(originals) == 1, "exactly one response is the original, the rest replays"
    assert db.count("service_users", "nhs_number = %s", (payload["nhs_number"],)) == 1


def test_a_write_on_one_instance_is_read_on_the_other_at_once(apis):
    a, b = apis
    team = create(a, "/teams", team_payload())
    person = create(a, "/service-users", service_user_payload())
    got = b.get(f"/service-users/{person['id']}")
    assert got.status_code == 200 and got.json() == person
    assert b.get(f"/teams/{team['id']}").json() == team
    # an update through b is what a reads next, and a's stale precondition is refused
    changed = b.patch(f"/service-users/{person['id']}", json={"given_name": "Rowan"},
                      headers={"If-Match": etag_of(person["version"])})
    assert changed.status_code == 200, changed.text
    seen = a.get(f"/service-users/{person['id']}")
    assert seen.json() == changed.json() and seen.headers["ETag"] == changed.headers["ETag"]
    assert_problem(a.patch(f"/service-users/{person['id']}", json={"given_name": "Late"},
                           headers={"If-Match": etag_of(person["version"])}), 412)
    # lists see it too
    listed = b.get("/teams", params={"limit": 200}).json()["items"]
    assert team["id"] in {t["id"] for t in listed}


def test_a_partners_event_feed_is_the_same_through_either_instance(pair, apis, database):
    a, b = pair
    org = unique("two-org-")
    assert register_partner(a, database, org).returncode == 0
    team = new_team(apis[0])
    with partner_api(a, org, sub="sys-a") as via_a, partner_api(b, org, sub="sys-b") as via_b:
        made = []
        for i, session in enumerate((via_a, via_b, via_a, via_b)):
            body = {"source_type": "adult_social_care", "referrer_name": "Duty worker",
                    "referrer_contact": "0113 496 0300", "reason": "Low mood.",
                    "urgency": "routine",
                    "service_user": {"nhs_number": nhs_number(), "given_name": "Sam",
                                     "family_name": unique("Feed"), "date_of_birth": "1990-02-03"}}
            r = session.post("/referrals", json=body)
            assert r.status_code == 201, r.text
            made.append(r.json()["id"])
        r = apis[1].post(f"/referrals/{made[0]}/triage",
                         json={"urgency": "routine", "responding_team_id": team["id"]})
        assert r.status_code == 200, r.text
        pages = [s.get("/partners/me/events", params={"after": 0, "limit": 200}) for s in (via_a, via_b)]
        assert [p.status_code for p in pages] == [200, 200]
        feed_a, feed_b = (p.json() for p in pages)
        assert feed_a == feed_b
        assert [e["seq"] for e in feed_a["events"]] == list(range(1, 6))
        assert sorted({e["resource"]["id"] for e in feed_a["events"]}) == sorted(made)
        # resuming after any position through the other instance continues exactly there
        middle = feed_a["events"][2]["seq"]
        resumed = via_b.get("/partners/me/events", params={"after": middle}).json()
        assert resumed["events"] == feed_a["events"][3:]


def test_the_audit_chain_verifies_after_writes_through_both(apis, db):
    a, b = apis
    for i in range(10):
        create((a, b)[i % 2], "/teams", team_payload(name=unique(f"Chain {i} ")))

    def sealed(api):
        body = api.get("/audit-events/verify").json()
        return body if body["unsealed"] == 0 else None

    body_a = wait_until(lambda: sealed(a), SEAL_DEADLINE_S, "the sealers to seal every event")
    body_b = sealed(b)
    assert body_a["valid"] is True and body_a["first_broken"] is None, body_a
    assert body_b == body_a
    stats = db.one("SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM audit_chain")
    assert stats["lo"] == 1 and stats["hi"] == stats["n"] == db.count("audit_events")
