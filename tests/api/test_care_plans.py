"""Care plans (DOMAIN.md care cycle step 5; R-CPL-1..4): drafts edited in place, activation (with
the crisis and contingency plans a CPA plan needs), versions of an active plan and the exact diff
between two, supersession, the person's agreement, distribution, the care plan clock and summary
of the episode, access and the audit trail (R-AUD-1).

Episodes are made directly in the database (they are opened by accepting a referral)."""

import datetime
import uuid
from types import SimpleNamespace

import psycopg2
import pytest

from care_setup import (  # staff, manager and episode are fixtures
    episode,
    manager,
    staff,
    allocation_body,
    assert_conforms,
    due_after,
    events,
    london_date,
    new_person,
    new_team,
    open_episode,
)
from carecoord import assert_problem, assert_validation, etag_of, mint_token, paginate

REASON = "Crisis call out of hours, coordinator unreachable"


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api))


def hold(manager, staff, episode_id, role="care_coordinator"):
    coordinator = staff()
    r = manager.api.post(f"/episodes/{episode_id}/allocations",
                         json=allocation_body(coordinator.id, role=role))
    assert r.status_code == 201, r.text
    return coordinator, r.json()["id"]


@pytest.fixture
def held(manager, staff, episode):
    """The CPA episode with a care co-ordinator allocated."""
    coordinator, allocation_id = hold(manager, staff, episode.id)
    return SimpleNamespace(id=episode.id, person=episode.person, coordinator=coordinator,
                           allocation_id=allocation_id)


def path(episode_id, *rest):
    return "/".join([f"/episodes/{episode_id}/care-plans", *rest])


def crisis_plan():
    return {"early_warning_signs": "Sleeping less, stops answering the phone",
            "what_person_should_do": "Call the crisis line; stay with her sister",
            "what_others_should_do": "Sister calls the crisis team",
            "contacts_24_7": [{"name": "Crisis team", "number": "0113 496 0000"}]}


def contingency_plan():
    return {"contact_name": "Duty worker", "contact_role": "Duty senior practitioner",
            "contact_phone": "0113 496 0001"}


def plan_body(**over):
    body = {
        "needs": [{"domain": "housing", "description": "Rent arrears put the tenancy at risk"}],
        "goals": [{"in_own_words": "I want to keep my flat", "target_date": "2027-03-31"}],
        "interventions": [{"what": "Benefits advice", "delivered_by": "agency",
                           "provider_name": "Citizens Advice", "frequency": "Fortnightly"}],
        "risk_management_plan": {"plan": "Weekly contact while arrears are high",
                                 "risk_categories": ["self_harm"]},
        "crisis_plan": crisis_plan(),
        "contingency_plan": contingency_plan(),
        "persons_views": "Happy with the plan",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def create(who, episode_id, body=None, **kw):
    r = who.api.post(path(episode_id), json=plan_body() if body is None else body, **kw)
    assert r.status_code == 201, r.text
    return r.json()


def patch(who, p, body, version=None):
    return who.api.patch(path(p["episode_id"], p["id"]), json=body,
                         headers={"If-Match": etag_of(version or p["version"])})


def activate(who, p, version=None):
    return who.api.post(path(p["episode_id"], p["id"], "activate"),
                        headers={"If-Match": etag_of(version or p["version"])})


def activated(who, p):
    r = activate(who, p)
    assert r.status_code == 200, r.text
    return r.json()


def agree(who, p, body):
    return who.api.post(path(p["episode_id"], p["id"], "agreement"), json=body,
                        headers={"If-Match": etag_of(p["version"])})


def versions(who, p):
    r = who.api.get(path(p["episode_id"], p["id"], "versions"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def summary(who, episode_id):
    r = who.api.get(f"/episodes/{episode_id}")
    assert r.status_code == 200, r.text
    return r.json()["summary"]


def rules_of(problem):
    return {(e["field"], e.get("rule")) for e in problem["errors"]}


def today():
    return london_date(datetime.datetime.now(datetime.timezone.utc)).isoformat()


# -- drafts -----------------------------------------------------------------------------------------


def test_a_draft_is_created_read_listed_and_edited_in_place_R_AUD_1(service, db, held):
    c = held.coordinator
    r = c.api.post(path(held.id), json=plan_body())
    assert r.status_code == 201, r.text
    p = r.json()
    assert_conforms(service.env.repo, "CarePlan", p)
    assert r.headers["Location"] == path(held.id, p["id"]) and r.headers["ETag"] == etag_of(p["version"])
    assert (p["status"], p["plan_version"], p["episode_id"], p["service_user_id"]) == \
        ("draft", 1, held.id, held.person["id"])
    assert p["goals"] == [{"in_own_words": "I want to keep my flat", "target_date": "2027-03-31"}]
    assert (p["agreement"], p["signed"], p["sent_to_person"], p["sent_to_gp"]) == (None, False, False, False)
    assert c.api.get(path(held.id, p["id"])).json() == p

    assert_problem(c.api.patch(path(held.id, p["id"]), json={"persons_views": "x"}), 428)
    r = patch(c, p, {"goals": [{"in_own_words": "Keep my flat and see my son"}]})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert (edited["plan_version"], edited["version"]) == (1, p["version"] + 1)
    assert edited["goals"] == [{"in_own_words": "Keep my flat and see my son"}]
    assert versions(c, p) == []  # a draft has no versions yet
    assert_problem(patch(c, p, {"persons_views": "lost update"}), 412)

    other = create(c, held.id, plan_body(goals=[]))
    items, _ = paginate(c.api, path(held.id), limit=1)
    assert [i["id"] for i in items] == [other["id"], p["id"]]
    trail = events(db, "care_plan", p["id"])
    assert [e["action"] for e in trail][:3] == ["create", "read", "update"]
    assert trail[2]["details"]["changes"] == [{"field": "goals"}]
    assert "flat" not in str(trail[2]["details"])


@pytest.mark.parametrize("body, field", [
    ({"needs": [{"domain": "astrology", "description": "x"}]}, "/needs/0/domain"),
    ({"needs": [{"domain": "housing"}]}, "/needs/0/description"),
    ({"interventions": [{"what": "Visits", "delivered_by": "staff", "frequency": "Weekly"}]},
     "/interventions/0/staff_id"),
    ({"interventions": [{"what": "Support", "delivered_by": "carer", "frequency": "Daily"}]},
     "/interventions/0/provider_name"),
    ({"interventions": [{"what": "Group", "delivered_by": "person", "frequency": "Weekly",
                         "from": "2027-01-10", "to": "2027-01-01"}]}, "/interventions/0/to"),
    ({"interventions": [{"what": "Visits", "delivered_by": "staff", "frequency": "Weekly",
                         "staff_id": str(uuid.uuid4())}]}, "/interventions/0/staff_id"),
    ({"needs": [{"domain": "housing", "description": "x", "assessment_id": str(uuid.uuid4())}]},
     "/needs/0/assessment_id"),
    ({"risk_management_plan": {"plan": "x", "risk_categories": ["gambling"]}},
     "/risk_management_plan/risk_categories/0"),
    ({"crisis_plan": dict(crisis_plan(), contacts_24_7=[])}, "/crisis_plan/contacts_24_7"),
    ({"contingency_plan": {"contact_name": "Duty worker"}}, "/contingency_plan/contact_phone"),
    ({"status": "active"}, "/status"),
    ({"plan_version": 3}, "/plan_version"),
    ({"goals": "keep my flat"}, "/goals"),
])
def test_bad_plans_are_422_naming_the_field_and_nothing_is_written(db, held, body, field):
    before = db.count("care_plans")
    assert_validation(held.coordinator.api.post(path(held.id), json=plan_body(**body)), field)
    assert db.count("care_plans") == before


def test_links_to_assessments_of_the_episode_and_to_staff_are_kept(db, held, staff):
    c = held.coordinator
    a = c.api.post(f"/episodes/{held.id}/assessments", json={"type": "initial"}).json()
    worker = staff()
    body = plan_body(needs=[{"domain": "psychiatric", "description": "Voices at night",
                             "assessment_id": a["id"]}],
                     interventions=[{"what": "Home visits", "delivered_by": "staff",
                                     "staff_id": worker.id, "frequency": "Weekly"}])
    p = create(c, held.id, body)
    assert p["needs"][0]["assessment_id"] == a["id"]
    assert p["interventions"][0]["staff_id"] == worker.id


# -- activation, versions and supersession ---------------------------------------------------------


def test_a_cpa_plan_needs_crisis_and_contingency_plans_to_become_active_R_CPL_2(db, held):
    c = held.coordinator
    p = create(c, held.id, plan_body(crisis_plan=None, contingency_plan=None))
    problem = assert_validation(activate(c, p), "/crisis_plan", "/contingency_plan")
    assert {("/crisis_plan", "R-CPL-2"), ("/contingency_plan", "R-CPL-2")} <= rules_of(problem)
    assert c.api.get(path(held.id, p["id"])).json()["status"] == "draft"
    p = patch(c, p, {"crisis_plan": crisis_plan(), "contingency_plan": contingency_plan()}).json()
    active = activated(c, p)
    # An active CPA plan keeps them.
    problem = assert_validation(patch(c, active, {"contingency_plan": None}), "/contingency_plan")
    assert ("/contingency_plan", "R-CPL-2") in rules_of(problem)


def test_a_plan_not_on_cpa_becomes_active_without_them_R_CPL_2(api, db, manager, staff, teams):
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.cmht["id"], care_level="non_cpa")
    worker, _ = hold(manager, staff, episode_id, role="lead_professional")
    p = create(worker, episode_id, plan_body(crisis_plan=None, contingency_plan=None))
    assert activated(worker, p)["status"] == "active"


def test_changing_an_active_plan_makes_the_next_version_and_the_diff_is_exact_R_CPL_3(service, db, held):
    c = held.coordinator
    p = create(c, held.id)
    assert_problem(activate(c, p, version=p["version"] + 1), 412)
    v1 = activated(c, p)
    assert (v1["status"], v1["plan_version"]) == ("active", 1) and v1["activated_at"]
    assert_problem(activate(c, v1), 409, "conflict")
    r = patch(c, v1, {"goals": [{"in_own_words": "I want to keep my flat", "target_date": "2027-06-30"},
                                {"in_own_words": "Go back to work"}],
                      "carers_views": "Sister agrees",
                      "persons_views": None})
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert (v2["status"], v2["plan_version"]) == ("active", 2)
    history = versions(c, v2)
    for v in history:
        assert_conforms(service.env.repo, "CarePlanVersion", v)
    assert [(v["number"], v["created_by"]) for v in history] == [(1, c.sub), (2, c.sub)]
    assert history[0]["content"]["goals"] == p["goals"]  # version 1 stays as it was
    assert history[0]["content"]["persons_views"] == "Happy with the plan"
    assert history[1]["content"]["persons_views"] is None
    one = c.api.get(path(held.id, p["id"], "versions", "1"))
    assert one.status_code == 200 and one.json() == history[0]

    diff = c.api.get(path(held.id, p["id"], "diff"), params={"from": 1, "to": 2})
    assert diff.status_code == 200, diff.text
    assert diff.json() == {"from": 1, "to": 2, "changes": [
        {"path": "/carers_views", "old": None, "new": "Sister agrees"},
        {"path": "/goals/0/target_date", "old": "2027-03-31", "new": "2027-06-30"},
        {"path": "/goals/1", "new": {"in_own_words": "Go back to work"}},
        {"path": "/persons_views", "old": "Happy with the plan", "new": None},
    ]}
    back = c.api.get(path(held.id, p["id"], "diff"), params={"from": 2, "to": 1}).json()
    assert {"path": "/goals/1", "old": {"in_own_words": "Go back to work"}} in back["changes"]
    assert c.api.get(path(held.id, p["id"], "diff"), params={"from": 2, "to": 2}).json()["changes"] == []
    assert_problem(c.api.get(path(held.id, p["id"], "diff"), params={"from": 1, "to": 3}), 404)
    assert_problem(c.api.get(path(held.id, p["id"], "diff"), params={"from": 1}), 400)
    for bad in ("one", "+1", "01", "0", ""):
        assert_problem(c.api.get(path(held.id, p["id"], "diff"), params={"from": bad, "to": 2}), 400)
    assert_problem(c.api.get(path(held.id, p["id"], "versions", "9")), 404)

    # A patch that changes nothing makes no version.
    same = patch(c, v2, {"carers_views": "Sister agrees"})
    assert same.status_code == 200 and same.json()["plan_version"] == 2
    assert len(versions(c, v2)) == 2
    # Versions are history: the database refuses to change them.
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        db.execute("UPDATE care_plan_versions SET content = '{}' WHERE care_plan_id = %s", (p["id"],))
    update = [e for e in events(db, "care_plan", p["id"]) if e["action"] == "update"][-1]
    assert update["details"]["new_plan_version"] == 2
    assert {c["field"] for c in update["details"]["changes"]} == {"goals", "carers_views", "persons_views"}


def test_activating_a_plan_supersedes_the_active_one_which_never_changes_again_R_CPL_3(db, manager, held):
    c = held.coordinator
    first = activated(c, create(c, held.id))
    second = activated(c, create(c, held.id, plan_body(persons_views="After the review")))
    old = c.api.get(path(held.id, first["id"])).json()
    assert (old["status"], old["superseded_by_care_plan_id"]) == ("superseded", second["id"])
    assert old["superseded_at"] is not None
    assert_problem(patch(c, old, {"persons_views": "x"}), 409, "conflict")
    assert_problem(activate(c, old), 409, "conflict")
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        db.execute("UPDATE care_plans SET content = '{}' WHERE id = %s", (first["id"],))
    assert summary(manager, held.id)["care_plan"]["id"] == second["id"]
    assert db.count("care_plans", "episode_id = %s AND status = 'active'", (held.id,)) == 1
    superseding = [e for e in events(db, "care_plan", first["id"]) if e["action"] == "update"][-1]
    assert superseding["details"]["superseded_by_care_plan_id"] == second["id"]


# -- agreement and distribution -------------------------------------------------------------------


def test_the_persons_agreement_is_recorded_for_the_current_version_R_CPL_4(service, manager, held):
    c = held.coordinator
    p = activated(c, create(c, held.id))
    assert_validation(agree(c, p, {"agreed": True}), "/agreed_on", "/how")
    assert_validation(agree(c, p, {"agreed": False}), "/reason_not_agreed")
    assert_validation(agree(c, p, {"agreed": False, "reason_not_agreed": "x", "how": "signed"}), "/how")
    assert_problem(agree(c, dict(p, version=p["version"] + 1), {"agreed": False, "reason_not_agreed": "x"}), 412)
    r = agree(c, p, {"agreed": True, "agreed_on": "2026-11-30", "how": "verbal",
                     "carer_involvement": "Sister attended"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert_conforms(service.env.repo, "CarePlan", p)
    assert (p["agreement"]["agreed"], p["agreement"]["how"], p["signed"]) == (True, "verbal", False)
    assert p["agreement"]["recorded_by"] == c.sub
    assert summary(manager, held.id)["care_plan"]["agreed"] is True
    p = agree(c, p, {"agreed": True, "agreed_on": "2026-12-01", "how": "signed"}).json()
    assert p["signed"] is True  # the latest recorded is in force
    # A new version has not been agreed yet; the earlier version keeps its agreement.
    v2 = patch(c, p, {"persons_views": "Wants more help with money"}).json()
    assert (v2["plan_version"], v2["agreement"], v2["signed"]) == (2, None, False)
    assert summary(manager, held.id)["care_plan"]["agreed"] is None
    assert [v["agreement"] and v["agreement"]["how"] for v in versions(c, v2)] == ["signed", None]


def test_who_the_current_version_was_sent_to_is_recorded_and_shown_R_CPL_4(service, db, manager, held):
    c = held.coordinator
    draft = create(c, held.id)

    def send(plan, **body):
        return c.api.post(path(held.id, plan["id"], "distributions"), json=body)

    assert_problem(send(draft, recipient_type="person", method="hand", sent_on="2026-11-30"), 409)
    p = activated(c, draft)
    problem = assert_validation(send(p, recipient_type="agency", method="post", sent_on="2026-11-30"),
                                "/recipient_name")
    assert ("/recipient_name", "R-CPL-4") in rules_of(problem)
    problem = assert_validation(send(p, recipient_type="carer", method="post", sent_on="2026-11-30"),
                                "/carer_id")
    assert ("/carer_id", "R-CAR-1") in rules_of(problem)
    assert_validation(send(p, recipient_type="gp", method="fax", sent_on="2026-11-30"), "/method")
    r = send(p, recipient_type="person", method="hand", sent_on="2026-11-30")
    assert r.status_code == 201, r.text
    assert_conforms(service.env.repo, "Distribution", r.json())
    assert (r.json()["plan_version"], r.json()["recorded_by"]) == (1, c.sub)
    s = summary(manager, held.id)["care_plan"]
    assert (s["sent_to_person"], s["sent_to_gp"]) == (True, False)
    assert send(p, recipient_type="gp", recipient_name="Park Surgery", method="secure_email",
                sent_on="2026-12-01").status_code == 201
    now = c.api.get(path(held.id, p["id"])).json()
    assert (now["sent_to_person"], now["sent_to_gp"]) == (True, True)
    # A new version has not been sent to anyone yet.
    v2 = patch(c, now, {"persons_views": "Changed"}).json()
    assert (v2["sent_to_person"], v2["sent_to_gp"]) == (False, False)
    # A retried sending (same Idempotency-Key) is recorded once.
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"recipient_type": "agency", "recipient_name": "Citizens Advice", "method": "post",
            "sent_on": "2026-12-01"}
    first = c.api.post(path(held.id, p["id"], "distributions"), json=body, headers=key)
    again = c.api.post(path(held.id, p["id"], "distributions"), json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert db.count("care_plan_distributions", "care_plan_id = %s AND recipient_type = 'agency'",
                    (p["id"],)) == 1
    listed = c.api.get(path(held.id, p["id"], "distributions")).json()["items"]
    assert [(d["recipient_type"], d["plan_version"]) for d in listed] == \
        [("agency", 2), ("gp", 1), ("person", 1)]
    created = events(db, "care_plan_distribution", None, c.sub)
    assert [e["action"] for e in created if e["action"] == "create"] == ["create"] * 3
    # A closed episode's plans are no longer sent out (its co-ordinator's access ends with it: the
    # team's manager still reads the record of a person with no open episode).
    db.execute("UPDATE episodes SET status = 'closed', closed_at = now() WHERE id = %s", (held.id,))
    assert_problem(manager.api.post(path(held.id, v2["id"], "distributions"), json={
        "recipient_type": "person", "method": "hand", "sent_on": "2026-12-01"}), 409, "conflict")


# -- clocks and the episode summary ---------------------------------------------------------------


def test_care_plan_clock_due_overdue_and_met_by_the_first_active_plan_R_CPL_1(db, manager, held):
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=40)
    db.execute("UPDATE allocations SET started_at = %s WHERE id = %s", (long_ago, held.allocation_id))
    s = summary(manager, held.id)
    assert s["clocks"]["care_plan"] == {"due": due_after(long_ago, 28), "overdue": True,
                                        "completed": None, "rule": "R-CPL-1"}
    assert s["care_plan"] is None
    c = held.coordinator
    draft = create(c, held.id)
    assert summary(manager, held.id)["clocks"]["care_plan"]["overdue"] is True  # a draft is no plan yet
    p = activated(c, draft)
    s = summary(manager, held.id)
    assert s["clocks"]["care_plan"] == {"due": due_after(long_ago, 28), "overdue": False,
                                        "completed": today(), "rule": "R-CPL-1"}
    assert s["care_plan"] == {"id": p["id"], "plan_version": 1, "agreed": None, "signed": False,
                              "sent_to_person": False, "sent_to_gp": False}


# -- access ---------------------------------------------------------------------------------------


def test_access_needs_the_relationship_and_refusals_are_audited_R_AUD_1(service, db, staff, held):
    c = held.coordinator
    p = activated(c, create(c, held.id))
    stranger = staff()
    if_match = {"If-Match": etag_of(p["version"])}
    for r in (stranger.api.get(path(held.id)), stranger.api.get(path(held.id, p["id"])),
              stranger.api.post(path(held.id), json=plan_body()),
              stranger.api.patch(path(held.id, p["id"]), json={"persons_views": "x"}, headers=if_match),
              stranger.api.post(path(held.id, p["id"], "activate"), headers=if_match),
              stranger.api.post(path(held.id, p["id"], "agreement"), json={"agreed": False,
                                "reason_not_agreed": "x"}, headers=if_match),
              stranger.api.get(path(held.id, p["id"], "versions")),
              stranger.api.get(path(held.id, p["id"], "diff"), params={"from": 1, "to": 1}),
              stranger.api.get(path(held.id, p["id"], "distributions")),
              stranger.api.post(path(held.id, p["id"], "distributions"),
                                json={"recipient_type": "person", "method": "hand", "sent_on": "2026-11-30"})):
        assert_problem(r, 403, "forbidden")
    denials = [e for e in events(db, "care_plan", None, stranger.sub) +
               events(db, "care_plan_distribution", None, stranger.sub) if e["action"] == "deny"]
    assert len(denials) == 10
    assert {str(e["service_user_id"]) for e in denials} == {held.person["id"]}
    r = stranger.api.get(path(held.id, p["id"], "versions"), headers={"X-Break-Glass-Reason": REASON})
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    assert events(db, "care_plan", p["id"], stranger.sub)[-1]["action"] == "break_glass"
    with service.api(token=mint_token(service.env, sub=stranger.sub, roles=("reporting",))) as other:
        assert_problem(other.get(path(held.id)), 403)


def test_unknown_plans_and_episodes_are_404(held):
    c = held.coordinator
    p = create(c, held.id)
    assert_problem(c.api.get(path(held.id, str(uuid.uuid4()))), 404)
    assert_problem(c.api.get(path(held.id, "nope")), 404)
    assert_problem(c.api.get(path(str(uuid.uuid4()), p["id"])), 404)
    assert_problem(c.api.get(path(held.id, str(uuid.uuid4()), "versions")), 404)
    assert_problem(c.api.post(path(str(uuid.uuid4())), json=plan_body()), 404)
