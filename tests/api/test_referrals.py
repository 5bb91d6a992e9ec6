"""Referrals over HTTP: intake, triage and decisions (DOMAIN.md care cycle step 1; R-REF-1..4),
partner scoping, Idempotency-Key, and the audit event every read and write leaves (R-AUD-1)."""

import datetime
import threading
import uuid

import pytest

from care_setup import Staff, assert_conforms, events, new_person, new_team
from carecoord import (
    assert_problem,
    assert_validation,
    etag_of,
    mint_token,
    nhs_number,
    paginate,
    unique,
)

HOUR = datetime.timedelta(hours=1)
PARTNER_FIELDS = {"id", "external_reference", "source_type", "source_org", "urgency",
                  "received_at", "response_due_at", "status", "decision_reason", "redirected_to",
                  "decided_at", "created_at", "updated_at", "version"}
CLINICAL_ONLY = {"service_user_id", "reason", "presenting_needs", "known_risks",
                 "referrer_name", "referrer_contact", "local_team_reason", "episode_id"}


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def referral_body(person_id=None, **overrides):
    body = {"source_type": "gp", "referrer_name": "Dr Shaw", "referrer_contact": "01632 960123",
            "reason": "Low mood for three months.", "urgency": "routine"}
    if person_id:
        body["service_user_id"] = person_id
    body.update(overrides)
    return body


def identity(**overrides):
    body = {"nhs_number": nhs_number(), "given_name": "Sam", "family_name": unique("Ref"),
            "date_of_birth": "1990-02-03"}
    body.update(overrides)
    return body


def refer(session, person_id=None, **overrides):
    r = session.post("/referrals", json=referral_body(person_id, **overrides))
    assert r.status_code == 201, r.text
    return r.json()


def triage(session, referral, urgency="routine", team_id=None, **extra):
    return session.post(f"/referrals/{referral['id']}/triage",
                        json={"urgency": urgency, "responding_team_id": team_id, **extra})


def decide(session, referral, decision, **extra):
    return session.post(f"/referrals/{referral['id']}/decision",
                        json={"decision": decision, **extra})


def partner_session(service, org, sub=None):
    token = mint_token(service.env, sub=sub or unique("partner-"), roles=("partner",), org=org)
    return service.api(token=token)


@pytest.fixture(scope="module")
def teams(api):
    return {"cmht": new_team(api), "crisis": new_team(api, "crisis_home_treatment")}


@pytest.fixture
def triaged(api, teams):
    """A routine referral for a new person, triaged to the CMHT."""
    referral = refer(api, new_person(api)["id"])
    r = triage(api, referral, team_id=teams["cmht"]["id"])
    assert r.status_code == 200, r.text
    return r.json()


# -- create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("urgency,interval", [("emergency", 4 * HOUR), ("urgent", 72 * HOUR),
                                               ("routine", datetime.timedelta(days=28))])
def test_r_ref_1_response_due_follows_urgency(api, service, urgency, interval):
    received = "2026-03-20T09:15:00Z"
    referral = refer(api, new_person(api)["id"], urgency=urgency, received_at=received)
    assert ts(referral["received_at"]) == ts(received)
    # R-REF-1: elapsed time in UTC, so 28 days across the March clock change is 28 x 24 hours
    assert ts(referral["response_due_at"]) - ts(referral["received_at"]) == interval
    assert referral["status"] == "received" and referral["overdue"] is True
    assert_conforms(service.env.repo, "Referral", referral)


def test_r_ref_1_received_now_by_default_and_not_overdue(api):
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    referral = refer(api, new_person(api)["id"], urgency="urgent")
    assert before <= ts(referral["received_at"]) <= before + 5 * 60 * datetime.timedelta(seconds=1)
    assert ts(referral["response_due_at"]) - ts(referral["received_at"]) == 72 * HOUR
    assert referral["overdue"] is False


def test_r_ref_1_receipt_time_with_offset_is_stored_in_utc(api):
    referral = refer(api, new_person(api)["id"], received_at="2026-07-01T10:00:00+01:00")
    assert ts(referral["received_at"]) == datetime.datetime(2026, 7, 1, 9, 0, tzinfo=datetime.timezone.utc)


def test_create_registers_a_new_person_from_identity_and_audits_both(api, db):
    who = identity(gender="female")
    r = api.post("/referrals", json=referral_body(service_user=who))
    assert r.status_code == 201, r.text
    referral = r.json()
    assert r.headers["Location"] == f"/referrals/{referral['id']}"
    assert r.headers["ETag"] == etag_of(referral["version"])
    person = tuple(db.one("SELECT id::text, given_name, gender FROM service_users"
                          " WHERE nhs_number = %s", (who["nhs_number"],)).values())
    assert person[0] == referral["service_user_id"] and person[1:] == ("Sam", "female")
    registered = events(db, "service_user", person[0])
    assert [(e["action"], e["details"]) for e in registered] == [
        ("create", {"via_referral": referral["id"]})]
    created = events(db, "referral", referral["id"])
    assert [(e["action"], e["service_user_id"]) for e in created] == [("create", person[0])]


def test_identity_of_a_registered_person_links_to_them(api, db):
    person = new_person(api)
    who = identity(nhs_number=person["nhs_number"], date_of_birth=person["date_of_birth"],
                   given_name="Different")
    referral = refer(api, service_user=who)
    assert referral["service_user_id"] == person["id"]
    assert db.count("service_users", "nhs_number = %s", (person["nhs_number"],)) == 1


def test_identity_with_another_date_of_birth_is_refused_and_writes_nothing(api, db):
    person = new_person(api)
    before = db.counts("referrals", "service_users", "audit_events")
    r = api.post("/referrals", json=referral_body(
        service_user=identity(nhs_number=person["nhs_number"], date_of_birth="1955-01-01")))
    assert_validation(r, "/service_user/date_of_birth")
    assert db.counts("referrals", "service_users", "audit_events") == before


@pytest.mark.parametrize("body,fields", [
    ({"source_type": "fax"}, ["/source_type"]),
    ({"urgency": "soon"}, ["/urgency"]),
    ({"reason": ""}, ["/reason"]),
    ({"reason": None}, ["/reason"]),
    ({"received_at": "2026-13-01T00:00:00Z"}, ["/received_at"]),
    ({"received_at": "yesterday"}, ["/received_at"]),
    ({"status": "accepted"}, ["/status"]),
    ({"source_org": "NHS-X"}, ["/source_org"]),
    ({"external_reference": "x" * 101}, ["/external_reference"]),
    ({"referrer_name": "a\u0007b"}, ["/referrer_name"]),
], ids=["source", "urgency", "empty-reason", "null-reason", "bad-date", "not-a-date",
        "status-read-only", "source-org-read-only", "long-reference", "control-char"])
def test_bad_referrals_are_422_listing_the_field_and_write_nothing(api, db, body, fields):
    person = new_person(api)
    before = db.counts("referrals", "audit_events")
    r = api.post("/referrals", json=referral_body(person["id"], **body))
    assert_validation(r, *fields)
    assert db.counts("referrals", "audit_events") == before


def test_receipt_in_the_future_is_refused_r_ref_1(api):
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2))
    r = api.post("/referrals", json=referral_body(new_person(api)["id"],
                                                  received_at=future.strftime("%Y-%m-%dT%H:%M:%SZ")))
    body = assert_validation(r, "/received_at")
    assert any(e.get("rule") == "R-REF-1" for e in body["errors"]), body


@pytest.mark.parametrize("which", ["both", "neither", "unknown-id", "bad-identity"])
def test_the_person_is_named_exactly_once(api, db, which):
    person = new_person(api)
    body = {"both": referral_body(person["id"], service_user=identity()),
            "neither": referral_body(),
            "unknown-id": referral_body(str(uuid.uuid4())),
            "bad-identity": referral_body(service_user=identity(nhs_number="1234567890"))}[which]
    before = db.counts("referrals", "service_users")
    r = api.post("/referrals", json=body)
    field = "/service_user/nhs_number" if which == "bad-identity" else "/service_user_id"
    assert_validation(r, field)
    assert db.counts("referrals", "service_users") == before


def test_idempotency_key_gives_exactly_one_referral(service, db):
    with partner_session(service, unique("ORG-")) as partner:
        body = referral_body(service_user=identity(), source_type="probation",
                             external_reference=unique("case-"))
        key = {"Idempotency-Key": unique("k-")}
        first = partner.post("/referrals", json=body, headers=key)
        again = partner.post("/referrals", json=body, headers=key)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json() == again.json()
    assert db.count("referrals", "external_reference = %s", (body["external_reference"],)) == 1


def test_concurrent_partner_retries_with_one_key_create_one_referral(service, db):
    org, key = unique("ORG-"), unique("k-")
    body = referral_body(service_user=identity(), external_reference=unique("case-"))
    barrier, results = threading.Barrier(4), []

    def send():
        with partner_session(service, org, sub=f"{org}-system") as partner:
            barrier.wait()
            results.append(partner.post("/referrals", json=body, headers={"Idempotency-Key": key}))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [201] * 4, [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert db.count("referrals", "external_reference = %s", (body["external_reference"],)) == 1
    assert db.count("service_users", "nhs_number = %s",
                    (body["service_user"]["nhs_number"],)) == 1


# -- partners --------------------------------------------------------------------------------


def test_partner_referral_records_its_org_and_sees_only_the_partner_view(service, db):
    org = unique("ASC-")
    with partner_session(service, org) as partner:
        r = partner.post("/referrals", json=referral_body(
            service_user=identity(), source_type="adult_social_care",
            external_reference="ASC-123", known_risks="Lives alone."))
        assert r.status_code == 201, r.text
        created = r.json()
        assert set(created) == PARTNER_FIELDS, created
        assert created["source_org"] == org and created["external_reference"] == "ASC-123"
        got = partner.get(f"/referrals/{created['id']}")
        assert got.status_code == 200 and got.json() == created
        assert not CLINICAL_ONLY & set(got.json())
        assert_conforms(service.env.repo, "PartnerReferral", got.json())
    row = tuple(db.one("SELECT source_org, known_risks FROM referrals WHERE id = %s",
                       (created["id"],)).values())
    assert row[0] == org and row[1] == "Lives alone."


def test_partner_sees_status_and_decision_of_its_referral(service, api, teams):
    org = unique("PROB-")
    with partner_session(service, org) as partner:
        referral = refer(partner, service_user=identity(), source_type="probation")
        assert triage(api, referral, team_id=teams["cmht"]["id"]).status_code == 200
        r = decide(api, referral, "decline", reason="No secondary care need; GP to support.")
        assert r.status_code == 200, r.text
        seen = partner.get(f"/referrals/{referral['id']}").json()
    assert seen["status"] == "declined"
    assert seen["decision_reason"] == "No secondary care need; GP to support."
    assert seen["decided_at"] is not None and not CLINICAL_ONLY & set(seen)


def test_partner_cannot_see_another_organisations_referral_and_is_audited(service, db):
    with partner_session(service, unique("ORG-")) as mine, \
            partner_session(service, unique("ORG-")) as theirs:
        referral = refer(mine, service_user=identity())
        r = theirs.get(f"/referrals/{referral['id']}")
        assert_problem(r, 404, "not-found")
        r = decide(theirs, referral, "withdraw")
        assert_problem(r, 404, "not-found")
    denied = [e for e in events(db, "referral", referral["id"]) if e["action"] == "deny"]
    assert [(e["outcome"], e["details"]["access"]) for e in denied] == [
        ("denied", "read"), ("denied", "write")]
    assert db.scalar("SELECT status FROM referrals WHERE id = %s", (referral["id"],)) == "received"


def test_partner_lists_only_its_organisations_referrals(service, api):
    org = unique("ORG-")
    with partner_session(service, org) as partner, \
            partner_session(service, unique("ORG-")) as other:
        mine = {refer(partner, service_user=identity())["id"] for _ in range(3)}
        refer(other, service_user=identity())
        refer(api, new_person(api)["id"])
        items, pages = paginate(partner, "/referrals")
    assert {i["id"] for i in items} == mine and len(pages) == 2
    assert all(set(i) == PARTNER_FIELDS for i in items)


def test_partner_may_not_name_a_service_user_id(service, api, db):
    person = new_person(api)
    with partner_session(service, unique("ORG-")) as partner:
        before = db.count("referrals")
        assert_validation(partner.post("/referrals", json=referral_body(person["id"])),
                          "/service_user_id")
    assert db.count("referrals") == before


def test_partner_token_without_org_is_refused(service, db):
    token = mint_token(service.env, sub=unique("partner-"), roles=("partner",))
    before = db.count("referrals")
    with service.api(token=token) as partner:
        assert_problem(partner.post("/referrals", json=referral_body(service_user=identity())),
                       403, "forbidden")
        assert_problem(partner.get("/referrals"), 403, "forbidden")
    assert db.count("referrals") == before


def test_one_external_reference_per_organisation(service):
    org, ref = unique("ORG-"), unique("case-")
    with partner_session(service, org) as partner, partner_session(service, unique("ORG-")) as other:
        refer(partner, service_user=identity(), external_reference=ref)
        r = partner.post("/referrals", json=referral_body(service_user=identity(),
                                                          external_reference=ref))
        assert_problem(r, 409, "conflict")
        refer(other, service_user=identity(), external_reference=ref)  # another org's own case


def test_partner_cannot_triage_or_accept(service, teams, db):
    with partner_session(service, unique("ORG-")) as partner:
        referral = refer(partner, service_user=identity())
        assert_problem(triage(partner, referral, team_id=teams["cmht"]["id"]), 403, "forbidden")
        assert_problem(decide(partner, referral, "accept", care_level="cpa"), 403, "forbidden")
    assert db.scalar("SELECT status FROM referrals WHERE id = %s", (referral["id"],)) == "received"


def test_partner_withdraws_its_own_referral(service):
    with partner_session(service, unique("ORG-")) as partner:
        referral = refer(partner, service_user=identity())
        r = decide(partner, referral, "withdraw", reason="Client moved out of area.")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "withdrawn"


# -- triage (R-REF-3) ------------------------------------------------------------------------


@pytest.mark.parametrize("urgency", ["urgent", "emergency"])
def test_r_ref_3_urgent_referral_to_local_team_needs_a_reason(api, db, teams, urgency):
    referral = refer(api, new_person(api)["id"], urgency=urgency)
    r = triage(api, referral, urgency=urgency, team_id=teams["cmht"]["id"])
    body = assert_validation(r, "/local_team_reason")
    assert [e["rule"] for e in body["errors"]] == ["R-REF-3"]
    assert db.scalar("SELECT status FROM referrals WHERE id = %s", (referral["id"],)) == "received"
    r = triage(api, referral, urgency=urgency, team_id=teams["cmht"]["id"],
               local_team_reason="Already known to the CMHT duty worker, seen today.")
    assert r.status_code == 200, r.text
    assert r.json()["local_team_reason"].startswith("Already known")


@pytest.mark.parametrize("urgency", ["urgent", "emergency"])
def test_r_ref_3_urgent_referral_to_crisis_team_needs_no_reason(api, teams, urgency):
    referral = refer(api, new_person(api)["id"], urgency=urgency)
    r = triage(api, referral, urgency=urgency, team_id=teams["crisis"]["id"])
    assert r.status_code == 200, r.text
    assert r.json()["responding_team_id"] == teams["crisis"]["id"]


def test_r_ref_3_routine_referral_records_no_local_team_reason(api, teams):
    referral = refer(api, new_person(api)["id"])
    r = triage(api, referral, team_id=teams["cmht"]["id"], local_team_reason="Not needed here.")
    assert [e["rule"] for e in assert_validation(r, "/local_team_reason")["errors"]] == ["R-REF-3"]


def test_r_ref_1_triage_that_changes_urgency_moves_the_due_time(api, db, teams):
    referral = refer(api, new_person(api)["id"], urgency="routine",
                     received_at="2026-01-05T09:00:00Z")
    r = triage(api, referral, urgency="urgent", team_id=teams["crisis"]["id"])
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "triaged" and done["urgency"] == "routine"
    assert done["triaged_urgency"] == "urgent" and done["triaged_by"] == "carecoord-api-tests"
    assert ts(done["response_due_at"]) - ts(done["received_at"]) == 72 * HOUR
    assert done["version"] == referral["version"] + 1
    audit = events(db, "referral", referral["id"])
    assert [(e["action"], e["details"]) for e in audit if e["action"] == "update"] == [
        ("update", {"from": "received", "to": "triaged"})]


def test_triage_of_an_unknown_team_is_422(api, db):
    referral = refer(api, new_person(api)["id"])
    assert_validation(triage(api, referral, team_id=str(uuid.uuid4())), "/responding_team_id")
    assert db.scalar("SELECT version FROM referrals WHERE id = %s", (referral["id"],)) == 1


def test_triage_twice_is_409_naming_the_state(api, triaged, teams):
    r = triage(api, triaged, team_id=teams["cmht"]["id"])
    body = assert_problem(r, 409, "conflict")
    assert "is triaged" in body["detail"], body


def test_triage_with_a_stale_if_match_is_412(api, teams, db):
    referral = refer(api, new_person(api)["id"])
    r = api.post(f"/referrals/{referral['id']}/triage", headers={"If-Match": etag_of(7)},
                 json={"urgency": "routine", "responding_team_id": teams["cmht"]["id"]})
    assert_problem(r, 412)
    assert r.headers["ETag"] == etag_of(1)
    r = api.post(f"/referrals/{referral['id']}/triage", headers={"If-Match": etag_of(1)},
                 json={"urgency": "routine", "responding_team_id": teams["cmht"]["id"]})
    assert r.status_code == 200 and r.headers["ETag"] == etag_of(2)


def test_coordinator_cannot_triage(service, api, db, teams):
    referral = refer(api, new_person(api)["id"])
    coordinator = Staff(service, db, teams["cmht"]["id"], "coordinator")
    try:
        assert_problem(triage(coordinator.api, referral, team_id=teams["cmht"]["id"]), 403)
    finally:
        coordinator.close()


# -- decisions (R-REF-2, R-REF-4) ------------------------------------------------------------


def test_r_ref_4_accepting_opens_the_episode_in_the_same_transaction(api, service, db, triaged,
                                                                      teams):
    r = decide(api, triaged, "accept", care_level="cpa", reason="Meets criteria for CMHT.")
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["status"] == "accepted" and accepted["decided_by"] == "carecoord-api-tests"
    episode = tuple(db.one("SELECT service_user_id::text, team_id::text, referral_id::text, care_level,"
                     " care_level_provisional, status FROM episodes WHERE id = %s",
                     (accepted["episode_id"],)).values())
    assert episode == (triaged["service_user_id"], teams["cmht"]["id"], triaged["id"], "cpa",
                       True, "open")
    history = db.rows("SELECT from_level, to_level, changed_by FROM episode_care_level_changes"
                      " WHERE episode_id = %s", (accepted["episode_id"],))
    assert [tuple(h.values()) for h in history] == [(None, "cpa", "carecoord-api-tests")]
    assert [e["action"] for e in events(db, "episode", accepted["episode_id"])] == ["create"]
    assert ("update", {"from": "triaged", "to": "accepted"}) in [
        (e["action"], e["details"]) for e in events(db, "referral", triaged["id"])]
    # the person has left intake: the responding team's manager now holds the record
    team_manager = Staff(service, db, teams["cmht"]["id"], "manager")
    try:
        episode = team_manager.api.get(f"/episodes/{accepted['episode_id']}")
        assert episode.status_code == 200, episode.text
        assert episode.json()["care_level"] == "cpa"
        assert episode.json()["care_level_provisional"] is True
    finally:
        team_manager.close()


def test_r_ref_4_accept_when_the_team_already_has_an_open_episode_is_409_and_writes_nothing(
        api, db, teams):
    person = new_person(api)
    db.execute("INSERT INTO episodes (service_user_id, team_id) VALUES (%s, %s)",
               (person["id"], teams["cmht"]["id"]))
    referral = refer(api, person["id"])
    assert triage(api, referral, team_id=teams["cmht"]["id"]).status_code == 200
    before = db.counts("episodes", "episode_care_level_changes", "audit_events")
    assert_problem(decide(api, referral, "accept", care_level="non_cpa"), 409, "conflict")
    assert db.counts("episodes", "episode_care_level_changes", "audit_events") == before
    assert db.scalar("SELECT status FROM referrals WHERE id = %s", (referral["id"],)) == "triaged"


@pytest.mark.parametrize("decision,extra,field", [
    ("decline", {}, "/reason"),
    ("redirect", {"redirected_to": "NHS Talking Therapies"}, "/reason"),
    ("redirect", {"reason": "Primary care need."}, "/redirected_to"),
    ("accept", {}, "/care_level"),
    ("decline", {"reason": "No need.", "care_level": "cpa"}, "/care_level"),
    ("accept", {"care_level": "cpa", "redirected_to": "GP"}, "/redirected_to"),
    ("approve", {}, "/decision"),
])
def test_r_ref_2_decisions_need_their_reasons(api, db, triaged, decision, extra, field):
    assert_validation(decide(api, triaged, decision, **extra), field)
    assert db.scalar("SELECT status FROM referrals WHERE id = %s", (triaged["id"],)) == "triaged"


def test_r_ref_2_decline_and_redirect_record_reason_and_place(api, teams):
    for decision, extra in [("decline", {"reason": "Needs met by GP."}),
                            ("redirect", {"reason": "Primary care need.",
                                          "redirected_to": "NHS Talking Therapies"})]:
        referral = refer(api, new_person(api)["id"])
        assert triage(api, referral, team_id=teams["cmht"]["id"]).status_code == 200
        r = decide(api, referral, decision, **extra)
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["status"] == {"decline": "declined", "redirect": "redirected"}[decision]
        assert done["decision_reason"] == extra["reason"] and done["episode_id"] is None
        assert done["redirected_to"] == extra.get("redirected_to")


ALL_DECISIONS = [("accept", {"care_level": "non_cpa"}), ("decline", {"reason": "r"}),
                 ("redirect", {"reason": "r", "redirected_to": "GP"}), ("withdraw", {})]


@pytest.mark.parametrize("decision,extra", ALL_DECISIONS[:3], ids=lambda v: str(v)[:8])
def test_r_ref_2_no_decision_before_triage(api, db, decision, extra):
    referral = refer(api, new_person(api)["id"])
    body = assert_problem(decide(api, referral, decision, **extra), 409, "conflict")
    assert "is received" in body["detail"], body
    assert db.count("episodes", "referral_id = %s", (referral["id"],)) == 0


@pytest.mark.parametrize("final", ["accepted", "declined", "redirected", "withdrawn"])
def test_r_ref_2_a_decided_referral_never_changes_again(api, db, teams, final):
    referral = refer(api, new_person(api)["id"])
    assert triage(api, referral, team_id=teams["cmht"]["id"]).status_code == 200
    verb = {"accepted": "accept", "declined": "decline", "redirected": "redirect",
            "withdrawn": "withdraw"}[final]
    first = decide(api, referral, verb, **dict(ALL_DECISIONS)[verb])
    assert first.status_code == 200 and first.json()["status"] == final, first.text
    for decision, extra in ALL_DECISIONS:
        body = assert_problem(decide(api, referral, decision, **extra), 409, "conflict")
        assert f"is {final}" in body["detail"], body
    body = assert_problem(triage(api, referral, team_id=teams["cmht"]["id"]), 409, "conflict")
    assert f"is {final}" in body["detail"]
    assert db.scalar("SELECT version FROM referrals WHERE id = %s", (referral["id"],)) == 3
    assert db.count("episodes", "referral_id = %s", (referral["id"],)) == (final == "accepted")


def test_r_ref_2_withdraw_before_triage(api):
    referral = refer(api, new_person(api)["id"])
    r = decide(api, referral, "withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text


def test_concurrent_decisions_exactly_one_wins(api, service, db, triaged):
    barrier, results = threading.Barrier(2), []

    def send(decision, extra):
        with service.api() as s:
            barrier.wait()
            results.append(decide(s, triaged, decision, **extra))

    threads = [threading.Thread(target=send, args=a) for a in
               [("accept", {"care_level": "cpa"}), ("decline", {"reason": "No need."})]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    final = db.scalar("SELECT status FROM referrals WHERE id = %s", (triaged["id"],))
    assert db.count("episodes", "referral_id = %s", (triaged["id"],)) == (final == "accepted")


def test_referrer_may_withdraw_but_not_decide(service, db, teams):
    coordinator = Staff(service, db, teams["cmht"]["id"], "coordinator")
    manager = Staff(service, db, teams["cmht"]["id"], "manager")
    try:
        referral = refer(coordinator.api, new_person(manager.api)["id"], source_type="other_team")
        assert referral["created_by"] == coordinator.sub
        assert coordinator.api.get(f"/referrals/{referral['id']}").status_code == 200
        assert triage(manager.api, referral, team_id=teams["cmht"]["id"]).status_code == 200
        r = decide(coordinator.api, referral, "accept", care_level="cpa")
        assert_problem(r, 403, "forbidden")
        assert [e["outcome"] for e in events(db, "referral", referral["id"], coordinator.sub)
                if e["action"] == "deny"] == ["denied"]
        r = decide(coordinator.api, referral, "withdraw", reason="Seen by the GP instead.")
        assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    finally:
        coordinator.close()
        manager.close()


def test_other_clinicians_cannot_read_a_referral_without_a_relationship(service, api, db, teams):
    referral = refer(api, new_person(api)["id"])
    stranger = Staff(service, db, teams["cmht"]["id"], "coordinator")
    try:
        assert_problem(stranger.api.get(f"/referrals/{referral['id']}"), 403, "forbidden")
        r = stranger.api.get(f"/referrals/{referral['id']}",
                             headers={"X-Break-Glass-Reason": "Crisis call, duty cover tonight"})
        assert r.status_code == 200, r.text
        assert [e["action"] for e in events(db, "referral", referral["id"], stranger.sub)] == [
            "deny", "break_glass"]
        assert stranger.api.get("/referrals", params={"service_user_id": referral["service_user_id"]}).json()["items"] == []
    finally:
        stranger.close()


def test_manager_of_another_team_loses_sight_once_triaged_elsewhere(service, api, db, teams):
    person = new_person(api)
    other_team = new_team(api)
    db.execute("INSERT INTO episodes (service_user_id, team_id) VALUES (%s, %s)",
               (person["id"], other_team["id"]))  # not in intake: the person has an open episode
    referral = refer(api, person["id"])
    outsider = Staff(service, db, new_team(api)["id"], "manager")
    try:
        assert outsider.api.get(f"/referrals/{referral['id']}").status_code == 200  # screening
        assert triage(api, referral, team_id=teams["cmht"]["id"]).status_code == 200
        assert_problem(outsider.api.get(f"/referrals/{referral['id']}"), 403, "forbidden")
    finally:
        outsider.close()


# -- reads, lists and their audit ------------------------------------------------------------


def test_every_read_is_audited_with_the_person(api, db, triaged):
    r = api.get(f"/referrals/{triaged['id']}")
    assert r.status_code == 200 and r.headers["ETag"] == etag_of(triaged["version"])
    reads = [e for e in events(db, "referral", triaged["id"]) if e["action"] == "read"]
    assert len(reads) == 1 and reads[0]["service_user_id"] == triaged["service_user_id"]
    api.get("/referrals", params={"service_user_id": triaged["service_user_id"]})
    listed = db.rows("SELECT details FROM audit_events WHERE resource_type = 'referral'"
                     " AND resource_id IS NULL AND details -> 'ids' ? %s", (triaged["id"],))
    assert [e["details"]["service_user_ids"] for e in listed] == [[triaged["service_user_id"]]]
    log = api.get(f"/service-users/{triaged['service_user_id']}/access-log").json()["items"]
    assert sum(1 for e in log if e["action"] == "read") >= 2


def test_unknown_or_malformed_referral_is_404(api):
    assert_problem(api.get(f"/referrals/{uuid.uuid4()}"), 404, "not-found")
    assert_problem(api.get("/referrals/not-a-uuid"), 404, "not-found")
    assert_problem(decide(api, {"id": str(uuid.uuid4())}, "withdraw"), 404, "not-found")


def test_manager_lists_filter_by_status_urgency_team_and_overdue(api, teams):
    person = new_person(api)
    old = refer(api, person["id"], urgency="emergency", received_at="2026-01-01T00:00:00Z")
    fresh = refer(api, person["id"], urgency="routine")
    routed = refer(api, person["id"], urgency="urgent")
    assert triage(api, routed, urgency="urgent", team_id=teams["crisis"]["id"]).status_code == 200

    def ids(**params):
        items, _ = paginate(api, "/referrals", {"service_user_id": person["id"], **params})
        return [i["id"] for i in items]

    assert ids() == [old["id"], routed["id"], fresh["id"]]  # by response due time
    assert ids(status="received") == [old["id"], fresh["id"]]
    assert ids(urgency="urgent") == [routed["id"]]
    assert ids(team_id=teams["crisis"]["id"]) == [routed["id"]]
    assert ids(overdue="true") == [old["id"]]
    assert ids(overdue="false") == [routed["id"], fresh["id"]]
    assert ids(source_type="police") == []


@pytest.mark.parametrize("query", ["status=open", "urgency=high", "overdue=yes", "team_id=x",
                                   "limit=0", "cursor=abc", "colour=red"])
def test_bad_list_queries_are_400(api, query):
    assert_problem(api.get(f"/referrals?{query}"), 400)


def test_reporting_role_is_refused(service, db):
    token = mint_token(service.env, sub=unique("report-"), roles=("reporting",))
    with service.api(token=token) as reporting:
        assert_problem(reporting.get("/referrals"), 403, "forbidden")
        assert_problem(reporting.post("/referrals", json=referral_body(service_user=identity())),
                       403, "forbidden")
