"""Sharing with partner agencies (seed 000 §2.5, seed 004): clinical staff share part of an
episode's record with a registered partner organisation, naming the lawful basis and choosing the
minimum data set; the partner's system reads only what is addressed to it, acknowledges it, and
accepts or rejects referrals and transfers (R-TRF-1). Every read and change is audited with the
person (R-AUD-1), and each organisation's event feed is written in the same transaction."""

import datetime
from types import SimpleNamespace

import pytest

from care_setup import (allocation_body, events, new_person, new_team, open_episode,
                        partner_api, register_partner, staff, manager)  # noqa: F401 (fixtures)
from carecoord import (assert_problem, assert_validation, create, etag_of,
                       full_service_user_payload, unique)
from fhir_schema import assert_valid_fhir

CRISIS = {"early_warning_signs": "Sleeping less", "what_person_should_do": "Call the crisis line",
          "what_others_should_do": "Call the crisis team",
          "contacts_24_7": [{"name": "Crisis team", "number": "0113 496 0000"}]}
CONTINGENCY = {"contact_name": "Duty worker", "contact_phone": "0113 496 0001"}
PLAN = {"needs": [{"domain": "housing", "description": "Rent arrears"}],
        "goals": [{"in_own_words": "Keep my flat", "target_date": "2027-03-31"}],
        "interventions": [{"what": "Benefits advice", "delivered_by": "agency",
                           "provider_name": "Citizens Advice", "frequency": "Fortnightly"}],
        "crisis_plan": CRISIS, "contingency_plan": CONTINGENCY,
        "persons_views": "Happy with the plan", "advance_statements": "No ECT"}
PROBATION_HOLDER = {"name": "Sam Reed", "organisation": "Probation Service",
                    "contact": "0113 496 0200"}


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api))


@pytest.fixture(scope="module")
def orgs(service, database):
    """Two Adult Social Care organisations and a probation service, registered."""
    made = SimpleNamespace(asc=unique("asc-"), other_asc=unique("asc-"),
                           probation=unique("probation-"))
    for code, kind in ((made.asc, "adult_social_care"), (made.other_asc, "adult_social_care"),
                       (made.probation, "probation")):
        assert register_partner(service, database, code, kind).returncode == 0
    return made


@pytest.fixture(scope="module")
def partners(service, orgs):
    sessions = {name: partner_api(service, getattr(orgs, name), sub=f"{name}-system")
                for name in ("asc", "other_asc", "probation")}
    yield SimpleNamespace(**sessions)
    for s in sessions.values():
        s.close()


@pytest.fixture
def held(api, db, teams, manager, staff):
    """A person (with an address and GP) whose CPA episode has a care co-ordinator."""
    person = create(api, "/service-users", full_service_user_payload())
    episode_id = open_episode(db, person["id"], teams.cmht["id"])
    coordinator = staff()
    r = manager.api.post(f"/episodes/{episode_id}/allocations",
                         json=allocation_body(coordinator.id))
    assert r.status_code == 201, r.text
    return SimpleNamespace(id=episode_id, person=person, coordinator=coordinator)


def care_act(org, **over):
    body = {"org": org, "kind": "care_act_assessment_referral",
            "lawful_basis": {"basis": "consent", "consent_given_on": "2026-11-20"},
            "data_set": ["person", "needs_summary"],
            "needs_summary": "Struggling with personal care since her mother died",
            "message": "Please assess under the Care Act"}
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def share(who, episode_id, body, **kw):
    return who.api.post(f"/episodes/{episode_id}/partner-shares", json=body, **kw)


def shared(who, episode_id, body):
    r = share(who, episode_id, body)
    assert r.status_code == 201, r.text
    return r.json()


def feed(partner, after=0):
    r = partner.get("/partners/me/events", params={"after": after})
    assert r.status_code == 200, r.text
    return r.json()


def share_events(db, org, share_id):
    return [e["type"] for e in db.rows(
        "SELECT type FROM partner_events WHERE org = %s AND resource_id = %s ORDER BY seq",
        (org, share_id))]


def test_a_care_act_referral_carries_only_the_items_chosen(held, orgs, partners, db):
    """The minimum necessary: the person's identity and the needs written for the referral;
    not the address, the risks, the care plan or the clinical record."""
    s = shared(held.coordinator, held.id, care_act(orgs.asc))
    assert (s["status"], s["org"], s["data_set"]) == ("sent", orgs.asc, ["person", "needs_summary"])
    assert set(s["content"]) == {"person", "needs_summary"}
    person = held.person
    assert s["content"]["person"] == {
        "id": person["id"], "nhs_number": person["nhs_number"], "given_name": person["given_name"],
        "family_name": person["family_name"], "date_of_birth": person["date_of_birth"],
        "gender": person["gender"]}
    r = partners.asc.get(f"/partners/me/shares/{s['id']}")
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["content"] == s["content"] and seen["lawful_basis"] == {
        "basis": "consent", "consent_given_on": "2026-11-20", "note": None}
    # Nothing of the trust's workings: who did it, the episode's and person's own fields.
    assert not {"created_by", "episode_id", "service_user_id", "carer_id"} & set(seen)
    assert "address" not in r.text and person["address"]["postcode"] not in r.text
    read = events(db, "partner_share", s["id"], actor="asc-system")
    assert [(e["action"], str(e["service_user_id"])) for e in read] == [("read", person["id"])]
    created = events(db, "partner_share", s["id"], actor=held.coordinator.sub)
    assert created[0]["action"] == "create" and created[0]["details"]["data_set"] == \
        ["person", "needs_summary"]


def test_another_organisation_never_sees_a_share_and_the_attempt_is_audited(held, orgs,
                                                                            partners, db):
    s = shared(held.coordinator, held.id, care_act(orgs.asc))
    for attempt in (lambda p: p.get(f"/partners/me/shares/{s['id']}"),
                    lambda p: p.post(f"/partners/me/shares/{s['id']}/acknowledgement"),
                    lambda p: p.post(f"/partners/me/shares/{s['id']}/decision",
                                     json={"decision": "accepted"},
                                     headers={"If-Match": etag_of(1)})):
        assert_problem(attempt(partners.other_asc), 404)
    denied = events(db, "partner_share", s["id"], actor="other_asc-system")
    assert [(e["action"], e["outcome"]) for e in denied] == [("deny", "denied")] * 3
    assert db.scalar("SELECT status FROM partner_shares WHERE id = %s", (s["id"],)) == "sent"
    assert s["id"] not in [i["id"] for i in
                           partners.other_asc.get("/partners/me/shares").json()["items"]]
    assert not [e for e in feed(partners.other_asc)["events"]
                if e["resource"]["id"] == s["id"]]
    # Nor does a partner reach anything of the record that was not shared with it: the clinical
    # routes refuse its role, and each refusal is audited.
    for path in (f"/episodes/{held.id}/partner-shares", f"/episodes/{held.id}",
                 f"/service-users/{held.person['id']}", f"/episodes/{held.id}/care-plans",
                 f"/service-users/{held.person['id']}/carers",
                 f"/episodes/{held.id}/partner-shares/{s['id']}"):
        assert_problem(partners.asc.get(path), 403)
    refused = db.rows("SELECT resource_id FROM audit_events WHERE actor = 'asc-system'"
                      " AND action = 'deny'")
    assert {r["resource_id"] for r in refused} >= {held.id, held.person["id"]}


@pytest.mark.parametrize("over, field", [
    ({"data_set": ["person", "needs_summary", "care_plan"]}, "/data_set"),
    ({"data_set": ["person"], "needs_summary": None}, "/data_set"),
    ({"data_set": ["person", "needs_summary", "gossip"]}, "/data_set/2"),
    ({"data_set": ["person", "needs_summary", "person"]}, "/data_set/2"),
    ({"risk_summary": "Low"}, "/risk_summary"),
    ({"lawful_basis": {"basis": "consent"}}, "/lawful_basis/consent_given_on"),
    ({"lawful_basis": {"basis": "consent", "consent_given_on": "2999-01-01"}},
     "/lawful_basis/consent_given_on"),
    ({"lawful_basis": {"basis": "safeguarding"}}, "/lawful_basis/note"),
    ({"lawful_basis": {"basis": "hunch", "note": "x"}}, "/lawful_basis/basis"),
    ({"carer_id": "00000000-0000-4000-8000-000000000000"}, "/carer_id"),
    ({"org": "nobody-we-know"}, "/org"),
    ({"kind": "transfer", "data_set": ["person", "transfer", "episode", "care_team"],
      "transfer_id": "00000000-0000-4000-8000-000000000000", "needs_summary": None}, "/org"),
])
def test_bad_shares_are_refused_and_nothing_is_written(held, orgs, db, over, field):
    # (The transfer goes to Adult Social Care: transfers go to probation or a drug and alcohol
    # service.)
    body = {k: v for k, v in {**care_act(orgs.asc), **over}.items() if v is not None}
    before = db.counts("partner_shares", "partner_events")
    assert_validation(share(held.coordinator, held.id, body), field)
    assert db.counts("partner_shares", "partner_events") == before


def test_a_clinician_without_a_relationship_cannot_share(held, orgs, staff, db):
    stranger = staff()
    assert_problem(share(stranger, held.id, care_act(orgs.asc)), 403)
    assert db.count("partner_shares", "episode_id = %s", (held.id,)) == 0
    denied = events(db, "partner_share", actor=stranger.sub)
    assert [e["action"] for e in denied] == ["deny"]


def test_a_retried_share_makes_one_share_and_one_event(held, orgs, db):
    key = {"Idempotency-Key": unique("share-")}
    first = share(held.coordinator, held.id, care_act(orgs.asc), headers=key)
    again = share(held.coordinator, held.id, care_act(orgs.asc), headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert db.count("partner_shares", "episode_id = %s", (held.id,)) == 1
    assert share_events(db, orgs.asc, first.json()["id"]) == ["share.sent"]


def test_the_partner_acknowledges_then_answers_and_each_step_is_an_event(held, orgs, partners,
                                                                         db):
    s = shared(held.coordinator, held.id, care_act(orgs.asc))
    start = feed(partners.asc)["last_event_seq"] - 1
    ack = partners.asc.post(f"/partners/me/shares/{s['id']}/acknowledgement")
    assert ack.status_code == 200, ack.text
    assert (ack.json()["status"], ack.headers["ETag"]) == ("acknowledged", etag_of(2))
    # A retried acknowledgement changes nothing.
    assert partners.asc.post(f"/partners/me/shares/{s['id']}/acknowledgement").json() == ack.json()
    path = f"/partners/me/shares/{s['id']}/decision"
    assert_problem(partners.asc.post(path, json={"decision": "rejected"},
                                     headers={"If-Match": etag_of(2)}), 422)
    assert_problem(partners.asc.post(path, json={"decision": "accepted"},
                                     headers={"If-Match": etag_of(1)}), 412)
    assert_problem(partners.asc.post(path, json={"decision": "accepted"}), 428)
    done = partners.asc.post(path, json={"decision": "accepted"}, headers={"If-Match": etag_of(2)})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "accepted"
    assert_problem(partners.asc.post(path, json={"decision": "rejected",
                                                 "rejection_reason": "Changed our minds"},
                                     headers={"If-Match": etag_of(3)}), 409)
    page = feed(partners.asc, after=start)
    mine = [(e["type"], e["resource"]["version"]) for e in page["events"]
            if e["resource"]["id"] == s["id"]]
    assert mine == [("share.sent", 1), ("share.acknowledged", 2), ("share.accepted", 3)]
    seqs = [e["seq"] for e in page["events"]]
    assert seqs == list(range(start + 1, start + 1 + len(seqs)))
    assert page["next_after"] == seqs[-1]
    row = db.one("SELECT decided_by, acknowledged_by FROM partner_shares WHERE id = %s", (s["id"],))
    assert row["decided_by"] == f"{orgs.asc}/asc-system"
    updates = [e["action"] for e in events(db, "partner_share", s["id"], actor="asc-system")]
    assert updates == ["update", "update"]


def test_a_carer_assessment_referral_needs_the_carers_consent_or_the_care_act_duty(
        held, api, orgs, partners):
    carer = held.coordinator.api.post(f"/service-users/{held.person['id']}/carers", json={
        "name": "Samira Begum", "relationship": "sister", "contact": {"phone": "07700 900123"},
        "under_18": False, "lives_with_person": True})
    assert carer.status_code == 201, carer.text
    carer = carer.json()
    body = {"org": orgs.asc, "kind": "carer_assessment_referral", "carer_id": carer["id"],
            "lawful_basis": {"basis": "safeguarding", "note": "Care Act 2014 s.42"},
            "data_set": ["person", "carer"]}
    assert_validation(share(held.coordinator, held.id, body), "/lawful_basis/basis")
    body["data_set"] = ["person", "carer", "person_contact"]
    body["lawful_basis"] = {"basis": "care_act_duty", "note": "Care Act 2014 s.10"}
    assert_validation(share(held.coordinator, held.id, body), "/data_set")
    # Only this person's carers: any other id is refused.
    elsewhere = dict(body, data_set=["person", "carer"], carer_id=new_person(api)["id"])
    assert_validation(share(held.coordinator, held.id, elsewhere), "/carer_id")
    s = shared(held.coordinator, held.id, dict(body, data_set=["person", "carer"]))
    assert s["content"]["carer"]["name"] == "Samira Begum"
    assert set(s["content"]) == {"person", "carer"}
    assert partners.asc.get(f"/partners/me/shares/{s['id']}").json()["content"] == s["content"]


def test_a_care_plan_shares_its_active_version_and_is_only_acknowledged(held, orgs, partners):
    plans = f"/episodes/{held.id}/care-plans"
    draft = held.coordinator.api.post(plans, json=PLAN)
    assert draft.status_code == 201, draft.text
    draft = draft.json()
    body = {"org": orgs.probation, "kind": "care_plan", "care_plan_id": draft["id"],
            "lawful_basis": {"basis": "consent", "consent_given_on": "2026-11-25"},
            "data_set": ["person", "care_plan"]}
    assert_validation(share(held.coordinator, held.id, body), "/care_plan_id")
    active = held.coordinator.api.post(f"{plans}/{draft['id']}/activate",
                                       headers={"If-Match": etag_of(draft["version"])})
    assert active.status_code == 200, active.text
    s = shared(held.coordinator, held.id, body)
    plan = s["content"]["care_plan"]
    assert (plan["id"], plan["plan_version"], plan["status"]) == (draft["id"], 1, "active")
    assert plan["crisis_plan"] == CRISIS and plan["goals"] == PLAN["goals"]
    # The person's own views and advance statements stay in the trust.
    assert "persons_views" not in plan and "advance_statements" not in plan
    assert s["care_plan_version"] == 1
    decision = partners.probation.post(f"/partners/me/shares/{s['id']}/decision",
                                       json={"decision": "accepted"},
                                       headers={"If-Match": etag_of(1)})
    assert_problem(decision, 409)
    assert partners.probation.post(
        f"/partners/me/shares/{s['id']}/acknowledgement").json()["status"] == "acknowledged"


def test_a_transfer_to_probation_is_decided_by_the_partner_R_TRF_1(held, orgs, partners, db):
    transfers = f"/episodes/{held.id}/transfers"
    t = held.coordinator.api.post(transfers, json={"type": "partner_agency",
                                                   "reason": "Community DRR",
                                                   "receiving_external": PROBATION_HOLDER})
    assert t.status_code == 201, t.text
    t = t.json()
    body = {"org": orgs.probation, "kind": "transfer", "transfer_id": t["id"],
            "lawful_basis": {"basis": "court_order", "note": "Drug rehabilitation requirement"},
            "data_set": ["person", "transfer", "episode", "care_team", "risk_summary"],
            "risk_summary": "No current risk to others"}
    s = shared(held.coordinator, held.id, body)
    assert s["content"]["care_team"]["holder"]["name"]
    assert s["content"]["transfer"]["status"] == "proposed"
    # Offered to one partner at a time.
    assert_problem(share(held.coordinator, held.id, body), 409)
    r = partners.probation.post(f"/partners/me/shares/{s['id']}/decision",
                                json={"decision": "rejected",
                                      "rejection_reason": "Order not yet made"},
                                headers={"If-Match": etag_of(1)})
    assert r.status_code == 200, r.text
    after = db.one("SELECT status, decided_by, rejection_reason FROM transfers WHERE id = %s",
                   (t["id"],))
    assert (after["status"], after["decided_by"], after["rejection_reason"]) == \
        ("rejected", f"{orgs.probation}/probation-system", "Order not yet made")
    audited = events(db, "transfer", t["id"], actor="probation-system")
    assert [e["details"]["changes"][0]["new"] for e in audited] == ["rejected"]
    # The sender sees the answer on its own routes.
    mine = held.coordinator.api.get(f"/episodes/{held.id}/partner-shares/{s['id']}").json()
    assert (mine["status"], mine["rejection_reason"]) == ("rejected", "Order not yet made")


def test_a_withdrawn_share_can_no_longer_be_answered(held, orgs, partners, db):
    s = shared(held.coordinator, held.id, care_act(orgs.asc))
    path = f"/episodes/{held.id}/partner-shares/{s['id']}/withdraw"
    assert_problem(held.coordinator.api.post(path, json={"reason": "Sent in error"}), 428)
    r = held.coordinator.api.post(path, json={"reason": "Sent in error"},
                                  headers={"If-Match": etag_of(1)})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["withdrawal_reason"]) == ("withdrawn", "Sent in error")
    seen = partners.asc.get(f"/partners/me/shares/{s['id']}").json()
    assert seen["status"] == "withdrawn" and "withdrawal_reason" not in seen
    assert_problem(partners.asc.post(f"/partners/me/shares/{s['id']}/acknowledgement"), 409)
    assert_problem(partners.asc.post(f"/partners/me/shares/{s['id']}/decision",
                                     json={"decision": "accepted"},
                                     headers={"If-Match": etag_of(2)}), 409)
    assert share_events(db, orgs.asc, s["id"]) == ["share.sent", "share.withdrawn"]
    with pytest.raises(Exception, match="cannot change"):
        db.execute("UPDATE partner_shares SET content = '{}' WHERE id = %s", (s["id"],))


def test_the_inbox_lists_states_not_content_a_page_at_a_time(held, orgs, partners):
    made = [shared(held.coordinator, held.id, care_act(orgs.asc))["id"] for _ in range(3)]
    r = partners.asc.get("/partners/me/shares", params={"limit": 2, "status": "sent"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [i["id"] for i in page["items"]] == made[::-1][:2]
    assert set(page["items"][0]) == {"id", "kind", "status", "created_at", "updated_at",
                                     "version", "href"}
    rest = partners.asc.get("/partners/me/shares",
                            params={"limit": 2, "status": "sent", "cursor": page["next_cursor"]})
    assert rest.json()["items"][0]["id"] == made[0]
    assert_problem(partners.asc.get("/partners/me/shares", params={"status": "lost"}), 400)


def test_the_feed_resumes_after_any_event_and_refuses_bad_positions(partners):
    whole = feed(partners.asc)
    assert whole["events"], "earlier tests made events"
    seqs = [e["seq"] for e in whole["events"]]
    assert seqs == sorted(seqs) and seqs[0] == 1
    middle = seqs[len(seqs) // 2]
    expected = [e for e in whole["events"] if e["seq"] > middle]
    assert feed(partners.asc, after=middle)["events"][:len(expected)] == expected
    last = feed(partners.asc, after=whole["last_event_seq"])
    assert (last["events"], last["next_after"]) == ([], whole["last_event_seq"])
    for bad in ("-1", "x", "1.5", ""):
        assert_problem(partners.asc.get("/partners/me/events", params={"after": bad}), 400)
    event = whole["events"][0]
    assert set(event) == {"seq", "type", "occurred_at", "resource"}
    assert event["resource"]["href"] == f"/partners/me/shares/{event['resource']['id']}"


# -- FHIR R4 -------------------------------------------------------------------------------------


def fhir_get(partner, path):
    r = partner.get(path, headers={"Accept": "application/fhir+json"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/fhir+json")
    return r.json()


def resources_of(bundle):
    return {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}


def test_shares_are_served_as_valid_fhir_r4_with_only_the_items_shared(held, orgs, partners):
    transfer = held.coordinator.api.post(f"/episodes/{held.id}/transfers", json={
        "type": "partner_agency", "reason": "Community DRR",
        "receiving_external": PROBATION_HOLDER}).json()
    transfer_share = shared(held.coordinator, held.id, {
        "org": orgs.probation, "kind": "transfer", "transfer_id": transfer["id"],
        "lawful_basis": {"basis": "court_order", "note": "Drug rehabilitation requirement"},
        "data_set": ["person", "transfer", "episode", "care_team"]})
    referral = shared(held.coordinator, held.id, care_act(orgs.asc))
    bundles = [fhir_get(partners.probation, f"/partners/me/shares/{transfer_share['id']}"),
               fhir_get(partners.asc, f"/partners/me/shares/{referral['id']}")]
    assert_valid_fhir(bundles)
    task = resources_of(bundles[0])
    assert set(task) == {"Task", "Patient", "EpisodeOfCare", "CareTeam"}
    assert (task["Task"]["status"], task["Task"]["meta"]["versionId"]) == ("requested", "1")
    patient = resources_of(bundles[1])["Patient"]
    assert patient["identifier"] == [{"system": "https://fhir.nhs.uk/Id/nhs-number",
                                      "value": held.person["nhs_number"]}]
    # Not shared, so not there: no address, no GP, no care team in the Care Act referral.
    assert "address" not in patient and "generalPractitioner" not in patient
    assert set(resources_of(bundles[1])) == {"ServiceRequest", "Patient"}
    assert bundles[1]["entry"][0]["resource"]["meta"]["lastUpdated"]
    # JSON stays the default, and other media types are refused.
    assert partners.asc.get(f"/partners/me/shares/{referral['id']}").headers[
        "Content-Type"].startswith("application/json")
    assert_problem(partners.asc.get(f"/partners/me/shares/{referral['id']}",
                                    headers={"Accept": "application/xml"}), 406)


def test_a_partners_referral_is_served_as_a_fhir_service_request(service, api, orgs, partners):
    r = partners.asc.post("/referrals", json={
        "source_type": "adult_social_care", "referrer_name": "Duty social worker",
        "referrer_contact": "0113 496 0300", "reason": "Low mood.", "urgency": "urgent",
        "external_reference": "ASC-4411",
        "service_user": {"nhs_number": full_service_user_payload()["nhs_number"],
                         "given_name": "Sam", "family_name": unique("Fhir"),
                         "date_of_birth": "1990-02-03"}})
    assert r.status_code == 201, r.text
    request = fhir_get(partners.asc, f"/referrals/{r.json()['id']}")
    assert_valid_fhir(request)
    assert (request["resourceType"], request["status"], request["priority"]) == \
        ("ServiceRequest", "active", "urgent")
    assert request["meta"]["versionId"] == "1"
    assert {"value": "ASC-4411"}.items() <= request["identifier"][0].items()
    # Clinical callers have the record itself, not a partner's rendering of it.
    assert_problem(api.get(f"/referrals/{r.json()['id']}",
                           headers={"Accept": "application/fhir+json"}), 406)
