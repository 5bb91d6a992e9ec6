"""Carers (DOMAIN.md care cycle step 7; R-CAR-1, R-CAR-2): who cares for the person, young
carers, the person's consent to share information and what it covers, the carer's own
assessment and the yearly review of their needs, and the consent enforced where a care plan is
sent to a carer; access and the audit trail (R-AUD-1)."""

import calendar
import datetime
import uuid
from types import SimpleNamespace

import pytest

from care_setup import (  # staff, manager and episode are fixtures
    episode,
    manager,
    staff,
    allocation_body,
    assert_conforms,
    events,
    london_date,
    new_person,
    new_team,
)
from carecoord import assert_problem, assert_validation, etag_of, mint_token, paginate

REASON = "Crisis call out of hours, coordinator unreachable"


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api))


@pytest.fixture
def held(manager, staff, episode):
    coordinator = staff()
    r = manager.api.post(f"/episodes/{episode.id}/allocations", json=allocation_body(coordinator.id))
    assert r.status_code == 201, r.text
    return SimpleNamespace(id=episode.id, person=episode.person, coordinator=coordinator)


def path(person_id, *rest):
    return "/".join([f"/service-users/{person_id}/carers", *rest])


def carer_body(**over):
    body = {"name": "Samira Begum", "relationship": "sister",
            "contact": {"phone": "07700 900123"}, "under_18": False,
            "lives_with_person": False}
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def consent(*scope, given=True, on="2026-11-20"):
    return {"given": given, "recorded_on": on, "scope": list(scope)}


def create(who, person_id, body=None):
    r = who.api.post(path(person_id), json=carer_body() if body is None else body)
    assert r.status_code == 201, r.text
    return r.json()


def patch(who, carer, body, version=None):
    return who.api.patch(path(carer["service_user_id"], carer["id"]), json=body,
                         headers={"If-Match": etag_of(version or carer["version"])})


def rules_of(problem):
    return {(e["field"], e.get("rule")) for e in problem["errors"]}


def today():
    return london_date(datetime.datetime.now(datetime.timezone.utc))


def add_months(date, months):
    month0 = date.month - 1 + months
    year, month = date.year + month0 // 12, month0 % 12 + 1
    return datetime.date(year, month, min(date.day, calendar.monthrange(year, month)[1]))


def test_a_carer_is_recorded_read_listed_and_changed_R_CAR_1_R_AUD_1(service, db, held):
    c = held.coordinator
    person = held.person["id"]
    r = c.api.post(path(person), json=carer_body(consent=consent("care_plan", "reviews"),
                                                 information_given_on="2026-11-20"))
    assert r.status_code == 201, r.text
    carer = r.json()
    assert_conforms(service.env.repo, "Carer", carer)
    assert r.headers["Location"] == path(person, carer["id"]) and r.headers["ETag"] == etag_of(carer["version"])
    assert (carer["service_user_id"], carer["young_carer"], carer["assessment_offer_outstanding"]) == \
        (person, False, True)
    assert carer["consent"] == consent("care_plan", "reviews")
    assert carer["identified_on"] == today().isoformat()
    assert carer["needs_review"] == {"due": add_months(today(), 12).isoformat(), "overdue": False,
                                     "completed": None, "rule": "R-CAR-2"}
    got = c.api.get(path(person, carer["id"]))
    assert got.status_code == 200 and got.json() == carer
    second = create(c, person, carer_body(name="Jo Begum", relationship="daughter",
                                          date_of_birth="2011-04-02", under_18=None,
                                          lives_with_person=True, contact={"address": "Same address"}))
    assert second["young_carer"] is True  # R-CAR-1: under 18 by the date of birth
    items, _ = paginate(c.api, path(person), limit=1)
    assert [i["id"] for i in items] == [carer["id"], second["id"]]

    assert_problem(c.api.patch(path(person, carer["id"]), json={"relationship": "aunt"}), 428)
    r = patch(c, carer, {"contact": {"email": "samira@example.org"}, "relationship": "aunt"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["contact"] == {"phone": "07700 900123", "email": "samira@example.org"}
    assert (changed["relationship"], changed["version"]) == ("aunt", carer["version"] + 1)
    assert_problem(patch(c, carer, {"relationship": "lost update"}), 412)
    trail = events(db, "carer", carer["id"])
    assert [e["action"] for e in trail] == ["create", "read", "update"]
    assert {ch["field"] for ch in trail[-1]["details"]["changes"]} == {"contact", "relationship"}
    assert "samira@example.org" not in str(trail[-1]["details"])
    assert all(str(e["service_user_id"]) == person for e in trail)


@pytest.mark.parametrize("body, field, rule", [
    (carer_body(under_18=None), "/under_18", "R-CAR-1"),
    (carer_body(date_of_birth="2000-01-01", under_18=True), "/under_18", "R-CAR-1"),
    (carer_body(contact={}), "/contact", "R-CAR-1"),
    (carer_body(consent=consent()), "/consent/scope", "R-CAR-1"),
    (carer_body(consent=consent("care_plan", given=False)), "/consent/scope", "R-CAR-1"),
    (carer_body(consent=consent("everything")), "/consent/scope/0", None),
    (carer_body(date_of_birth="2999-01-01", under_18=None), "/date_of_birth", None),
    (carer_body(assessment={"response": "accepted"}), "/assessment/offered_on", "R-CAR-2"),
    (carer_body(assessment={"offered_on": "2026-11-01", "response": "declined",
                            "completed_on": "2026-11-10", "outcome": "x"}),
     "/assessment/response", "R-CAR-2"),
    (carer_body(assessment={"offered_on": "2026-11-01", "response": "accepted",
                            "completed_on": "2026-11-10"}), "/assessment/outcome", "R-CAR-2"),
    (carer_body(assessment={"offered_on": "2026-11-01", "response": "accepted",
                            "completed_on": "2026-10-10", "outcome": "x"}),
     "/assessment/completed_on", "R-CAR-2"),
    (carer_body(name=""), "/name", None),
    (carer_body(lives_with_person="yes"), "/lives_with_person", None),
    (carer_body(young_carer=True), "/young_carer", None),
])
def test_bad_carers_are_422_naming_the_field_and_nothing_is_written(db, held, body, field, rule):
    before = db.count("carers")
    problem = assert_validation(held.coordinator.api.post(path(held.person["id"]), json=body), field)
    assert (field, rule) in rules_of(problem)
    assert db.count("carers") == before


def test_the_carers_assessment_and_the_yearly_review_of_their_needs_R_CAR_2(db, held):
    c = held.coordinator
    long_ago = today() - datetime.timedelta(days=500)
    carer = create(c, held.person["id"], carer_body(identified_on=long_ago.isoformat()))
    assert carer["needs_review"]["overdue"] is True
    assert carer["needs_review"]["due"] == add_months(long_ago, 12).isoformat()
    offered = (today() - datetime.timedelta(days=30)).isoformat()
    done = (today() - datetime.timedelta(days=2)).isoformat()
    r = patch(c, carer, {"assessment": {"offered_on": offered, "response": "accepted",
                                        "referred_to_adult_social_care_on": offered,
                                        "completed_on": done, "outcome": "Respite agreed"}})
    assert r.status_code == 200, r.text
    carer = r.json()
    assert carer["assessment_offer_outstanding"] is False
    assert carer["needs_review"] == {"due": add_months(datetime.date.fromisoformat(done), 12).isoformat(),
                                     "overdue": False, "completed": None, "rule": "R-CAR-2"}
    carer = patch(c, carer, {"needs_reviewed_on": today().isoformat()}).json()
    assert carer["needs_review"]["completed"] == today().isoformat()
    assert carer["needs_review"]["due"] == add_months(today(), 12).isoformat()
    # A declined offer is recorded too; it cannot then be completed.
    other = create(c, held.person["id"], carer_body(name="Ali Begum",
                   assessment={"offered_on": offered, "response": "declined"}))
    assert other["assessment"]["response"] == "declined"
    assert_validation(patch(c, other, {"assessment": {"completed_on": done, "outcome": "x"}}),
                      "/assessment/response")


def test_policy_setting_changes_the_carer_review_interval_R_CAR_2(service_factory, db, held):
    svc = service_factory.start(env={"CARECOORD_POLICY_CARER_REVIEW_MONTHS": "6"})
    with svc.api(token=mint_token(svc.env, sub=held.coordinator.sub, roles=("coordinator",))) as s:
        r = s.post(path(held.person["id"]), json=carer_body(identified_on="2026-01-31"))
        assert r.status_code == 201, r.text
        assert r.json()["needs_review"]["due"] == "2026-07-31"


def test_a_care_plan_goes_to_a_carer_only_with_consent_covering_it_R_CAR_1(api, db, manager, held):
    c = held.coordinator
    person = held.person["id"]
    plan = c.api.post(f"/episodes/{held.id}/care-plans", json={
        "crisis_plan": {"early_warning_signs": "x", "what_person_should_do": "x",
                        "what_others_should_do": "x", "contacts_24_7": [{"name": "Crisis", "number": "0113 496 0000"}]},
        "contingency_plan": {"contact_name": "Duty", "contact_phone": "0113 496 0001"}}).json()
    plan = c.api.post(f"/episodes/{held.id}/care-plans/{plan['id']}/activate",
                      headers={"If-Match": etag_of(plan["version"])}).json()

    def send(carer_id):
        return c.api.post(f"/episodes/{held.id}/care-plans/{plan['id']}/distributions", json={
            "recipient_type": "carer", "carer_id": carer_id, "method": "post", "sent_on": "2026-11-30"})

    not_asked = create(c, person)
    refused = create(c, person, carer_body(name="Refused", consent=consent(given=False)))
    reviews_only = create(c, person, carer_body(name="Reviews only", consent=consent("reviews")))
    # A person in intake: the manager may record their carer, who is nobody else's.
    someone_elses = create(manager, new_person(api)["id"],
                           carer_body(name="Elsewhere", consent=consent("care_plan")))
    for carer_id, phrase in ((not_asked["id"], "not consented"), (refused["id"], "not consented"),
                             (reviews_only["id"], "does not cover care_plan"),
                             (someone_elses["id"], "must name a carer of this service user"),
                             (str(uuid.uuid4()), "must name a carer of this service user")):
        problem = assert_validation(send(carer_id), "/carer_id")
        assert ("/carer_id", "R-CAR-1") in rules_of(problem)
        assert phrase in problem["errors"][0]["reason"], problem
    assert db.count("care_plan_distributions", "care_plan_id = %s", (plan["id"],)) == 0
    agreed = create(c, person, carer_body(name="Agreed", consent=consent("care_plan")))
    r = send(agreed["id"])
    assert r.status_code == 201, r.text
    assert (r.json()["carer_id"], r.json()["recipient_name"]) == (agreed["id"], "Agreed")


def test_a_carer_is_invited_to_a_review_only_with_consent_covering_reviews_R_CAR_1(db, held):
    c = held.coordinator
    person = held.person["id"]
    plan_only = create(c, person, carer_body(name="Plan only", consent=consent("care_plan")))
    agreed = create(c, person, carer_body(name="Agreed", consent=consent("reviews", "care_plan")))

    def invite(**invitee):
        return c.api.post(f"/episodes/{held.id}/reviews", json={
            "type": "scheduled", "due_on": "2027-01-15",
            "invitees": [dict({"kind": "carer", "name": "Carer", "consulted": False,
                               "informed_of_outcome": False}, **invitee)]})

    before = db.count("reviews", "episode_id = %s", (held.id,))
    problem = assert_validation(invite(), "/invitees/0/carer_id")
    assert ("/invitees/0/carer_id", "R-CAR-1") in rules_of(problem)
    problem = assert_validation(invite(carer_id=plan_only["id"]), "/invitees/0/carer_id")
    assert "does not cover reviews" in problem["errors"][0]["reason"]
    assert db.count("reviews", "episode_id = %s", (held.id,)) == before
    r = invite(carer_id=agreed["id"])
    assert r.status_code == 201, r.text
    assert r.json()["invitees"][0]["carer_id"] == agreed["id"]


def test_access_needs_the_relationship_and_refusals_are_audited_R_AUD_1(service, db, staff, held):
    carer = create(held.coordinator, held.person["id"])
    stranger = staff()
    person = held.person["id"]
    for r in (stranger.api.get(path(person)), stranger.api.get(path(person, carer["id"])),
              stranger.api.post(path(person), json=carer_body()),
              stranger.api.patch(path(person, carer["id"]), json={"relationship": "x"},
                                 headers={"If-Match": etag_of(carer["version"])})):
        assert_problem(r, 403, "forbidden")
    denials = [e for e in events(db, "carer", None, stranger.sub) if e["action"] == "deny"]
    assert len(denials) == 4 and {str(e["service_user_id"]) for e in denials} == {person}
    r = stranger.api.get(path(person, carer["id"]), headers={"X-Break-Glass-Reason": REASON})
    assert r.status_code == 200
    assert events(db, "carer", carer["id"], stranger.sub)[-1]["action"] == "break_glass"
    with service.api(token=mint_token(service.env, sub=stranger.sub, roles=("partner",), org="org-1")) as other:
        assert_problem(other.get(path(person)), 403)
    assert_problem(held.coordinator.api.get(path(person, str(uuid.uuid4()))), 404)
    assert_problem(held.coordinator.api.get(path(str(uuid.uuid4()))), 404)
    assert_problem(held.coordinator.api.get(path(person, "nope")), 404)
