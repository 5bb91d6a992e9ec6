"""Transfers and discharge (DOMAIN.md care cycle step 8; R-TRF-1..5): the lifecycle proposed →
accepted / rejected → completed, or cancelled; the receiving team's manager deciding; access moving
to the receiving holder exactly at completion with one current allocation at every moment; the
handover taken at proposal and never changed; what each type does on completion; the follow-up
and liaison clocks; access and the audit trail (R-AUD-1).

Episodes are made directly in the database (they are opened by accepting a referral)."""

import calendar
import datetime
import uuid
from types import SimpleNamespace

import psycopg2
import psycopg2.extras
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
from carecoord import assert_problem, assert_validation, create, etag_of, full_service_user_payload, paginate

GP = {"name": "Dr Patel", "organisation": "Park Surgery", "contact": "0113 496 0100"}
PROBATION = {"name": "Sam Reed", "organisation": "Probation Service", "contact": "0113 496 0200"}
PLACEMENT = {"name": "Oak House", "organisation": "Northshire NHS Trust", "contact": "0161 496 0300",
             "location": "Oak House, Northshire"}


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api), other=new_team(api), third=new_team(api),
                           ward=new_team(api, "inpatient_ward"), sm=new_team(api, "substance_misuse"))


def hold(manager, staff, episode_id, role="care_coordinator", team="cmht"):
    coordinator = staff(team)
    r = manager.api.post(f"/episodes/{episode_id}/allocations",
                         json=allocation_body(coordinator.id, role=role))
    assert r.status_code == 201, r.text
    return coordinator, r.json()["id"]


@pytest.fixture
def held(manager, staff, episode):
    """The CPA episode of the community team with a care co-ordinator allocated."""
    coordinator, allocation_id = hold(manager, staff, episode.id)
    return SimpleNamespace(id=episode.id, person=episode.person, coordinator=coordinator,
                           allocation_id=allocation_id)


@pytest.fixture(scope="module")
def receiving(staff):
    """The other community team's manager and a co-ordinator of it."""
    return SimpleNamespace(manager=staff("other", "manager", professional_role="manager"),
                           coordinator=staff("other"))


def path(episode_id, *rest):
    return "/".join([f"/episodes/{episode_id}/transfers", *rest])


def propose(who, episode_id, body, **kw):
    return who.api.post(path(episode_id), json=body, **kw)


def proposed(who, episode_id, body):
    r = propose(who, episode_id, body)
    assert r.status_code == 201, r.text
    return r.json()


def decide(who, t, decision="accepted", version=None, **extra):
    return who.api.post(path(t["episode_id"], t["id"], "decision"),
                        json=dict(decision=decision, **extra),
                        headers={"If-Match": etag_of(version or t["version"])})


def complete(who, t, version=None):
    return who.api.post(path(t["episode_id"], t["id"], "complete"),
                        headers={"If-Match": etag_of(version or t["version"])})


def cancel(who, t, version=None):
    return who.api.post(path(t["episode_id"], t["id"], "cancel"), json={"reason": "Plans changed"},
                        headers={"If-Match": etag_of(version or t["version"])})


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def current_allocations(db, episode_id):
    return db.count("allocations", "episode_id = %s AND ended_at IS NULL", (episode_id,))


def reads_person(who, person_id):
    return who.api.get(f"/service-users/{person_id}").status_code


def out_of_area():
    return {"type": "out_of_area", "reason": "Placement nearer family", "receiving_external": PLACEMENT}


def today():
    return london_date(datetime.datetime.now(datetime.timezone.utc))


def rules_of(problem):
    return {(e["field"], e.get("rule")) for e in problem["errors"]}


# -- R-TRF-1: access moves exactly at completion -----------------------------------------------------


def test_internal_team_transfer_moves_access_exactly_at_completion_R_TRF_1(service, db, manager, staff, held,
                                                                            receiving, teams):
    c, person = held.coordinator, held.person["id"]
    body = {"type": "internal_team", "reason": "Moved to the north of the city",
            "receiving_team_id": teams.other["id"], "receiving_staff_id": receiving.coordinator.id}
    r = propose(c, held.id, body)
    assert r.status_code == 201, r.text
    t = r.json()
    assert_conforms(service.env.repo, "Transfer", t)
    assert r.headers["Location"] == path(held.id, t["id"]) and r.headers["ETag"] == etag_of(t["version"])
    assert (t["status"], t["episode_id"], t["service_user_id"], t["proposed_by"]) == \
        ("proposed", held.id, person, c.sub)
    assert t["receiving_team"] == {"id": teams.other["id"], "name": teams.other["name"],
                                   "type": "community_mental_health"}
    assert (t["clock"], t["ended_allocation_id"], t["resulting_allocation_id"]) == (None, None, None)

    def before_completion():
        assert (reads_person(c, person), reads_person(receiving.coordinator, person)) == (200, 403)
        assert current_allocations(db, held.id) == 1

    before_completion()
    # The receiving manager has no relationship with the person yet, but reads the transfer to
    # decide it; the sending team's manager may not decide for the receiving team.
    assert ok(receiving.manager.api.get(path(held.id, t["id"])))["handover"] == t["handover"]
    assert reads_person(receiving.manager, person) == 403
    assert_problem(decide(manager, t), 403, "forbidden")
    denied = [e for e in events(db, "transfer", t["id"], manager.sub) if e["action"] == "deny"]
    assert len(denied) == 1 and str(denied[0]["service_user_id"]) == person
    stranger = staff("third", "manager", professional_role="manager")
    assert_problem(decide(stranger, t), 403, "forbidden")
    assert [e["action"] for e in events(db, "transfer", t["id"], stranger.sub)] == ["deny"]

    t = ok(decide(receiving.manager, t))
    assert (t["status"], t["decided_by"]) == ("accepted", receiving.manager.sub) and t["decided_at"]
    before_completion()  # accepted is not moved yet

    t = ok(complete(c, t))
    assert_conforms(service.env.repo, "Transfer", t)
    assert (t["status"], t["completed_by"]) == ("completed", c.sub) and t["completed_at"]
    assert t["ended_allocation_id"] == held.allocation_id and t["resulting_allocation_id"]
    assert (reads_person(c, person), reads_person(receiving.coordinator, person)) == (403, 200)
    assert reads_person(receiving.manager, person) == 200
    assert current_allocations(db, held.id) == 1
    assert str(db.scalar("SELECT team_id FROM episodes WHERE id = %s", (held.id,))) == teams.other["id"]
    new = db.one("SELECT * FROM allocations WHERE id = %s", (t["resulting_allocation_id"],))
    assert (str(new["holder_staff_id"]), new["role"], str(new["replaces_allocation_id"])) == \
        (receiving.coordinator.id, "care_coordinator", held.allocation_id)
    old = db.one("SELECT * FROM allocations WHERE id = %s", (held.allocation_id,))
    assert old["end_reason"] == f"Transferred to {teams.other['name']} (transfer {t['id']})"
    # The allocation ended exactly as the next began: no moment without a responsible person.
    assert old["ended_at"] == new["started_at"]

    trail = events(db, "transfer", t["id"])
    assert [e["action"] for e in trail if e["outcome"] == "success"] == ["create", "read", "update", "update"]
    assert trail[-1]["details"]["resulting_allocation_id"] == t["resulting_allocation_id"]
    moved = [e for e in events(db, "episode", held.id) if e["action"] == "update"][-1]
    assert moved["details"] == {"changes": [{"field": "team_id", "old": teams.cmht["id"],
                                             "new": teams.other["id"]}], "transfer_id": t["id"]}
    assert [e["action"] for e in events(db, "allocation", t["resulting_allocation_id"])] == ["create"]


# -- R-TRF-1: the lifecycle ------------------------------------------------------------------------


def test_only_the_lifecycle_transitions_are_allowed_R_TRF_1(db, manager, held):
    c = held.coordinator
    t = proposed(c, held.id, out_of_area())
    assert_problem(complete(c, t), 409, "conflict")  # not accepted yet
    assert_problem(cancel(c, t, version=t["version"] + 1), 412)
    assert_problem(c.api.post(path(held.id, t["id"], "cancel"), json={"reason": "x"}), 428)
    assert_problem(manager.api.post(path(held.id, t["id"], "decision"), json={"decision": "accepted"}), 428)
    problem = assert_validation(decide(manager, t, "rejected"), "/rejection_reason")
    assert ("/rejection_reason", "R-TRF-1") in rules_of(problem)
    assert_validation(decide(manager, t, "accepted", rejection_reason="x"), "/rejection_reason")
    assert_validation(decide(manager, t, "maybe"), "/decision")
    assert_validation(c.api.post(path(held.id, t["id"], "cancel"), json={},
                                 headers={"If-Match": etag_of(t["version"])}), "/reason")
    rejected = ok(decide(manager, t, "rejected", rejection_reason="No placement available"))
    assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", "No placement available")
    for r in (decide(manager, rejected), decide(manager, rejected, "rejected", rejection_reason="x"),
              complete(c, rejected), cancel(c, rejected)):
        assert_problem(r, 409, "conflict")

    # A rejected transfer is no longer open: another may be proposed; accepted, it may be
    # cancelled but not decided again.
    t = proposed(c, held.id, out_of_area())
    accepted = ok(decide(manager, t))
    assert_problem(decide(manager, t), 409)  # stale and wrong state: the state is the problem
    assert_problem(decide(manager, accepted), 409, "conflict")
    assert_problem(decide(manager, accepted, "rejected", rejection_reason="x"), 409, "conflict")
    cancelled = ok(cancel(c, accepted))
    assert (cancelled["status"], cancelled["cancelled_by"], cancelled["cancellation_reason"]) == \
        ("cancelled", c.sub, "Plans changed")
    for r in (complete(c, cancelled), cancel(c, cancelled), decide(manager, cancelled)):
        assert_problem(r, 409, "conflict")

    # proposed → cancelled; then proposed → accepted → completed, after which nothing follows.
    assert ok(cancel(c, proposed(c, held.id, out_of_area())))["status"] == "cancelled"
    done = ok(complete(c, ok(decide(manager, proposed(c, held.id, out_of_area())))))
    assert done["status"] == "completed"
    for r in (complete(c, done), cancel(c, done), decide(manager, done),
              decide(manager, done, "rejected", rejection_reason="x")):
        assert_problem(r, 409, "conflict")
    # The database refuses a change of status after the end, too.
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        db.execute("UPDATE transfers SET status = 'cancelled', cancelled_at = now(),"
                   " cancellation_reason = 'x' WHERE id = %s", (done["id"],))

    items, _ = paginate(c.api, path(held.id), limit=2)
    assert [i["status"] for i in items] == ["completed", "cancelled", "cancelled", "rejected"]
    trail = [e for e in events(db, "transfer") if e["resource_id"] == done["id"]]
    assert [e["action"] for e in trail] == ["create", "update", "update"]
    assert trail[2]["details"]["changes"][0] == {"field": "status", "old": "accepted", "new": "completed"}


def test_one_open_transfer_per_episode_R_TRF_1(db, manager, held):
    c = held.coordinator
    first = proposed(c, held.id, out_of_area())
    assert_problem(propose(c, held.id, out_of_area()), 409, "conflict")
    accepted = ok(decide(manager, first))
    assert_problem(propose(c, held.id, out_of_area()), 409, "conflict")
    assert db.count("transfers", "episode_id = %s", (held.id,)) == 1
    ok(cancel(c, accepted))
    assert propose(c, held.id, out_of_area()).status_code == 201


def test_a_retried_proposal_is_made_once(db, held):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = propose(held.coordinator, held.id, out_of_area(), headers=key)
    again = propose(held.coordinator, held.id, out_of_area(), headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert db.count("transfers", "episode_id = %s", (held.id,)) == 1


# -- R-TRF-2: the handover -------------------------------------------------------------------------


def plan_body():
    return {"needs": [{"domain": "housing", "description": "Rent arrears"}],
            "goals": [{"in_own_words": "Keep my flat"}],
            "interventions": [{"what": "Benefits advice", "delivered_by": "agency",
                               "provider_name": "Citizens Advice", "frequency": "Fortnightly"}],
            "risk_management_plan": {"plan": "Weekly contact", "risk_categories": ["self_harm"]},
            "crisis_plan": {"early_warning_signs": "Sleeping less", "what_person_should_do": "Call",
                            "what_others_should_do": "Call the team",
                            "contacts_24_7": [{"name": "Crisis team", "number": "0113 496 0000"}]},
            "contingency_plan": {"contact_name": "Duty worker", "contact_role": "Duty senior",
                                 "contact_phone": "0113 496 0001"}}


def test_the_handover_is_taken_at_proposal_and_never_changes_R_TRF_2(service, api, db, manager, staff, teams):
    person = create(api, "/service-users", full_service_user_payload())
    episode_id = open_episode(db, person["id"], teams.cmht["id"])
    c, allocation_id = hold(manager, staff, episode_id)
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=40)
    db.execute("UPDATE allocations SET started_at = %s WHERE id = %s", (long_ago, allocation_id))
    plans = f"/episodes/{episode_id}/care-plans"
    plan = c.api.post(plans, json=plan_body()).json()
    plan = ok(c.api.post(f"{plans}/{plan['id']}/activate", headers={"If-Match": etag_of(plan["version"])}))
    for name, consent in (("Ann Carer", {"given": True, "given_on": "2026-01-10", "scope": ["care_plan"]}),
                          ("Bob Refused", {"given": False, "given_on": "2026-01-10", "scope": []})):
        db.execute("INSERT INTO carers (service_user_id, name, relationship, contact, under_18,"
                   " lives_with_person, consent) VALUES (%s, %s, 'sister', %s, false, false, %s)",
                   (person["id"], name, psycopg2.extras.Json({"phone": "0113 496 0999"}),
                    psycopg2.extras.Json(consent)))

    t = proposed(c, episode_id, out_of_area())
    assert_conforms(service.env.repo, "Transfer", t)
    h = t["handover"]
    assert h["taken_at"]
    assert h["care_plan"]["id"] == plan["id"] and h["care_plan"]["plan_version"] == 1
    assert h["care_plan"]["content"]["goals"] == [{"in_own_words": "Keep my flat"}]
    assert h["risk_summary"] == ok(c.api.get(f"/service-users/{person['id']}/risk-summary"))
    assert h["contacts"] == {"address": person["address"], "gp_practice": person["gp_practice"]}
    assert [(k["name"], k["relationship"], k["contact"], k["consent_scope"]) for k in h["carers"]] == \
        [("Ann Carer", "sister", {"phone": "0113 496 0999"}, ["care_plan"])]
    due = {i["clock"]: i for i in h["open_due_items"]}
    assert due["holistic_assessment"] == {"clock": "holistic_assessment", "due": due_after(long_ago, 28),
                                          "overdue": True, "rule": "R-ASM-1"}
    assert "care_plan" not in due  # met by the active plan

    # The plan changes after the proposal: the handover stays as it was.
    r = c.api.patch(f"{plans}/{plan['id']}", json={"goals": [{"in_own_words": "Move nearer my sister"}]},
                    headers={"If-Match": etag_of(plan["version"])})
    assert r.status_code == 200 and r.json()["plan_version"] == 2
    assert ok(c.api.get(path(episode_id, t["id"])))["handover"] == h
    accepted = ok(decide(manager, t))
    assert accepted["handover"] == h
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        db.execute("UPDATE transfers SET handover = '{}' WHERE id = %s", (t["id"],))
    create_event = events(db, "transfer", t["id"])[0]
    assert "Keep my flat" not in str(create_event["details"])


# -- what each type does ---------------------------------------------------------------------------


def test_step_down_must_fit_the_care_level_and_changes_it_with_the_allocation_R_REV_3(db, manager, staff, held, teams):
    c = held.coordinator
    lead = staff("cmht", "lead_professional")
    problem = assert_validation(propose(c, held.id, {"type": "step_up", "reason": "Worse",
                                                     "receiving_staff_id": c.id}), "/type")
    assert ("/type", "R-REV-3") in rules_of(problem)
    assert_validation(propose(c, held.id, {"type": "step_down", "reason": "Better",
                                           "receiving_team_id": teams.other["id"],
                                           "receiving_staff_id": lead.id}), "/receiving_team_id")
    t = proposed(c, held.id, {"type": "step_down", "reason": "Stable for a year",
                              "receiving_staff_id": lead.id})
    assert t["receiving_team"]["id"] == teams.cmht["id"]  # the episode's own team receives it
    t = ok(complete(c, ok(decide(manager, t))))
    assert db.scalar("SELECT care_level FROM episodes WHERE id = %s", (held.id,)) == "non_cpa"
    new = db.one("SELECT * FROM allocations WHERE episode_id = %s AND ended_at IS NULL", (held.id,))
    assert (str(new["id"]), str(new["holder_staff_id"]), new["role"]) == \
        (t["resulting_allocation_id"], lead.id, "lead_professional")
    assert current_allocations(db, held.id) == 1
    level = [e for e in events(db, "episode", held.id) if e["action"] == "update"][-1]
    assert level["details"]["transfer_id"] == t["id"]
    assert ok(manager.api.get(f"/episodes/{held.id}"))["summary"]["allocation_matches_care_level"] is True


def test_hospital_admission_records_the_ward_and_named_nurse_and_keeps_the_coordinator(db, manager, staff, held, teams):
    c = held.coordinator
    nurse = staff("ward")
    ward_manager = staff("ward", "manager", professional_role="manager")
    body = {"type": "hospital_admission", "reason": "Relapse; admitted informally",
            "receiving_team_id": teams.ward["id"], "details": {"named_nurse_staff_id": nurse.id}}
    assert_validation(propose(c, held.id, dict(body, details={})), "/details/named_nurse_staff_id")
    assert_validation(propose(c, held.id, dict(body, receiving_team_id=teams.other["id"])),
                      "/receiving_team_id")
    outsider = staff("other")
    assert_validation(propose(c, held.id, dict(body, details={"named_nurse_staff_id": outsider.id})),
                      "/details/named_nurse_staff_id")
    t = proposed(c, held.id, body)
    assert_problem(decide(manager, t), 403)  # the ward decides
    t = ok(complete(c, ok(decide(ward_manager, t))))
    assert t["receiving_team"]["type"] == "inpatient_ward"
    assert t["details"] == {"named_nurse_staff_id": nurse.id}
    assert (t["ended_allocation_id"], t["resulting_allocation_id"]) == (None, None)
    current = db.one("SELECT * FROM allocations WHERE episode_id = %s AND ended_at IS NULL", (held.id,))
    assert str(current["id"]) == held.allocation_id  # the co-ordinator keeps the role
    assert reads_person(c, held.person["id"]) == 200


def test_partner_agency_moves_the_allocation_to_the_external_holder_R_TRF_1(db, manager, held):
    c = held.coordinator
    assert_validation(propose(c, held.id, {"type": "partner_agency", "reason": "DRR"}), "/receiving_external")
    t = proposed(c, held.id, {"type": "partner_agency", "reason": "Community DRR",
                              "receiving_external": PROBATION})
    assert reads_person(c, held.person["id"]) == 200
    t = ok(complete(c, ok(decide(manager, t))))
    assert current_allocations(db, held.id) == 1
    new = db.one("SELECT * FROM allocations WHERE episode_id = %s AND ended_at IS NULL", (held.id,))
    assert (str(new["id"]), new["holder_staff_id"], new["external_holder_name"],
            new["external_holder_organisation"], new["external_holder_contact"]) == \
        (t["resulting_allocation_id"], None, "Sam Reed", "Probation Service", "0113 496 0200")
    assert reads_person(c, held.person["id"]) == 403


def test_primary_care_discharge_closes_the_episode_and_ends_the_allocation_R_TRF_5(db, manager, held):
    c = held.coordinator
    t = proposed(c, held.id, {"type": "primary_care_discharge", "reason": "Recovered",
                              "receiving_external": GP})
    t = ok(complete(c, ok(decide(manager, t))))
    episode = db.one("SELECT status, closed_at FROM episodes WHERE id = %s", (held.id,))
    assert episode["status"] == "closed" and episode["closed_at"] is not None
    assert current_allocations(db, held.id) == 0
    ended = db.one("SELECT * FROM allocations WHERE id = %s", (held.allocation_id,))
    assert ended["end_reason"] == f"Discharged to primary care (transfer {t['id']})"
    assert (t["ended_allocation_id"], t["resulting_allocation_id"]) == (held.allocation_id, None)
    assert reads_person(c, held.person["id"]) == 403
    assert_problem(propose(c, held.id, out_of_area()), 403)  # no relationship any more
    assert_problem(propose(manager, held.id, out_of_area()), 409, "conflict")  # closed


def test_a_substance_misuse_discharge_needs_the_exit_tops_R_TRF_5_R_ASM_7(api, db, staff, teams):
    sm_manager = staff("sm", "manager", professional_role="manager")
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.sm["id"])
    c, allocation_id = hold(sm_manager, staff, episode_id, team="sm")
    t = proposed(c, episode_id, {"type": "primary_care_discharge", "reason": "Completed treatment",
                                 "receiving_external": GP})
    t = ok(decide(sm_manager, t))
    problem = assert_problem(complete(c, t), 409, "conflict")
    assert "R-ASM-7" in problem["detail"]
    assert db.scalar("SELECT status FROM episodes WHERE id = %s", (episode_id,)) == "open"
    assert ok(c.api.get(path(episode_id, t["id"])))["status"] == "accepted"
    assert current_allocations(db, episode_id) == 1
    db.execute("INSERT INTO assessments (episode_id, type, status, tops, completed_at, completed_by)"
               " VALUES (%s, 'tops', 'completed', '{\"stage\": \"exit\"}', now(), 'staff-x')", (episode_id,))
    assert ok(complete(c, t))["ended_allocation_id"] == allocation_id
    assert db.scalar("SELECT status FROM episodes WHERE id = %s", (episode_id,)) == "closed"


# -- R-TRF-3, R-TRF-4: the clocks ------------------------------------------------------------------


def add_months(day, months):
    """The date `months` calendar months after day, clamped to the end of the month."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def add_contact(db, t, kind, on, face_to_face, by_staff_id):
    db.execute("INSERT INTO transfer_contacts (transfer_id, kind, contact_on, face_to_face, by_staff_id,"
               " recorded_by) VALUES (%s, %s, %s, %s, %s, 'staff-x')",
               (t["id"], kind, on, face_to_face, by_staff_id))


def test_hospital_discharge_follow_up_due_within_7_days_face_to_face_R_TRF_3(service, db, manager, held):
    c = held.coordinator
    tomorrow = (today() + datetime.timedelta(days=1)).isoformat()
    problem = assert_validation(propose(c, held.id, {"type": "hospital_discharge", "reason": "Home",
                                                     "details": {"discharged_on": tomorrow}}),
                                "/details/discharged_on")
    assert ("/details/discharged_on", "R-TRF-3") in rules_of(problem)
    assert_validation(propose(c, held.id, {"type": "hospital_discharge", "reason": "Home"}),
                      "/details/discharged_on")
    discharged = today() - datetime.timedelta(days=10)
    t = proposed(c, held.id, {"type": "hospital_discharge", "reason": "Discharged home",
                              "details": {"discharged_on": discharged.isoformat()}})
    assert t["clock"] is None  # nothing runs until the transfer completes
    t = ok(complete(c, ok(decide(manager, t))))
    due = (discharged + datetime.timedelta(days=7)).isoformat()
    assert t["clock"] == {"due": due, "overdue": True, "completed": None, "rule": "R-TRF-3"}
    # A phone call is recorded but is not the face-to-face follow-up.
    add_contact(db, t, "follow_up", (discharged + datetime.timedelta(days=2)).isoformat(), False, c.id)
    assert ok(c.api.get(path(held.id, t["id"])))["clock"]["overdue"] is True
    seen = (discharged + datetime.timedelta(days=8)).isoformat()
    add_contact(db, t, "follow_up", seen, True, c.id)
    assert ok(c.api.get(path(held.id, t["id"])))["clock"] == \
        {"due": due, "overdue": False, "completed": seen, "rule": "R-TRF-3"}
    page = ok(c.api.get(path(held.id)))
    assert_conforms(service.env.repo, "TransferList", page)
    assert page["items"][0]["clock"]["completed"] == seen


def test_out_of_area_liaison_due_every_6_months_while_the_placement_lasts_R_TRF_4(db, manager, held):
    c = held.coordinator
    t = ok(complete(c, ok(decide(manager, proposed(c, held.id, out_of_area())))))
    assert t["clock"] == {"due": add_months(today(), 6).isoformat(), "overdue": False,
                          "completed": None, "rule": "R-TRF-4"}
    assert current_allocations(db, held.id) == 1 and reads_person(c, held.person["id"]) == 200
    # A liaison long after the due date in the past: counted from the later of the two.
    db.execute("UPDATE transfers SET completed_at = now() - interval '300 days' WHERE id = %s", (t["id"],))
    assert ok(c.api.get(path(held.id, t["id"])))["clock"]["overdue"] is True
    liaison = (today() - datetime.timedelta(days=3)).isoformat()
    add_contact(db, t, "liaison", liaison, False, c.id)
    clock = ok(c.api.get(path(held.id, t["id"])))["clock"]
    assert (clock["overdue"], clock["completed"]) == (False, liaison)
    db.execute("UPDATE transfers SET placement_ended_on = current_date WHERE id = %s", (t["id"],))
    assert ok(c.api.get(path(held.id, t["id"])))["clock"] == \
        {"due": None, "overdue": False, "completed": liaison, "rule": "R-TRF-4"}


# -- bodies, access, unknowns ----------------------------------------------------------------------


OWN_TEAM, OWN_STAFF = object(), object()  # stand-ins for ids known only inside the test


@pytest.mark.parametrize("change, field", [
    ({"type": None}, "/type"),
    ({"type": "holiday"}, "/type"),
    ({"reason": None}, "/reason"),
    ({"reason": ""}, "/reason"),
    ({"receiving_team_id": None}, "/receiving_team_id"),
    ({"receiving_team_id": "not-a-uuid"}, "/receiving_team_id"),
    ({"receiving_team_id": str(uuid.uuid4())}, "/receiving_team_id"),
    ({"receiving_team_id": OWN_TEAM}, "/receiving_team_id"),
    ({"receiving_staff_id": None}, "/receiving_staff_id"),
    ({"receiving_staff_id": str(uuid.uuid4())}, "/receiving_staff_id"),
    ({"receiving_staff_id": OWN_STAFF}, "/receiving_staff_id"),
    ({"receiving_external": GP}, "/receiving_external"),
    ({"details": {"discharged_on": "2026-01-01"}}, "/details/discharged_on"),
    ({"handover": {}}, "/handover"),
    ({"status": "accepted"}, "/status"),
])
def test_bad_proposals_are_422_naming_the_field_and_nothing_is_written(db, staff, held, receiving, teams,
                                                                      change, field):
    body = {"type": "internal_team", "reason": "Moving", "receiving_team_id": teams.other["id"],
            "receiving_staff_id": receiving.coordinator.id}
    for name, value in change.items():
        if value is OWN_TEAM:
            value = teams.cmht["id"]  # the episode's own team: no transfer
        elif value is OWN_STAFF:
            value = staff("cmht").id  # not a member of the receiving team
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    before = db.counts("transfers", "audit_events")
    assert_validation(propose(held.coordinator, held.id, body), field)
    assert db.counts("transfers", "audit_events") == before


def test_access_needs_the_relationship_and_refusals_are_audited_R_AUD_1(db, staff, manager, held):
    t = proposed(held.coordinator, held.id, out_of_area())
    stranger, stranger_manager = staff("third"), staff("third", "manager", professional_role="manager")
    if_match = {"If-Match": etag_of(t["version"])}
    for r in (stranger.api.get(path(held.id)), stranger.api.get(path(held.id, t["id"])),
              stranger.api.post(path(held.id), json=out_of_area()),
              stranger.api.post(path(held.id, t["id"], "complete"), headers=if_match),
              stranger.api.post(path(held.id, t["id"], "cancel"), json={"reason": "x"}, headers=if_match),
              stranger_manager.api.post(path(held.id, t["id"], "decision"), json={"decision": "accepted"},
                                        headers=if_match)):
        assert_problem(r, 403, "forbidden")
    denials = [e for e in events(db, "transfer", None, stranger.sub) +
               events(db, "transfer", None, stranger_manager.sub) if e["action"] == "deny"]
    assert len(denials) == 6 and {str(e["service_user_id"]) for e in denials} == {held.person["id"]}
    assert_problem(held.coordinator.api.post(path(held.id, t["id"], "decision"), json={"decision": "accepted"},
                                             headers=if_match), 403)  # managers decide
    assert ok(held.coordinator.api.get(path(held.id, t["id"])))["status"] == "proposed"
    r = stranger.api.get(path(held.id, t["id"]), headers={"X-Break-Glass-Reason": "Crisis call out of hours"})
    assert r.status_code == 200
    assert events(db, "transfer", t["id"], stranger.sub)[-1]["action"] == "break_glass"


def test_unknown_transfers_and_episodes_are_404(held):
    c = held.coordinator
    t = proposed(c, held.id, out_of_area())
    assert_problem(c.api.get(path(held.id, str(uuid.uuid4()))), 404)
    assert_problem(c.api.get(path(held.id, "nope")), 404)
    assert_problem(c.api.get(path(str(uuid.uuid4()), t["id"])), 404)
    assert_problem(complete(c, dict(t, id=str(uuid.uuid4()))), 404)
    assert_problem(c.api.post(path(str(uuid.uuid4())), json=out_of_area()), 404)
