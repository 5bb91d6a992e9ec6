"""Assessments (DOMAIN.md care cycle step 4; R-ASM-1..7): writing one while in progress,
completing it (what each type must hold), the CPA decision and the care level it sets, children
and safeguarding, amendments of completed assessments (which never change), the assessment
clocks of the episode summary, the risk summary, access and the audit trail (R-AUD-1).

Episodes are made directly in the database (they are opened by accepting a referral)."""

import calendar
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
DOMAINS = ["psychiatric", "psychological", "social_functioning", "medication", "physical_health",
           "substance_use", "personal_circumstances_family", "housing", "finances",
           "employment_education_training", "equality_diversity", "social_inclusion",
           "goals_aspirations"]


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api), drugs=new_team(api, "substance_misuse"))


@pytest.fixture
def held(manager, staff, episode):
    """The episode with a care co-ordinator allocated: SimpleNamespace(id, person, coordinator)."""
    coordinator = staff()
    r = manager.api.post(f"/episodes/{episode.id}/allocations", json=allocation_body(coordinator.id))
    assert r.status_code == 201, r.text
    return SimpleNamespace(id=episode.id, person=episode.person, coordinator=coordinator,
                           allocation_id=r.json()["id"])


def path(episode_id, *rest):
    return "/".join([f"/episodes/{episode_id}/assessments", *rest])


def risk(level="medium", mare_mappa=False, items=None):
    return {
        "items": items if items is not None else [
            {"category": "self_harm", "level": level, "evidence": "Cut forearm twice this year",
             "triggers": "Anniversary of bereavement", "protective_factors": "Sister nearby"}],
        "overall_level": level,
        "mare_mappa_referral_needed": mare_mappa,
    }


def cpa_decision(decision="cpa", group="none", met=True, reason=None):
    body = {
        "criteria": {"severe_mental_disorder": met, "current_or_potential_risk": False,
                     "multiple_service_provision": False, "detained_or_crisis_referral": False,
                     "carer_reliance_or_caring_responsibilities": False},
        "automatic_group": group,
        "decision": decision,
    }
    if reason is not None:
        body["non_cpa_reason"] = reason
    return body


def child(**over):
    body = {"name": "Sam Example", "address": "1 High Street, Leeds", "age": 7,
            "primary_carer": "Alex Example", "gp": "Dr Jones, Park Surgery",
            "school": "Park Primary"}
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def holistic(**over):
    """A holistic assessment that holds everything completion needs."""
    body = {
        "type": "holistic",
        "summary": "Low mood with psychotic features since spring.",
        "domains": {d: {"needs": f"Needs in {d}", "strengths": "Engages well", "persons_view": "Wants help"}
                    for d in DOMAINS},
        "risk": risk(),
        "capacity": {"has_capacity": True, "decision": "Consent to care and treatment",
                     "assessed_on": "2026-11-20", "assessor": "Dr Patel"},
        "children": {"has_contact_with_children": False, "children": []},
        "cpa_decision": cpa_decision(),
    }
    body.update(over)
    return body


def tops(stage="start"):
    return {"stage": stage, "substance_use": [{"substance": "heroin", "days_used": 20}],
            "injecting_days": 10, "psychological_health": 8, "physical_health": 9,
            "quality_of_life": 7, "acute_housing_problem": False, "at_risk_of_eviction": True,
            "shoplifting_days": 0, "assault_or_violence": False}


def create(who, episode_id, body, **kw):
    r = who.api.post(path(episode_id), json=body, **kw)
    assert r.status_code == 201, r.text
    return r.json()


def patch(who, a, body, version=None):
    return who.api.patch(path(a["episode_id"], a["id"]), json=body,
                         headers={"If-Match": etag_of(version or a["version"])})


def complete(who, a, version=None):
    return who.api.post(path(a["episode_id"], a["id"], "complete"),
                        headers={"If-Match": etag_of(version or a["version"])})


def completed(who, a):
    r = complete(who, a)
    assert r.status_code == 200, r.text
    return r.json()


def rules_of(problem):
    return {(e["field"], e.get("rule")) for e in problem["errors"]}


def summary_clocks(who, episode_id):
    r = who.api.get(f"/episodes/{episode_id}")
    assert r.status_code == 200, r.text
    return r.json()["summary"]["clocks"]


def add_months(date, months):
    """An independent statement of the month arithmetic: the same day n months on, or the last
    day of that month when it is shorter."""
    month0 = date.month - 1 + months
    year, month = date.year + month0 // 12, month0 % 12 + 1
    return datetime.date(year, month, min(date.day, calendar.monthrange(year, month)[1]))


def london_day(timestamp):
    """The Europe/London date of a timestamp the service returned."""
    return london_date(datetime.datetime.fromisoformat(timestamp))


def today():
    return london_date(datetime.datetime.now(datetime.timezone.utc))


def insert_completed(db, episode_id, type_, completed_at, with_risk=True):
    """A completed assessment made directly (to set when it was completed)."""
    risk_json = '{"items": [], "overall_level": "low", "mare_mappa_referral_needed": false}'
    return str(db.scalar(
        "INSERT INTO assessments (episode_id, type, status, risk, tops, created_at, completed_at,"
        " completed_by) VALUES (%s, %s, 'completed', %s::jsonb, %s::jsonb, %s, %s, 'staff-x')"
        " RETURNING id",
        (episode_id, type_, risk_json if with_risk and type_ != "tops" else None,
         '{"stage": "review"}' if type_ == "tops" else None, completed_at, completed_at)))


def utc(*args):
    return datetime.datetime(*args, tzinfo=datetime.timezone.utc)


# -- writing an assessment ----------------------------------------------------------------------


def test_create_read_list_and_audit_R_AUD_1(service, db, held):
    c = held.coordinator
    r = c.api.post(path(held.id), json={"type": "holistic", "summary": "First contact",
                                        "risk": risk("high")})
    assert r.status_code == 201, r.text
    a = r.json()
    assert_conforms(service.env.repo, "Assessment", a)
    assert r.headers["Location"] == path(held.id, a["id"])
    assert r.headers["ETag"] == etag_of(a["version"])
    assert (a["type"], a["status"], a["episode_id"], a["service_user_id"]) == \
        ("holistic", "in_progress", held.id, held.person["id"])
    assert a["risk"]["overall_level"] == "high" and a["created_by"] == c.sub
    assert a["completed_at"] is None and a["amends_assessment_id"] is None
    got = c.api.get(path(held.id, a["id"]))
    assert got.status_code == 200 and got.json() == a and got.headers["ETag"] == etag_of(a["version"])
    second = create(c, held.id, {"type": "initial"})
    items, _ = paginate(c.api, path(held.id), limit=1)
    assert [i["id"] for i in items] == [second["id"], a["id"]]

    created = events(db, "assessment", a["id"])
    assert [(e["action"], e["actor"], str(e["service_user_id"])) for e in created][:2] == \
        [("create", c.sub, held.person["id"]), ("read", c.sub, held.person["id"])]
    # The trail says what was done, never the clinical content.
    assert "Cut forearm" not in str(created[0]["details"]) and "First contact" not in str(created[0]["details"])
    pages = [e for e in events(db, "assessment", None, c.sub)
             if e["action"] == "read" and e["resource_id"] is None]
    assert [e["details"]["ids"] for e in pages] == [[second["id"]], [a["id"]]]


def test_merge_patch_needs_if_match_and_audits_the_sections_changed(db, held):
    c = held.coordinator
    a = create(c, held.id, holistic(risk=None))
    assert_problem(c.api.patch(path(held.id, a["id"]), json={"summary": "x"}), 428)
    r = patch(c, a, {"summary": "x"}, version=a["version"] + 5)
    assert_problem(r, 412)
    assert r.headers["ETag"] == etag_of(a["version"])
    r = patch(c, a, {"risk": risk("low"), "domains": {"housing": {"needs": "Rent arrears"}}})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["version"] == a["version"] + 1 and r.headers["ETag"] == etag_of(b["version"])
    assert b["domains"]["housing"] == {"needs": "Rent arrears", "strengths": "Engages well",
                                       "persons_view": "Wants help"}  # RFC 7396 merges objects
    assert b["domains"]["finances"] == a["domains"]["finances"]
    assert b["risk"]["overall_level"] == "low"
    update = events(db, "assessment", a["id"])[-1]
    assert update["action"] == "update"
    assert {c["field"] for c in update["details"]["changes"]} == {"risk", "domains"}
    assert "Rent arrears" not in str(update["details"])
    # A stale version after the change is refused, and nothing is written.
    assert_problem(patch(c, a, {"summary": "lost update"}), 412)
    assert c.api.get(path(held.id, a["id"])).json()["summary"] == a["summary"]


@pytest.mark.parametrize("body, field", [
    ({"type": "holistic", "mood": "low"}, "/mood"),
    ({"type": "assessment"}, "/type"),
    ({}, "/type"),
    ({"type": "holistic", "status": "completed"}, "/status"),
    ({"type": "holistic", "risk": {"items": [], "overall_level": "extreme",
                                   "mare_mappa_referral_needed": False}}, "/risk/overall_level"),
    ({"type": "holistic", "risk": {"items": [{"category": "self_harm", "level": "low"}],
                                   "overall_level": "low", "mare_mappa_referral_needed": False}},
     "/risk/items/0/evidence"),
    ({"type": "holistic", "risk": {"items": [{"category": "other", "level": "low", "evidence": "x"}],
                                   "overall_level": "low", "mare_mappa_referral_needed": False}},
     "/risk/items/0/description"),
    ({"type": "holistic", "children": {"has_contact_with_children": True,
                                       "children": [child(age=18)]}}, "/children/children/0/age"),
    ({"type": "holistic", "children": {"has_contact_with_children": True,
                                       "children": [child(age="7")]}}, "/children/children/0/age"),
    ({"type": "holistic", "capacity": {"has_capacity": True, "decision": "x",
                                       "assessed_on": "2026-02-30", "assessor": "Dr P"}},
     "/capacity/assessed_on"),
    ({"type": "holistic", "domains": {"astrology": {"needs": "x"}}}, "/domains/astrology"),
    ({"type": "risk_review", "domains": {"housing": {"needs": "x"}}}, "/domains"),
    ({"type": "initial", "cpa_decision": cpa_decision()}, "/cpa_decision"),
    ({"type": "holistic", "specialism": "Psychology"}, "/specialism"),
    ({"type": "specialist", "tops": tops()}, "/tops"),
    ({"type": "holistic", "amends_assessment_id": "not-a-uuid"}, "/amends_assessment_id"),
])
def test_bad_bodies_are_422_naming_the_field_and_nothing_is_written(db, held, body, field):
    before = db.counts("assessments", "audit_events")
    assert_validation(held.coordinator.api.post(path(held.id), json=body), field)
    after = db.counts("assessments", "audit_events")
    assert after["assessments"] == before["assessments"]


def test_a_closed_episode_takes_no_new_assessment_and_its_assessments_no_longer_change(db, manager, held):
    a = create(held.coordinator, held.id, holistic())
    db.execute("UPDATE episodes SET status = 'closed', closed_at = now() WHERE id = %s", (held.id,))
    # The co-ordinator's relationship ended with the episode; the team's manager still has one.
    assert_problem(manager.api.post(path(held.id), json={"type": "initial"}), 409, "conflict")
    assert_problem(patch(manager, a, {"summary": "After closing"}), 409, "conflict")
    assert_problem(complete(manager, a), 409, "conflict")
    assert manager.api.get(path(held.id, a["id"])).json()["version"] == a["version"]


def test_idempotent_create_replays_the_first_response(db, held):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = held.coordinator.api.post(path(held.id), json={"type": "initial"}, headers=key)
    again = held.coordinator.api.post(path(held.id), json={"type": "initial"}, headers=key)
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers.get("Idempotent-Replayed") == "true"
    assert db.count("assessments", "episode_id = %s", (held.id,)) == 1


# -- completing ---------------------------------------------------------------------------------


def test_completing_a_holistic_assessment_without_risk_is_refused_R_ASM_2(db, held):
    a = create(held.coordinator, held.id, holistic(risk=None))
    problem = assert_validation(complete(held.coordinator, a), "/risk")
    assert ("/risk", "R-ASM-2") in rules_of(problem)
    after = held.coordinator.api.get(path(held.id, a["id"])).json()
    assert (after["status"], after["version"]) == ("in_progress", a["version"])
    with pytest.raises(psycopg2.errors.CheckViolation):  # and the database agrees
        db.execute("UPDATE assessments SET status = 'completed', completed_at = now(),"
                   " completed_by = 'x' WHERE id = %s", (a["id"],))


def test_completion_names_every_missing_part_of_a_holistic_assessment(held):
    a = create(held.coordinator, held.id, {"type": "holistic",
                                            "domains": {"housing": {"needs": "x"}}})
    problem = assert_validation(complete(held.coordinator, a), "/risk", "/capacity", "/children",
                                "/cpa_decision")
    a2 = create(held.coordinator, held.id, holistic(domains={"housing": {"needs": "x"}}))
    problem = assert_validation(complete(held.coordinator, a2), "/domains/psychiatric",
                                "/domains/goals_aspirations")
    assert "/domains/housing" not in {e["field"] for e in problem["errors"]}
    a3 = create(held.coordinator, held.id, holistic(cpa_decision=cpa_decision(decision=None)))
    assert_validation(complete(held.coordinator, a3), "/cpa_decision/decision")


@pytest.mark.parametrize("type_, body, field, rule", [
    ("risk_review", {}, "/risk", "R-ASM-6"),
    ("specialist", {}, "/specialism", None),
])
def test_other_types_complete_only_with_their_section_R_ASM_6(held, type_, body, field, rule):
    a = create(held.coordinator, held.id, {"type": type_, **body})
    problem = assert_validation(complete(held.coordinator, a), field)
    assert (field, rule) in rules_of(problem)


def test_completion_freezes_the_assessment_and_sets_the_care_level_R_ASM_4(service, db, manager, held):
    c = held.coordinator
    a = create(c, held.id, holistic(cpa_decision=cpa_decision(
        "non_cpa", reason="Needs met by the team without CPA co-ordination")))
    assert_problem(c.api.post(path(held.id, a["id"], "complete")), 428)
    assert_problem(complete(c, a, version=a["version"] + 1), 412)
    done = completed(c, a)
    assert_conforms(service.env.repo, "Assessment", done)
    assert (done["status"], done["completed_by"], done["version"]) == ("completed", c.sub, a["version"] + 1)
    assert done["completed_at"] is not None
    episode = manager.api.get(f"/episodes/{held.id}").json()
    assert (episode["care_level"], episode["care_level_provisional"]) == ("non_cpa", False)
    last = episode["care_level_history"][-1]
    assert (last["from_level"], last["to_level"], last["changed_by"]) == ("cpa", "non_cpa", c.sub)
    assert a["id"] in last["reason"]
    ep_update = [e for e in events(db, "episode", held.id) if e["action"] == "update"][-1]
    assert ep_update["details"]["changes"] == [{"field": "care_level", "old": "cpa", "new": "non_cpa"}]
    assert ep_update["details"]["assessment_id"] == a["id"]
    completion = [e for e in events(db, "assessment", a["id"]) if e["action"] == "update"][-1]
    assert completion["details"]["changes"] == [{"field": "status", "old": "in_progress", "new": "completed"}]

    # Immutable from now on: through the API (409) and in the database.
    assert_problem(patch(c, done, {"summary": "Corrected"}), 409, "conflict")
    assert_problem(complete(c, done), 409, "conflict")
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        db.execute("UPDATE assessments SET summary = 'x' WHERE id = %s", (a["id"],))
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        db.execute("DELETE FROM assessments WHERE id = %s", (a["id"],))
    assert c.api.get(path(held.id, a["id"])).json() == done


def test_a_decision_matching_the_care_level_confirms_it_without_history(db, manager, held):
    db.execute("UPDATE episodes SET care_level_provisional = true WHERE id = %s", (held.id,))
    history = len(manager.api.get(f"/episodes/{held.id}").json()["care_level_history"])
    completed(held.coordinator, create(held.coordinator, held.id, holistic()))
    episode = manager.api.get(f"/episodes/{held.id}").json()
    assert (episode["care_level"], episode["care_level_provisional"]) == ("cpa", False)
    assert len(episode["care_level_history"]) == history
    change = [e for e in events(db, "episode", held.id) if e["action"] == "update"][-1]
    assert change["details"]["changes"] == [{"field": "care_level_provisional", "old": True, "new": False}]


@pytest.mark.parametrize("group", ["inpatient", "community_treatment_order",
                                   "prisoner_severe_mental_illness"])
def test_automatic_groups_are_always_on_cpa_R_ASM_3(held, group):
    c = held.coordinator
    body = holistic(cpa_decision=cpa_decision("non_cpa", group=group, reason="Reason given"))
    problem = assert_validation(c.api.post(path(held.id), json=body), "/cpa_decision/decision")
    assert ("/cpa_decision/decision", "R-ASM-3") in rules_of(problem)
    a = create(c, held.id, holistic(cpa_decision=cpa_decision("cpa", group=group)))
    problem = assert_validation(patch(c, a, {"cpa_decision": {"decision": "non_cpa"}}),
                                "/cpa_decision/decision")
    assert ("/cpa_decision/decision", "R-ASM-3") in rules_of(problem)
    assert completed(c, a)["cpa_decision"]["automatic_group"] == group


def test_criteria_met_but_not_on_cpa_needs_a_reason_R_ASM_4(held):
    c = held.coordinator
    problem = assert_validation(
        c.api.post(path(held.id), json=holistic(cpa_decision=cpa_decision("non_cpa"))),
        "/cpa_decision/non_cpa_reason")
    assert ("/cpa_decision/non_cpa_reason", "R-ASM-4") in rules_of(problem)
    # No criterion met: not on CPA needs no reason; a reason goes only with non_cpa.
    create(c, held.id, holistic(cpa_decision=cpa_decision("non_cpa", met=False)))
    assert_validation(c.api.post(path(held.id), json=holistic(
        cpa_decision=cpa_decision("cpa", reason="x"))), "/cpa_decision/non_cpa_reason")


def test_children_are_recorded_in_full_R_ASM_5(held):
    c = held.coordinator
    contact = {"has_contact_with_children": True, "children": []}
    a = create(c, held.id, holistic(children=contact))
    problem = assert_validation(complete(c, a), "/children/children")
    assert ("/children/children", "R-ASM-5") in rules_of(problem)

    no_school = child(school=None)
    problem = assert_validation(c.api.post(path(held.id), json=holistic(
        children={"has_contact_with_children": True, "children": [no_school]})),
        "/children/children/0/school")
    assert ("/children/children/0/school", "R-ASM-5") in rules_of(problem)
    for missing in ("name", "address", "age", "primary_carer", "gp"):
        assert_validation(c.api.post(path(held.id), json=holistic(children={
            "has_contact_with_children": True, "children": [child(**{missing: None})]})),
            f"/children/children/0/{missing}")
    assert_validation(c.api.post(path(held.id), json=holistic(children={
        "has_contact_with_children": False, "children": [child()]})), "/children/children")

    # A toddler has no school; a safeguarding referral to children's social care can be recorded.
    children = {"has_contact_with_children": True,
                "children": [child(), child(name="Jo Example", age=3, school=None)],
                "safeguarding_referral": {"made_on": "2026-11-25", "reason": "Neglect concerns"}}
    r = patch(c, a, {"children": children})
    assert r.status_code == 200, r.text
    done = completed(c, r.json())
    assert done["children"]["safeguarding_referral"]["made_on"] == "2026-11-25"
    assert [k["age"] for k in done["children"]["children"]] == [7, 3]


# -- amendments ---------------------------------------------------------------------------------


def test_a_correction_is_a_new_assessment_that_amends_the_completed_one(held):
    c = held.coordinator
    original = completed(c, create(c, held.id, {"type": "risk_review", "risk": risk("high")}))
    in_progress = create(c, held.id, {"type": "risk_review"})
    assert_validation(c.api.post(path(held.id), json={"type": "risk_review",
                                                     "amends_assessment_id": in_progress["id"]}),
                      "/amends_assessment_id")
    assert_validation(c.api.post(path(held.id), json={"type": "initial",
                                                     "amends_assessment_id": original["id"]}),
                      "/amends_assessment_id")
    assert_validation(c.api.post(path(held.id), json={"type": "risk_review",
                                                     "amends_assessment_id": str(uuid.uuid4())}),
                      "/amends_assessment_id")
    amendment = create(c, held.id, {"type": "risk_review", "amends_assessment_id": original["id"],
                                    "risk": risk("medium")})
    assert amendment["amends_assessment_id"] == original["id"]
    assert c.api.get(path(held.id, original["id"])).json()["amended_by_assessment_id"] == amendment["id"]
    assert_problem(c.api.post(path(held.id), json={"type": "risk_review",
                                                  "amends_assessment_id": original["id"]}),
                   409, "conflict")
    assert_validation(patch(c, amendment, {"amends_assessment_id": None}), "/amends_assessment_id")
    completed(c, amendment)
    assert c.api.get(path(held.id, original["id"])).json()["status"] == "completed"


# -- clocks ---------------------------------------------------------------------------------------


def test_holistic_assessment_clock_due_overdue_and_completed_R_ASM_1(db, manager, held):
    start = db.scalar("SELECT started_at FROM allocations WHERE id = %s", (held.allocation_id,))
    clock = summary_clocks(manager, held.id)["holistic_assessment"]
    assert clock == {"due": due_after(start, 28), "overdue": False, "completed": None, "rule": "R-ASM-1"}
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=40)
    db.execute("UPDATE allocations SET started_at = %s WHERE id = %s", (long_ago, held.allocation_id))
    clock = summary_clocks(manager, held.id)["holistic_assessment"]
    assert clock == {"due": due_after(long_ago, 28), "overdue": True, "completed": None, "rule": "R-ASM-1"}
    done = completed(held.coordinator, create(held.coordinator, held.id, holistic()))
    clock = summary_clocks(manager, held.id)["holistic_assessment"]
    assert (clock["overdue"], clock["completed"]) == (False, london_day(done["completed_at"]).isoformat())


def test_risk_review_is_due_twelve_months_after_the_last_risk_assessment_R_ASM_6(db, manager, held):
    # Before any: the first risk assessment is the holistic assessment's, due with it.
    clocks = summary_clocks(manager, held.id)
    assert clocks["risk_review"]["due"] == clocks["holistic_assessment"]["due"]
    assert clocks["risk_review"]["completed"] is None and clocks["risk_review"]["rule"] == "R-ASM-6"
    # Completed on 29 February (London date): due on the last day of the next February.
    insert_completed(db, held.id, "risk_review", utc(2024, 2, 29, 12, 0))
    assert summary_clocks(manager, held.id)["risk_review"] == {
        "due": "2025-02-28", "overdue": True, "completed": "2024-02-29", "rule": "R-ASM-6"}
    # The latest one counts, by its London date: 23:30 UTC on 31 May in summer is 1 June.
    recent = datetime.datetime.now(datetime.timezone.utc).replace(month=5, day=31, hour=23, minute=30)
    if recent > datetime.datetime.now(datetime.timezone.utc):
        recent = recent.replace(year=recent.year - 1)
    insert_completed(db, held.id, "risk_review", recent)
    done_on = london_date(recent)
    assert done_on.day == 1 and done_on.month == 6
    due = add_months(done_on, 12)
    assert summary_clocks(manager, held.id)["risk_review"] == {
        "due": due.isoformat(), "overdue": today() > due, "completed": done_on.isoformat(),
        "rule": "R-ASM-6"}


def test_tops_clock_for_substance_misuse_episodes_only_R_ASM_7(api, db, manager, staff, teams, held):
    assert summary_clocks(manager, held.id)["tops"] is None
    assert_validation(held.coordinator.api.post(path(held.id), json={"type": "tops", "tops": tops()}),
                      "/type")

    person = new_person(api)
    drugs_episode = open_episode(db, person["id"], teams.drugs["id"], care_level="non_cpa")
    drugs_manager = staff("drugs", "manager", professional_role="manager")
    worker = staff("drugs")
    r = drugs_manager.api.post(f"/episodes/{drugs_episode}/allocations",
                               json=allocation_body(worker.id, role="lead_professional"))
    assert r.status_code == 201, r.text
    clocks = summary_clocks(worker, drugs_episode)
    # Before the comprehensive assessment, the first TOPs is due with it.
    assert clocks["tops"] == {"due": clocks["holistic_assessment"]["due"], "overdue": False,
                              "completed": None, "rule": "R-ASM-7"}
    t = create(worker, drugs_episode, {"type": "tops"})
    problem = assert_validation(complete(worker, t), "/tops")
    assert ("/tops", "R-ASM-7") in rules_of(problem)
    t = patch(worker, t, {"tops": tops()}).json()
    done = completed(worker, t)
    done_on = london_day(done["completed_at"])
    assert summary_clocks(worker, drugs_episode)["tops"] == {
        "due": add_months(done_on, 3).isoformat(), "overdue": False,
        "completed": done_on.isoformat(), "rule": "R-ASM-7"}


def test_tops_every_three_months_across_a_year_end_R_ASM_7(api, db, staff, teams):
    person = new_person(api)
    drugs_episode = open_episode(db, person["id"], teams.drugs["id"], care_level="non_cpa")
    worker = staff("drugs", "manager", professional_role="manager")
    insert_completed(db, drugs_episode, "tops", utc(2025, 11, 30, 12, 0))
    assert summary_clocks(worker, drugs_episode)["tops"] == {
        "due": "2026-02-28", "overdue": True, "completed": "2025-11-30", "rule": "R-ASM-7"}


# -- risk summary ---------------------------------------------------------------------------------


def test_risk_summary_shows_the_current_risks_of_open_episodes(service, api, db, manager, staff, teams, held):
    c = held.coordinator
    summary = c.api.get(f"/service-users/{held.person['id']}/risk-summary")
    assert summary.status_code == 200, summary.text
    assert summary.json() == {"service_user_id": held.person["id"], "overall_level": None,
                              "mare_mappa_referral_needed": False, "assessments": [], "items": []}
    first = completed(c, create(c, held.id, {"type": "risk_review", "risk": risk("high", mare_mappa=True)}))
    create(c, held.id, {"type": "risk_review", "risk": risk("low")})  # in progress: not current
    s = c.api.get(f"/service-users/{held.person['id']}/risk-summary").json()
    assert_conforms(service.env.repo, "RiskSummary", s)
    assert (s["overall_level"], s["mare_mappa_referral_needed"]) == ("high", True)
    assert [a["id"] for a in s["assessments"]] == [first["id"]]
    assert [(i["category"], i["level"], i["assessment_id"], i["episode_id"]) for i in s["items"]] == \
        [("self_harm", "high", first["id"], held.id)]
    assert s["items"][0]["assessed_on"] == london_day(first["completed_at"]).isoformat()

    # A completed amendment replaces what it amends.
    amendment = completed(c, create(c, held.id, {
        "type": "risk_review", "amends_assessment_id": first["id"],
        "risk": risk("medium", items=[{"category": "relapse", "level": "medium", "evidence": "Stopped depot"}])}))
    s = c.api.get(f"/service-users/{held.person['id']}/risk-summary").json()
    assert [a["id"] for a in s["assessments"]] == [amendment["id"]]
    assert (s["overall_level"], s["mare_mappa_referral_needed"]) == ("medium", False)
    assert [i["category"] for i in s["items"]] == ["relapse"]

    # An amendment that drops the risk section leaves nothing current from what it amended.
    screening = completed(c, create(c, held.id, {"type": "initial", "risk": risk("high")}))
    s = c.api.get(f"/service-users/{held.person['id']}/risk-summary").json()
    assert [a["id"] for a in s["assessments"]] == [screening["id"]]
    completed(c, create(c, held.id, {"type": "initial", "amends_assessment_id": screening["id"],
                                     "summary": "Risk recorded in error: it belongs to another person."}))
    s = c.api.get(f"/service-users/{held.person['id']}/risk-summary").json()
    assert [a["id"] for a in s["assessments"]] == [amendment["id"]]

    read = events(db, "risk_summary", held.person["id"], c.sub)
    assert read and read[-1]["action"] == "read" and str(read[-1]["service_user_id"]) == held.person["id"]


def test_access_needs_the_relationship_and_refusals_are_audited_R_AUD_1(service, db, staff, held):
    c = held.coordinator
    a = create(c, held.id, {"type": "initial"})
    stranger = staff()
    for r in (stranger.api.get(path(held.id, a["id"])), stranger.api.get(path(held.id)),
              stranger.api.post(path(held.id), json={"type": "initial"}),
              stranger.api.patch(path(held.id, a["id"]), json={"summary": "x"},
                                 headers={"If-Match": etag_of(a["version"])}),
              stranger.api.post(path(held.id, a["id"], "complete"),
                                headers={"If-Match": etag_of(a["version"])}),
              stranger.api.get(f"/service-users/{held.person['id']}/risk-summary")):
        assert_problem(r, 403, "forbidden")
    denials = [e for e in events(db, "assessment", None, stranger.sub) +
               events(db, "risk_summary", None, stranger.sub) if e["action"] == "deny"]
    assert len(denials) == 6
    assert {str(e["service_user_id"]) for e in denials} == {held.person["id"]}
    assert db.count("assessments", "episode_id = %s", (held.id,)) == 1
    # Break-glass reads are allowed and audited with their reason; break-glass never writes.
    r = stranger.api.get(path(held.id, a["id"]), headers={"X-Break-Glass-Reason": REASON})
    assert r.status_code == 200, r.text
    assert events(db, "assessment", a["id"], stranger.sub)[-1]["action"] == "break_glass"
    assert_problem(stranger.api.post(path(held.id), json={"type": "initial"},
                                     headers={"X-Break-Glass-Reason": REASON}), 403)
    for role in ("partner", "reporting"):
        other = service.api(token=mint_token(service.env, sub=stranger.sub, roles=(role,),
                                             org="org-1" if role == "partner" else None))
        assert_problem(other.get(path(held.id)), 403)
        other.close()


def test_unknown_assessment_or_episode_is_404(held):
    c = held.coordinator
    assert_problem(c.api.get(path(held.id, str(uuid.uuid4()))), 404)
    assert_problem(c.api.get(path(held.id, "nope")), 404)
    assert_problem(c.api.post(path(str(uuid.uuid4())), json={"type": "initial"}), 404)
    assert_problem(c.api.get(f"/service-users/{uuid.uuid4()}/risk-summary"), 404)
    other = create(c, held.id, {"type": "initial"})
    assert_problem(c.api.get(path(str(uuid.uuid4()), other["id"])), 404)
