"""CPA reviews (DOMAIN.md care cycle step 6; R-REV-1..3): planning a review (its default due date
at the policy interval after the first allocation or the last review held, urgent reviews with
their reason), recording it as held (what it must record, the next due date), the care level a
step_down or step_up sets, held reviews never changing, access and the audit trail (R-AUD-1).

Episodes are made directly in the database (they are opened by accepting a referral), and so are
held reviews whose dates lie in the past (the database trigger stops only changes to them)."""

import calendar
import datetime
import json
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
    events,
    london_date,
    new_person,
    new_team,
    open_episode,
)
from carecoord import assert_problem, assert_validation, etag_of, mint_token, paginate

REASON = "Crisis call out of hours, coordinator unreachable"
SUMMARY = "Mood settled since the change of medication; housing remains the main worry."


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api))


@pytest.fixture
def held(manager, staff, episode):
    """The CPA episode with a care co-ordinator allocated: SimpleNamespace(id, person,
    coordinator, allocation_id)."""
    coordinator = staff()
    r = manager.api.post(f"/episodes/{episode.id}/allocations", json=allocation_body(coordinator.id))
    assert r.status_code == 201, r.text
    return SimpleNamespace(id=episode.id, person=episode.person, coordinator=coordinator,
                           allocation_id=r.json()["id"])


@pytest.fixture
def non_cpa(api, db, manager, staff, teams):
    """An episode not on CPA with a lead professional allocated (R-ALC-2)."""
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.cmht["id"], care_level="non_cpa")
    lead = staff()
    r = manager.api.post(f"/episodes/{episode_id}/allocations",
                         json=allocation_body(lead.id, role="lead_professional"))
    assert r.status_code == 201, r.text
    return SimpleNamespace(id=episode_id, person=person, coordinator=lead,
                           allocation_id=r.json()["id"])


def path(episode_id, *rest):
    return "/".join([f"/episodes/{episode_id}/reviews", *rest])


def invitee(kind="person", name="Jo Example", staff_id=None, consulted=False, informed=False,
            carer_id=None):
    body = {"kind": kind, "name": name, "consulted": consulted, "informed_of_outcome": informed}
    if staff_id is not None:
        body["staff_id"] = staff_id
    if carer_id is not None:
        body["carer_id"] = carer_id
    return body


def consenting_carer(who, person_id):
    """A carer of the person whose consent covers reviews (R-CAR-1): the id to invite them by."""
    r = who.api.post(f"/service-users/{person_id}/carers", json={
        "name": "Sam Example", "relationship": "partner", "contact": {"phone": "07700 900333"},
        "under_18": False, "lives_with_person": True,
        "consent": {"given": True, "recorded_on": "2026-11-01", "scope": ["reviews"]}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def outcome_body(**over):
    """An outcome body holding everything a held review records (R-REV-2)."""
    body = {
        "held_on": today().isoformat(),
        "attendees": [{"name": "Jo Example", "role": None},
                      {"name": "Dr Patel", "role": "Consultant psychiatrist"}],
        "chaired_by": {"kind": "person", "name": "Jo Example"},
        "summary": SUMMARY,
        "outcome": "continue",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def create(who, episode_id, body, **kw):
    r = who.api.post(path(episode_id), json=body, **kw)
    assert r.status_code == 201, r.text
    return r.json()


def patch(who, review, body, version=None):
    return who.api.patch(path(review["episode_id"], review["id"]), json=body,
                         headers={"If-Match": etag_of(version or review["version"])})


def record_outcome(who, review, body, version=None):
    return who.api.post(path(review["episode_id"], review["id"], "outcome"), json=body,
                        headers={"If-Match": etag_of(version or review["version"])})


def held_review(who, review, body):
    r = record_outcome(who, review, body)
    assert r.status_code == 200, r.text
    return r.json()


def rules_of(problem):
    return {(e["field"], e.get("rule")) for e in problem["errors"]}


def add_months(date, months):
    """An independent statement of the month arithmetic: the same day n months on, or the last
    day of that month when it is shorter."""
    month0 = date.month - 1 + months
    year, month = date.year + month0 // 12, month0 % 12 + 1
    return datetime.date(year, month, min(date.day, calendar.monthrange(year, month)[1]))


def today():
    return london_date(datetime.datetime.now(datetime.timezone.utc))


def utc(*args):
    return datetime.datetime(*args, tzinfo=datetime.timezone.utc)


def allocation_start(db, allocation_id):
    return db.scalar("SELECT started_at FROM allocations WHERE id = %s", (allocation_id,))


def start_allocation_at(db, allocation_id, instant):
    db.execute("UPDATE allocations SET started_at = %s WHERE id = %s", (instant, allocation_id))


def insert_held(db, episode_id, held_on, level="cpa"):
    """A review held on held_on (a date in the past), made directly with every held column."""
    return str(db.scalar(
        "INSERT INTO reviews (episode_id, type, status, due_on, held_on, attendees, chaired_by,"
        " summary, outcome, care_level_before, care_level_after, held_recorded_by)"
        " VALUES (%s, 'scheduled', 'held', %s, %s, %s::jsonb, %s::jsonb, 'Held as planned.',"
        " 'continue', %s, %s, 'staff-x') RETURNING id",
        (episode_id, held_on, held_on, json.dumps([{"name": "Jo Example", "role": None}]),
         json.dumps({"kind": "staff", "name": "Dr Patel"}), level, level)))


def default_due(who, episode_id):
    """The due date the service gives a scheduled review that names none."""
    return create(who, episode_id, {"type": "scheduled"})["due_on"]


def episode_of(who, episode_id):
    r = who.api.get(f"/episodes/{episode_id}")
    assert r.status_code == 200, r.text
    return r.json()


# -- planning a review --------------------------------------------------------------------------


def test_create_read_list_and_audit_R_AUD_1(service, db, held):
    c = held.coordinator
    carer = consenting_carer(c, held.person["id"])
    body = {"type": "scheduled", "due_on": "2027-03-01",
            "invitees": [invitee(), invitee("carer", "Sam Example", carer_id=carer),
                         invitee("staff", "Dr Patel", staff_id=c.id),
                         invitee("agency", "Leeds Housing Options")]}
    r = c.api.post(path(held.id), json=body)
    assert r.status_code == 201, r.text
    review = r.json()
    assert_conforms(service.env.repo, "Review", review)
    assert r.headers["Location"] == path(held.id, review["id"])
    assert r.headers["ETag"] == etag_of(review["version"])
    assert (review["type"], review["status"], review["due_on"], review["episode_id"],
            review["service_user_id"], review["created_by"], review["version"]) == \
        ("scheduled", "planned", "2027-03-01", held.id, held.person["id"], c.sub, 1)
    assert review["invitees"] == body["invitees"] and review["request_reason"] is None
    for member in ("held_on", "attendees", "chaired_by", "summary", "outcome",
                   "care_level_before", "care_level_after", "next_review_due",
                   "held_recorded_by"):
        assert review[member] is None, member
    got = c.api.get(path(held.id, review["id"]))
    assert got.status_code == 200 and got.json() == review
    assert got.headers["ETag"] == etag_of(review["version"])

    # The latest due first; a tie on the date goes by id, newest id first.
    later = create(c, held.id, {"type": "scheduled", "due_on": "2027-09-01"})
    same_day = create(c, held.id, {"type": "urgent", "due_on": "2027-03-01",
                                   "request_reason": REASON})
    items, pages = paginate(c.api, path(held.id), limit=1)
    tie = sorted([review["id"], same_day["id"]], reverse=True)
    assert [i["id"] for i in items] == [later["id"], *tie] and len(pages) == 3

    created = events(db, "review", review["id"])
    assert [(e["action"], e["actor"], str(e["service_user_id"])) for e in created][:2] == \
        [("create", c.sub, held.person["id"]), ("read", c.sub, held.person["id"])]
    assert created[0]["details"] == {"type": "scheduled", "due_on": "2027-03-01"}
    # The trail says what was done, never who was invited nor why.
    urgent = events(db, "review", same_day["id"])[0]
    assert "Jo Example" not in str(created[0]["details"]) and REASON not in str(urgent["details"])
    pages_read = [e for e in events(db, "review", None, c.sub)
                  if e["action"] == "read" and e["resource_id"] is None]
    assert [e["details"]["ids"] for e in pages_read] == [[i["id"]] for i in items]


def test_scheduled_review_is_due_six_months_after_the_first_allocation_on_cpa_R_REV_1(db, held):
    c = held.coordinator
    start = london_date(allocation_start(db, held.allocation_id))
    assert default_due(c, held.id) == add_months(start, 6).isoformat()
    # The allocation's London date counts: 23:30 UTC on 31 August is 1 September in summer.
    start_allocation_at(db, held.allocation_id, utc(2025, 8, 31, 23, 30))
    assert default_due(c, held.id) == "2026-03-01"
    start_allocation_at(db, held.allocation_id, utc(2025, 8, 31, 12, 0))
    assert default_due(c, held.id) == "2026-02-28"


def test_scheduled_review_is_due_six_months_after_the_last_held_on_cpa_R_REV_1(db, held):
    insert_held(db, held.id, "2025-08-31")
    assert default_due(held.coordinator, held.id) == "2026-02-28"
    # The last held counts, not the last recorded: a review held earlier changes nothing.
    insert_held(db, held.id, "2025-05-31")
    assert default_due(held.coordinator, held.id) == "2026-02-28"
    insert_held(db, held.id, "2025-10-31")
    assert default_due(held.coordinator, held.id) == "2026-04-30"


def test_not_on_cpa_a_review_is_due_every_twelve_months_R_REV_1(db, non_cpa):
    lead = non_cpa.coordinator
    start = london_date(allocation_start(db, non_cpa.allocation_id))
    assert default_due(lead, non_cpa.id) == add_months(start, 12).isoformat()
    insert_held(db, non_cpa.id, "2024-02-29", level="non_cpa")
    assert default_due(lead, non_cpa.id) == "2025-02-28"


def test_without_a_coordinating_allocation_the_due_date_is_required_R_REV_1(db, manager, episode):
    # The team's manager may write to an episode nobody is allocated to yet.
    problem = assert_validation(manager.api.post(path(episode.id), json={"type": "scheduled"}),
                                "/due_on")
    assert ("/due_on", "R-REV-1") in rules_of(problem)
    assert db.count("reviews", "episode_id = %s", (episode.id,)) == 0
    assert create(manager, episode.id, {"type": "scheduled", "due_on": "2027-01-15"})["due_on"] == \
        "2027-01-15"


def test_policy_settings_change_the_intervals_R_REV_1(service_factory, db, held, non_cpa):
    insert_held(db, held.id, "2025-08-31")
    insert_held(db, non_cpa.id, "2025-05-31", level="non_cpa")
    other = service_factory.start(env={"CARECOORD_POLICY_REVIEW_CPA_MONTHS": "3",
                                       "CARECOORD_POLICY_REVIEW_NON_CPA_MONTHS": "9"})
    with other.api(token=mint_token(other.env, sub=held.coordinator.sub,
                                    roles=("coordinator",))) as c, \
            other.api(token=mint_token(other.env, sub=non_cpa.coordinator.sub,
                                       roles=("coordinator",))) as lead:
        r = c.post(path(held.id), json={"type": "scheduled"})
        assert r.status_code == 201, r.text
        assert r.json()["due_on"] == "2025-11-30"
        r = lead.post(path(non_cpa.id), json={"type": "scheduled"})
        assert r.status_code == 201, r.text
        assert r.json()["due_on"] == "2026-02-28"
        # Holding a review sets the next due date at the configured interval too.
        review = r.json()
        r = lead.post(path(non_cpa.id, review["id"], "outcome"), json=outcome_body(),
                      headers={"If-Match": etag_of(review["version"])})
        assert r.status_code == 200, r.text
        assert r.json()["next_review_due"] == add_months(today(), 9).isoformat()
    # The default service keeps the defaults.
    assert default_due(held.coordinator, held.id) == "2026-02-28"


def test_an_urgent_review_needs_its_reason_and_is_due_today_R_REV_1(db, held):
    c = held.coordinator
    problem = assert_validation(c.api.post(path(held.id), json={"type": "urgent"}),
                                "/request_reason")
    assert ("/request_reason", "R-REV-1") in rules_of(problem)
    urgent = create(c, held.id, {"type": "urgent", "request_reason": REASON})
    assert (urgent["due_on"], urgent["request_reason"]) == (today().isoformat(), REASON)
    problem = assert_validation(patch(c, urgent, {"request_reason": None}), "/request_reason")
    assert ("/request_reason", "R-REV-1") in rules_of(problem)
    assert create(c, held.id, {"type": "discharge"})["due_on"] == today().isoformat()
    with pytest.raises(psycopg2.errors.CheckViolation):  # and the database agrees
        db.execute("INSERT INTO reviews (episode_id, type, due_on) VALUES (%s, 'urgent', %s)",
                   (held.id, today()))


def test_patch_needs_if_match_and_audits_the_fields_changed(db, held):
    c = held.coordinator
    review = create(c, held.id, {"type": "scheduled", "due_on": "2027-03-01"})
    assert_problem(c.api.patch(path(held.id, review["id"]), json={"due_on": "2027-04-01"}), 428)
    r = patch(c, review, {"due_on": "2027-04-01"}, version=review["version"] + 3)
    assert_problem(r, 412)
    assert r.headers["ETag"] == etag_of(review["version"])
    r = patch(c, review, {"due_on": "2027-04-01", "invitees": [invitee()],
                          "request_reason": "Family asked for an earlier date"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["version"] == review["version"] + 1 and r.headers["ETag"] == etag_of(changed["version"])
    assert (changed["due_on"], changed["invitees"], changed["type"]) == \
        ("2027-04-01", [invitee()], "scheduled")
    update = events(db, "review", review["id"])[-1]
    assert update["action"] == "update"
    assert sorted(update["details"]["changes"], key=lambda c: c["field"]) == [
        {"field": "due_on", "old": "2027-03-01", "new": "2027-04-01"},
        {"field": "invitees"}, {"field": "request_reason"}]
    assert "Jo Example" not in str(update["details"]) and "Family" not in str(update["details"])
    # The type is fixed at creation; a stale version is refused and nothing is written.
    assert_validation(patch(c, changed, {"type": "urgent", "request_reason": REASON}), "/type")
    assert_validation(patch(c, changed, {"due_on": None}), "/due_on")
    assert_problem(patch(c, review, {"due_on": "2027-05-01"}), 412)
    assert c.api.get(path(held.id, review["id"])).json() == changed


def test_staff_invitees_name_an_active_staff_member(db, staff, held):
    c = held.coordinator
    inactive = staff(active=False)
    for bad in (invitee("staff", "Dr Patel"),
                invitee("staff", "Dr Patel", staff_id=str(uuid.uuid4())),
                invitee("staff", "Dr Patel", staff_id=inactive.id),
                invitee("carer", "Sam Example", staff_id=c.id, carer_id=str(uuid.uuid4()))):
        assert_validation(c.api.post(path(held.id), json={
            "type": "scheduled", "invitees": [invitee(), bad]}), "/invitees/1/staff_id")
    assert db.count("reviews", "episode_id = %s", (held.id,)) == 0
    review = create(c, held.id, {"type": "scheduled",
                                 "invitees": [invitee("staff", "Dr Patel", staff_id=c.id)]})
    assert review["invitees"][0]["staff_id"] == c.id
    assert_validation(patch(c, review, {"invitees": [invitee("staff", "X", staff_id=inactive.id)]}),
                      "/invitees/0/staff_id")


@pytest.mark.parametrize("body, field", [
    ({}, "/type"),
    ({"type": "routine"}, "/type"),
    ({"type": "scheduled", "mood": "low"}, "/mood"),
    ({"type": "scheduled", "status": "held"}, "/status"),
    ({"type": "scheduled", "outcome": "continue"}, "/outcome"),
    ({"type": "scheduled", "due_on": "2027-02-30"}, "/due_on"),
    ({"type": "scheduled", "due_on": None}, "/due_on"),
    ({"type": "urgent", "request_reason": ""}, "/request_reason"),
    ({"type": "scheduled", "invitees": {"name": "Jo"}}, "/invitees"),
    ({"type": "scheduled", "invitees": [invitee("neighbour")]}, "/invitees/0/kind"),
    ({"type": "scheduled", "invitees": [invitee(name="x" * 201)]}, "/invitees/0/name"),
    ({"type": "scheduled", "invitees": [{"kind": "person", "name": "Jo", "consulted": True}]},
     "/invitees/0/informed_of_outcome"),
    ({"type": "scheduled", "invitees": [invitee(staff_id="not-a-uuid")]}, "/invitees/0/staff_id"),
    ({"type": "scheduled", "invitees": [invitee()] * 51}, "/invitees"),
])
def test_bad_bodies_are_422_naming_the_field_and_nothing_is_written(db, held, body, field):
    before = db.counts("reviews", "audit_events")
    assert_validation(held.coordinator.api.post(path(held.id), json=body), field)
    assert db.counts("reviews", "audit_events") == before


def test_a_closed_episode_takes_no_new_review(api, db, manager, teams):
    person = new_person(api)
    closed = open_episode(db, person["id"], teams.cmht["id"], status="closed")
    assert_problem(manager.api.post(path(closed), json={"type": "scheduled", "due_on": "2027-01-01"}),
                   409, "conflict")
    assert db.count("reviews", "episode_id = %s", (closed,)) == 0


def test_idempotent_create_replays_the_first_response(db, held):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"type": "urgent", "request_reason": REASON}
    first = held.coordinator.api.post(path(held.id), json=body, headers=key)
    again = held.coordinator.api.post(path(held.id), json=body, headers=key)
    assert first.status_code == 201 and again.status_code == 201
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert db.count("reviews", "episode_id = %s", (held.id,)) == 1
    assert len([e for e in events(db, "review", first.json()["id"]) if e["action"] == "create"]) == 1


# -- holding a review ---------------------------------------------------------------------------


def test_holding_a_review_records_it_and_sets_the_next_due_date_R_REV_2(service, db, manager, held):
    c = held.coordinator
    carer = consenting_carer(c, held.person["id"])
    review = create(c, held.id, {"type": "scheduled",
                                 "invitees": [invitee(), invitee("carer", "Sam", carer_id=carer)]})
    assert_problem(c.api.post(path(held.id, review["id"], "outcome"), json=outcome_body()), 428)
    assert_problem(record_outcome(c, review, outcome_body(), version=review["version"] + 1), 412)
    episode_updates = len([e for e in events(db, "episode", held.id) if e["action"] == "update"])
    answered = [invitee(consulted=True, informed=True),
                invitee("carer", "Sam", consulted=True, carer_id=carer)]
    held_on = today() - datetime.timedelta(days=3)
    r = record_outcome(c, review, outcome_body(held_on=held_on.isoformat(), invitees=answered))
    assert r.status_code == 200, r.text
    done = r.json()
    assert_conforms(service.env.repo, "Review", done)
    assert r.headers["ETag"] == etag_of(done["version"]) and done["version"] == review["version"] + 1
    assert (done["status"], done["held_on"], done["outcome"], done["summary"], done["held_recorded_by"]) == \
        ("held", held_on.isoformat(), "continue", SUMMARY, c.sub)
    assert done["attendees"] == outcome_body()["attendees"]
    assert done["chaired_by"] == {"kind": "person", "name": "Jo Example"}
    assert done["invitees"] == answered
    assert (done["care_level_before"], done["care_level_after"]) == ("cpa", "cpa")
    assert done["next_review_due"] == add_months(held_on, 6).isoformat()
    assert (done["type"], done["due_on"], done["created_by"]) == \
        (review["type"], review["due_on"], review["created_by"])
    assert c.api.get(path(held.id, review["id"])).json() == done

    holding = [e for e in events(db, "review", review["id"]) if e["action"] != "read"][-1]
    assert (holding["action"], holding["actor"]) == ("update", c.sub)
    changes = {ch["field"]: ch for ch in holding["details"]["changes"]}
    assert changes["status"] == {"field": "status", "old": "planned", "new": "held"}
    assert changes["outcome"] == {"field": "outcome", "old": None, "new": "continue"}
    assert changes["held_on"]["new"] == held_on.isoformat()
    assert changes["summary"] == {"field": "summary"} and changes["attendees"] == {"field": "attendees"}
    assert changes["chaired_by"] == {"field": "chaired_by"} and changes["invitees"] == {"field": "invitees"}
    assert SUMMARY not in str(holding["details"]) and "Jo Example" not in str(holding["details"])
    # "continue" leaves the episode as it was.
    episode = episode_of(manager, held.id)
    assert episode["care_level"] == "cpa"
    # The episode's review compliance counts from it too.
    assert episode["summary"]["clocks"]["review"] == {
        "due": done["next_review_due"], "overdue": False, "completed": held_on.isoformat(),
        "rule": "R-REV-1"}
    assert len([e for e in events(db, "episode", held.id) if e["action"] == "update"]) == episode_updates
    # And the next scheduled review is due from this one.
    assert default_due(c, held.id) == done["next_review_due"]


def test_holding_keeps_the_planned_invitees_when_none_are_given_R_REV_2(held):
    c = held.coordinator
    planned = [invitee(consulted=True, informed=True)]
    review = create(c, held.id, {"type": "scheduled", "invitees": planned})
    assert held_review(c, review, outcome_body())["invitees"] == planned


def test_outcome_names_every_missing_member_and_changes_nothing_R_REV_2(db, held):
    c = held.coordinator
    review = create(c, held.id, {"type": "scheduled"})
    assert_validation(record_outcome(c, review, {}), "/held_on", "/attendees", "/chaired_by",
                      "/summary", "/outcome")
    for body, field in [
        (outcome_body(attendees=[]), "/attendees"),
        (outcome_body(attendees=[{"role": "GP"}]), "/attendees/0/name"),
        (outcome_body(chaired_by={"kind": "person"}), "/chaired_by/name"),
        (outcome_body(chaired_by={"kind": "mayor", "name": "X"}), "/chaired_by/kind"),
        (outcome_body(summary=""), "/summary"),
        (outcome_body(outcome="promote"), "/outcome"),
        (outcome_body(held_on="2026-13-01"), "/held_on"),
        (outcome_body(invitees=[{"kind": "person", "name": "Jo"}]), "/invitees/0/consulted"),
        (outcome_body(invitees=[invitee("staff", "Dr Patel")]), "/invitees/0/staff_id"),
        (outcome_body(next_review_due="2030-01-01"), "/next_review_due"),
    ]:
        assert_validation(record_outcome(c, review, body), field)
    after = c.api.get(path(held.id, review["id"])).json()
    assert after == review
    assert [e["action"] for e in events(db, "review", review["id"]) if e["action"] != "read"] == ["create"]


def test_a_review_cannot_be_held_in_the_future_R_REV_2(held):
    c = held.coordinator
    review = create(c, held.id, {"type": "scheduled"})
    tomorrow = today() + datetime.timedelta(days=1)
    assert_validation(record_outcome(c, review, outcome_body(held_on=tomorrow.isoformat())),
                      "/held_on")
    assert c.api.get(path(held.id, review["id"])).json()["status"] == "planned"
    assert held_review(c, review, outcome_body())["held_on"] == today().isoformat()


def test_step_down_from_cpa_changes_the_episode_care_level_R_REV_3(db, manager, held):
    c = held.coordinator
    review = create(c, held.id, {"type": "scheduled"})
    before = episode_of(manager, held.id)
    history = len(before["care_level_history"])
    assert before["summary"]["allocation_matches_care_level"] is True
    done = held_review(c, review, outcome_body(outcome="step_down"))
    assert (done["care_level_before"], done["care_level_after"]) == ("cpa", "non_cpa")
    # The next review is due at the interval of the level the episode is left at.
    assert done["next_review_due"] == add_months(today(), 12).isoformat()
    episode = episode_of(manager, held.id)
    assert (episode["care_level"], episode["care_level_provisional"]) == ("non_cpa", False)
    assert len(episode["care_level_history"]) == history + 1
    last = episode["care_level_history"][-1]
    assert (last["from_level"], last["to_level"], last["changed_by"]) == ("cpa", "non_cpa", c.sub)
    assert review["id"] in last["reason"]
    # The care co-ordinator allocation no longer matches until a lead professional is allocated.
    assert episode["summary"]["allocation_matches_care_level"] is False
    change = [e for e in events(db, "episode", held.id) if e["action"] == "update"][-1]
    assert change["details"]["changes"] == [{"field": "care_level", "old": "cpa", "new": "non_cpa"}]
    assert change["details"]["review_id"] == review["id"] and change["actor"] == c.sub
    # From now on the episode's scheduled reviews are twelve-monthly, counted from this one.
    assert default_due(c, held.id) == add_months(today(), 12).isoformat()


def test_step_up_from_non_cpa_changes_the_episode_care_level_R_REV_3(db, manager, non_cpa):
    lead = non_cpa.coordinator
    review = create(lead, non_cpa.id, {"type": "urgent", "request_reason": REASON})
    done = held_review(lead, review, outcome_body(outcome="step_up"))
    assert (done["care_level_before"], done["care_level_after"]) == ("non_cpa", "cpa")
    assert done["next_review_due"] == add_months(today(), 6).isoformat()
    episode = episode_of(manager, non_cpa.id)
    assert episode["care_level"] == "cpa"
    last = episode["care_level_history"][-1]
    assert (last["from_level"], last["to_level"]) == ("non_cpa", "cpa")
    change = [e for e in events(db, "episode", non_cpa.id) if e["action"] == "update"][-1]
    assert change["details"]["changes"] == [{"field": "care_level", "old": "non_cpa", "new": "cpa"}]


@pytest.mark.parametrize("level, outcome", [("non_cpa", "step_down"), ("cpa", "step_up")])
def test_an_outcome_that_does_not_fit_the_care_level_is_refused_R_REV_3(db, manager, held, non_cpa,
                                                                         level, outcome):
    target = held if level == "cpa" else non_cpa
    review = create(target.coordinator, target.id, {"type": "scheduled"})
    history = episode_of(manager, target.id)["care_level_history"]
    problem = assert_validation(record_outcome(target.coordinator, review,
                                               outcome_body(outcome=outcome)), "/outcome")
    assert ("/outcome", "R-REV-3") in rules_of(problem)
    assert target.coordinator.api.get(path(target.id, review["id"])).json() == review
    episode = episode_of(manager, target.id)
    assert (episode["care_level"], episode["care_level_history"]) == (level, history)


def test_a_held_review_never_changes(db, held):
    c = held.coordinator
    review = create(c, held.id, {"type": "scheduled"})
    done = held_review(c, review, outcome_body())
    assert_problem(patch(c, done, {"due_on": "2030-01-01"}), 409, "conflict")
    assert_problem(record_outcome(c, done, outcome_body(outcome="transfer")), 409, "conflict")
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        db.execute("UPDATE reviews SET summary = 'x' WHERE id = %s", (review["id"],))
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        db.execute("DELETE FROM reviews WHERE id = %s", (review["id"],))
    assert c.api.get(path(held.id, review["id"])).json() == done


def test_a_review_of_a_closed_episode_cannot_be_held(db, manager, held):
    review = create(held.coordinator, held.id, {"type": "discharge"})
    db.execute("UPDATE episodes SET status = 'closed', closed_at = now() WHERE id = %s", (held.id,))
    # The co-ordinator's relationship ended with the episode; the team's manager still has one.
    assert_problem(record_outcome(manager, review, outcome_body(outcome="discharge")), 409, "conflict")
    assert_problem(manager.api.patch(path(held.id, review["id"]), json={"due_on": "2030-01-01"},
                                     headers={"If-Match": etag_of(review["version"])}), 409, "conflict")
    assert manager.api.get(path(held.id, review["id"])).json() == review


# -- access and audit ---------------------------------------------------------------------------


def test_access_needs_the_relationship_and_refusals_are_audited_R_AUD_1(service, db, staff, held):
    c = held.coordinator
    review = create(c, held.id, {"type": "scheduled"})
    stranger = staff()
    if_match = {"If-Match": etag_of(review["version"])}
    for r in (stranger.api.get(path(held.id, review["id"])),
              stranger.api.get(path(held.id)),
              stranger.api.post(path(held.id), json={"type": "scheduled"}),
              stranger.api.patch(path(held.id, review["id"]), json={"due_on": "2030-01-01"},
                                 headers=if_match),
              stranger.api.post(path(held.id, review["id"], "outcome"), json=outcome_body(),
                                headers=if_match)):
        assert_problem(r, 403, "forbidden")
    denials = [e for e in events(db, "review", None, stranger.sub) if e["action"] == "deny"]
    assert len(denials) == 5
    assert {str(e["service_user_id"]) for e in denials} == {held.person["id"]}
    assert db.count("reviews", "episode_id = %s", (held.id,)) == 1
    assert c.api.get(path(held.id, review["id"])).json() == review
    # Break-glass reads are allowed and audited with their reason; break-glass never writes.
    r = stranger.api.get(path(held.id, review["id"]), headers={"X-Break-Glass-Reason": REASON})
    assert r.status_code == 200 and r.json() == review, r.text
    assert events(db, "review", review["id"], stranger.sub)[-1]["action"] == "break_glass"
    assert_problem(stranger.api.post(path(held.id), json={"type": "scheduled"},
                                     headers={"X-Break-Glass-Reason": REASON}), 403)
    assert_problem(stranger.api.post(path(held.id, review["id"], "outcome"), json=outcome_body(),
                                     headers={"X-Break-Glass-Reason": REASON, **if_match}), 403)
    assert db.count("reviews", "episode_id = %s AND status = 'planned'", (held.id,)) == 1
    for role in ("partner", "reporting"):
        other = service.api(token=mint_token(service.env, sub=stranger.sub, roles=(role,),
                                             org="org-1" if role == "partner" else None))
        assert_problem(other.get(path(held.id)), 403)
        assert_problem(other.get(path(held.id, review["id"])), 403)
        other.close()


def test_unknown_review_or_episode_is_404(held):
    c = held.coordinator
    review = create(c, held.id, {"type": "scheduled"})
    unknown = {"id": str(uuid.uuid4()), "episode_id": held.id, "version": 1}
    assert_problem(c.api.get(path(held.id, unknown["id"])), 404)
    assert_problem(c.api.get(path(held.id, "nope")), 404)
    assert_problem(patch(c, unknown, {"due_on": "2030-01-01"}), 404)
    assert_problem(record_outcome(c, unknown, outcome_body()), 404)
    assert_problem(c.api.post(path(str(uuid.uuid4())), json={"type": "scheduled"}), 404)
    assert_problem(c.api.get(path(str(uuid.uuid4()), review["id"])), 404)
    assert_problem(c.api.get(path("nope")), 404)
