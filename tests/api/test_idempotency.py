"""Idempotency-Key on POST: replays, key reuse with another body, concurrent retries."""

import json
import threading

import pytest

from carecoord import (
    assert_problem,
    service_user_payload,
    team_payload,
    unique,
)


def key():
    return unique("idem-")


def test_same_key_same_body_replays_original_response(api, db):
    payload = service_user_payload()
    k = key()
    first = api.post("/service-users", json=payload, headers={"Idempotency-Key": k})
    assert first.status_code == 201, first.text
    assert first.headers.get("Idempotent-Replayed", "").lower() != "true"
    second = api.post("/service-users", json=payload, headers={"Idempotency-Key": k})
    assert second.status_code == 201, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["ETag"] == first.headers["ETag"]
    assert db.count("service_users", "nhs_number = %s", (payload["nhs_number"],)) == 1
    # R-AUD-1: one record, one create event (a replay creates nothing)
    assert db.count("audit_events", "service_user_id = %s AND action = 'create'", (first.json()["id"],)) == 1


def test_replay_returns_original_even_after_the_record_changed(api, db):
    payload = service_user_payload()
    k = key()
    first = api.post("/service-users", json=payload, headers={"Idempotency-Key": k})
    assert first.status_code == 201
    patched = api.patch(first.headers["Location"], json={"given_name": "Later"}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200
    again = api.post("/service-users", json=payload, headers={"Idempotency-Key": k})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_same_key_reserialised_body_never_creates_a_second_record(api, db):
    """The same body re-serialised (other key order, whitespace) is either replayed or refused
    as key reuse; it never creates a second record."""
    payload = service_user_payload()
    k = key()
    first = api.post("/service-users", json=payload, headers={"Idempotency-Key": k})
    assert first.status_code == 201
    reordered = json.dumps(dict(reversed(list(payload.items()))), indent=2).encode()
    again = api.post(
        "/service-users", data=reordered, headers={"Idempotency-Key": k, "Content-Type": "application/json"}
    )
    assert again.status_code in (201, 422), again.text
    if again.status_code == 201:
        assert again.json()["id"] == first.json()["id"]
    assert db.count("service_users", "nhs_number = %s", (payload["nhs_number"],)) == 1


def test_same_key_different_body_is_422_and_writes_nothing(api, db):
    k = key()
    first = service_user_payload()
    assert api.post("/service-users", json=first, headers={"Idempotency-Key": k}).status_code == 201
    before = db.counts("service_users", "audit_events")
    other = service_user_payload()
    r = api.post("/service-users", json=other, headers={"Idempotency-Key": k})
    assert_problem(r, 422, "idempotency-key-reused")
    assert db.count("service_users", "nhs_number = %s", (other["nhs_number"],)) == 0
    assert db.counts("service_users", "audit_events") == before


def test_without_key_each_post_is_independent(api, db):
    payload = service_user_payload()
    assert api.post("/service-users", json=payload).status_code == 201
    assert_problem(api.post("/service-users", json=payload), 409, "conflict")
    assert db.count("service_users", "nhs_number = %s", (payload["nhs_number"],)) == 1


def test_concurrent_identical_retries_create_one_record(service, db):
    payload = service_user_payload()
    k = key()
    n = 10
    barrier = threading.Barrier(n)
    results = [None] * n

    def attempt(i):
        with service.api() as session:
            barrier.wait(timeout=30)
            try:
                results[i] = session.post("/service-users", json=payload, headers={"Idempotency-Key": k})
            except Exception as exc:  # noqa: BLE001 - reported below
                results[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung"
    for r in results:
        assert not isinstance(r, Exception), r
        assert r.status_code == 201, f"{r.status_code} {r.text[:300]}"
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 1, ids
    assert len({r.headers["Location"] for r in results}) == 1
    originals = [r for r in results if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(originals) == 1, "exactly one response is the original, the rest replays"
    assert db.count("service_users", "nhs_number = %s", (payload["nhs_number"],)) == 1
    # R-AUD-1: the one record has exactly one create event
    assert db.count("audit_events", "service_user_id = %s AND action = 'create'", (ids.pop(),)) == 1


@pytest.mark.parametrize("bad", ["k" * 201, ""], ids=["201-chars", "empty"])
def test_invalid_key_is_400_and_writes_nothing(api, db, bad):
    payload = service_user_payload()
    r = api.post("/service-users", json=payload, headers={"Idempotency-Key": bad})
    assert_problem(r, 400, "bad-request")
    assert db.count("service_users", "nhs_number = %s", (payload["nhs_number"],)) == 0


def test_key_with_control_character_is_400(api, db):
    payload = service_user_payload()
    r = api.post("/service-users", json=payload, headers={"Idempotency-Key": "ab\tcd"})
    assert_problem(r, 400, "bad-request")
    assert db.count("service_users", "nhs_number = %s", (payload["nhs_number"],)) == 0


def test_key_of_200_printable_chars_is_accepted(api, db):
    k = ("~!#$%&'*+-.^_`|" + unique("k")) * 20
    k = k[:200]
    payload = service_user_payload()
    first = api.post("/service-users", json=payload, headers={"Idempotency-Key": k})
    assert first.status_code == 201, first.text
    again = api.post("/service-users", json=payload, headers={"Idempotency-Key": k})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]


def test_failed_request_does_not_burn_the_key_into_a_success(api, db):
    """A create refused by validation is not recorded as a success under its key: replaying the
    same invalid body gives the same 422, and nothing is written."""
    k = key()
    bad = service_user_payload(gender="M")
    first = api.post("/service-users", json=bad, headers={"Idempotency-Key": k})
    assert first.status_code == 422
    again = api.post("/service-users", json=bad, headers={"Idempotency-Key": k})
    assert again.status_code == 422
    assert db.count("service_users", "nhs_number = %s", (bad["nhs_number"],)) == 0


def test_team_create_is_idempotent_too(api, db):
    payload = team_payload()
    k = key()
    first = api.post("/teams", json=payload, headers={"Idempotency-Key": k})
    assert first.status_code == 201, first.text
    second = api.post("/teams", json=payload, headers={"Idempotency-Key": k})
    assert second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json() == first.json()
    assert db.count("teams", "name = %s", (payload["name"],)) == 1


# -- expiry (CARECOORD_IDEMPOTENCY_TTL_H, 24 hours by default) ---------------------------------


def age_key(db, k, hours):
    """Makes the key's first use `hours` ago (the clock the service compares with)."""
    db.execute("UPDATE idempotency_keys SET created_at = now() - make_interval(hours => %s)"
               " WHERE key = %s", (hours, k))


def test_a_key_is_replayed_until_it_expires_then_starts_afresh(api, db):
    payload = team_payload()
    k = key()
    first = api.post("/teams", json=payload, headers={"Idempotency-Key": k})
    assert first.status_code == 201, first.text
    age_key(db, k, 23)  # within the default 24 hours: still the first response
    again = api.post("/teams", json=payload, headers={"Idempotency-Key": k})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    age_key(db, k, 25)  # expired: the same key is a new request
    other = team_payload()
    fresh = api.post("/teams", json=other, headers={"Idempotency-Key": k})
    assert fresh.status_code == 201, fresh.text
    assert fresh.headers.get("Idempotent-Replayed", "").lower() != "true"
    assert fresh.json()["id"] != first.json()["id"] and fresh.json()["name"] == other["name"]
    # ...and is bound to its new body and response from then on
    replay = api.post("/teams", json=other, headers={"Idempotency-Key": k})
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == fresh.json()
    assert_problem(api.post("/teams", json=payload, headers={"Idempotency-Key": k}), 422)
    row = db.one("SELECT count(*) AS n, max(created_at) > now() - interval '1 hour' AS recent"
                 " FROM idempotency_keys WHERE key = %s", (k,))
    assert row == {"n": 1, "recent": True}


def test_claiming_a_key_deletes_expired_keys_oldest_first_with_their_responses(api, db):
    # Other callers' expired keys, older than anything else in this database, and a live one.
    expired = [key() for _ in range(10)]
    live = key()
    for i, k in enumerate(expired):
        db.execute("INSERT INTO idempotency_keys (scope, key, request_hash, response_status,"
                   " response_body, created_at) VALUES ('someone POST /teams', %s, 'h', 201,"
                   " '{\"name\": \"personal data\"}', now() - make_interval(days => 400 - %s))",
                   (k, i))
    db.execute("INSERT INTO idempotency_keys (scope, key, request_hash, created_at)"
               " VALUES ('someone POST /teams', %s, 'h', now() - interval '23 hours')", (live,))
    r = api.post("/teams", json=team_payload(), headers={"Idempotency-Key": key()})
    assert r.status_code == 201, r.text
    left = {row["key"] for row in db.rows("SELECT key FROM idempotency_keys WHERE key = ANY(%s)",
                                          (expired + [live],))}
    # A claim deletes 8 expired keys: the 8 oldest.
    assert left == {expired[8], expired[9], live}, left
    r = api.post("/teams", json=team_payload(), headers={"Idempotency-Key": key()})
    assert r.status_code == 201, r.text
    assert db.count("idempotency_keys", "key = ANY(%s)", (expired,)) == 0
    assert db.count("idempotency_keys", "key = %s", (live,)) == 1
