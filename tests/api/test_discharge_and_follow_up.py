"""Discharge and what follows a transfer (DOMAIN.md care cycle step 8): a CPA review's outcome
`discharge` closes the episode and ends its allocation in one transaction, the holder losing access
at once (R-TRF-5), after a final TOPs for a substance-misuse episode (R-ASM-7); follow-up contacts
after a hospital discharge (R-TRF-3); liaison contacts during an out-of-area placement and the end
of the placement (R-TRF-4); access and the audit trail (R-AUD-1).

Episodes, completed assessments and transfers are made directly in the database: they have their
own routes and tests, and these tests depend only on the rows."""

import datetime
import json
import uuid
from types import SimpleNamespace

import pytest

from care_setup import (  # staff, manager and episode are fixtures
    episode,
    manager,
    staff,
    allocation_body,
    events,
    london_date,
    new_person,
    new_team,
    open_episode,
)
from carecoord import assert_problem, assert_validation, etag_of

REASON = "Crisis call out of hours, coordinator unreachable"


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api), drugs=new_team(api, "substance_misuse"))


def allocate(manager, episode_id, holder):
    r = manager.api.post(f"/episodes/{episode_id}/allocations", json=allocation_body(holder.id))
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def held(manager, staff, episode):
    """The CPA episode of the community team with a care co-ordinator allocated."""
    coordinator = staff()
    allocation_id = allocate(manager, episode.id, coordinator)
    return SimpleNamespace(id=episode.id, person=episode.person, coordinator=coordinator,
                           allocation_id=allocation_id)


@pytest.fixture
def drugs_held(api, db, staff, teams):
    """An episode of the substance-misuse team with a care co-ordinator allocated by its manager."""
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.drugs["id"])
    drugs_manager = staff("drugs", "manager", professional_role="manager")
    coordinator = staff("drugs")
    allocation_id = allocate(drugs_manager, episode_id, coordinator)
    return SimpleNamespace(id=episode_id, person=person, coordinator=coordinator,
                           manager=drugs_manager, allocation_id=allocation_id)


def today():
    return london_date(datetime.datetime.now(datetime.timezone.utc))


def days_ago(n):
    return (today() - datetime.timedelta(days=n)).isoformat()


# -- R-TRF-5 and R-ASM-7: discharge at a review ---------------------------------------------------


def outcome_body(outcome="discharge"):
    return {"held_on": today().isoformat(),
            "attendees": [{"name": "Jo Example", "role": None}],
            "chaired_by": {"kind": "staff", "name": "Dr Patel"},
            "summary": "Recovered well; the GP takes over.", "outcome": outcome}


def discharge_review(who, episode_id):
    r = who.api.post(f"/episodes/{episode_id}/reviews", json={"type": "discharge"})
    assert r.status_code == 201, r.text
    return r.json()


def record_outcome(who, review, body=None):
    return who.api.post(f"/episodes/{review['episode_id']}/reviews/{review['id']}/outcome",
                        json=body or outcome_body(), headers={"If-Match": etag_of(review["version"])})


def episode_row(db, episode_id):
    row = db.one("SELECT status, closed_at FROM episodes WHERE id = %s", (episode_id,))
    return row["status"], row["closed_at"]


def allocation_row(db, allocation_id):
    row = db.one("SELECT ended_at, end_reason FROM allocations WHERE id = %s", (allocation_id,))
    return row["ended_at"], row["end_reason"]


def insert_tops(db, episode_id, stage, completed=True):
    tops = {"stage": stage, "substance_use": [], "injecting_days": 0, "psychological_health": 10,
            "physical_health": 10, "quality_of_life": 10, "acute_housing_problem": False,
            "at_risk_of_eviction": False, "shoplifting_days": 0, "assault_or_violence": False}
    db.execute(
        "INSERT INTO assessments (episode_id, type, status, tops, completed_at, completed_by)"
        " VALUES (%s, 'tops', %s, %s::jsonb, CASE WHEN %s THEN now() END,"
        " CASE WHEN %s THEN 'staff-x' END)",
        (episode_id, "completed" if completed else "in_progress", json.dumps(tops), completed,
         completed))


def test_review_outcome_discharge_closes_the_episode_and_ends_the_allocation_R_TRF_5(db, held):
    c = held.coordinator
    person_path = f"/service-users/{held.person['id']}"
    assert c.api.get(person_path).status_code == 200
    review = discharge_review(c, held.id)
    r = record_outcome(c, review)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["outcome"]) == ("held", "discharge")

    status, closed_at = episode_row(db, held.id)
    ended_at, end_reason = allocation_row(db, held.allocation_id)
    assert status == "closed" and closed_at is not None and ended_at is not None
    assert review["id"] in end_reason
    # One transaction: the episode closed as the allocation ended, and nothing is current.
    assert abs((closed_at - ended_at).total_seconds()) < 1
    assert db.count("allocations", "episode_id = %s AND ended_at IS NULL", (held.id,)) == 0

    # The policy reads allocations live: the holder's access ended with the commit.
    assert_problem(c.api.get(person_path), 403, "forbidden")
    assert events(db, "service_user", held.person["id"], c.sub)[-1]["action"] == "deny"

    episode_update = [e for e in events(db, "episode", held.id) if e["action"] == "update"]
    assert len(episode_update) == 1 and episode_update[0]["actor"] == c.sub
    assert episode_update[0]["details"] == {
        "changes": [{"field": "status", "old": "open", "new": "closed"}, {"field": "closed_at"}],
        "review_id": review["id"]}
    allocation_update = events(db, "allocation", held.allocation_id)[-1]
    assert (allocation_update["action"], str(allocation_update["service_user_id"])) == \
        ("update", held.person["id"])
    assert allocation_update["details"] == {
        "changes": [{"field": "ended_at"}, {"field": "end_reason"}], "review_id": review["id"]}


def test_other_outcomes_leave_the_episode_open_R_TRF_5(db, held):
    review = discharge_review(held.coordinator, held.id)
    assert record_outcome(held.coordinator, review, outcome_body("continue")).status_code == 200
    assert episode_row(db, held.id)[0] == "open"
    assert allocation_row(db, held.allocation_id) == (None, None)


def test_substance_misuse_discharge_needs_a_completed_exit_tops_R_ASM_7(db, drugs_held):
    c = drugs_held.coordinator
    review = discharge_review(c, drugs_held.id)
    # A TOPs of another stage, or an exit TOPs still in progress, is not the final one.
    insert_tops(db, drugs_held.id, "review")
    insert_tops(db, drugs_held.id, "exit", completed=False)
    before = db.scalar("SELECT max(id) FROM audit_events")
    problem = assert_problem(record_outcome(c, review), 409, "conflict")
    assert "R-ASM-7" in problem["detail"] and "exit" in problem["detail"]
    # Nothing was written: not the review, the episode, the allocation nor any audit event.
    assert c.api.get(f"/episodes/{drugs_held.id}/reviews/{review['id']}").json() == review
    assert episode_row(db, drugs_held.id) == ("open", None)
    assert allocation_row(db, drugs_held.allocation_id) == (None, None)
    assert db.count("audit_events", "id > %s AND action <> 'read'", (before,)) == 0

    insert_tops(db, drugs_held.id, "exit")
    r = record_outcome(c, review)
    assert r.status_code == 200, r.text
    assert episode_row(db, drugs_held.id)[0] == "closed"
    assert allocation_row(db, drugs_held.allocation_id)[0] is not None
    assert_problem(c.api.get(f"/service-users/{drugs_held.person['id']}"), 403)


# -- R-TRF-3, R-TRF-4: contacts after a transfer ---------------------------------------------------


def insert_transfer(db, episode_id, type_, status="completed", details=None, completed_days=0,
                    placement_ended_on=None):
    """A transfer row as the transfer routes would leave it (completed `completed_days` ago)."""
    decided = status in ("accepted", "completed")
    return str(db.scalar(
        "INSERT INTO transfers (episode_id, type, status, reason, receiving_external, details,"
        " handover, proposed_at, proposed_by, decided_at, decided_by, completed_at, completed_by,"
        " placement_ended_on)"
        " VALUES (%s, %s, %s, 'Planned move', %s::jsonb, %s::jsonb, '{}', now() - interval '400 days',"
        " 'staff-x', CASE WHEN %s THEN now() - interval '399 days' END,"
        " CASE WHEN %s THEN 'staff-x' END,"
        " CASE WHEN %s THEN now() - make_interval(days => %s) END,"
        " CASE WHEN %s THEN 'staff-x' END, %s) RETURNING id",
        (episode_id, type_, status,
         json.dumps({"name": "Placement", "organisation": "Elsewhere NHS", "contact": "0113 000"}),
         json.dumps(details or {}), decided, decided, status == "completed", completed_days,
         status == "completed", placement_ended_on)))


def contacts_path(episode_id, transfer_id):
    return f"/episodes/{episode_id}/transfers/{transfer_id}/contacts"


def contact(kind="follow_up", contact_on=None, face_to_face=True, **extra):
    body = {"kind": kind, "contact_on": contact_on or today().isoformat(),
            "face_to_face": face_to_face}
    if "by_staff_id" not in extra and "by_name" not in extra:
        extra["by_name"] = "Community nurse"
    body.update(extra)
    return body


def post_contact(who, episode_id, transfer_id, body, **kw):
    return who.api.post(contacts_path(episode_id, transfer_id), json=body, **kw)


def test_follow_up_contacts_after_a_hospital_discharge_R_TRF_3(db, held):
    c = held.coordinator
    discharged_on = days_ago(3)
    transfer_id = insert_transfer(db, held.id, "hospital_discharge",
                                  details={"discharged_on": discharged_on}, completed_days=2)
    by_phone = post_contact(c, held.id, transfer_id,
                            contact(contact_on=days_ago(2), face_to_face=False,
                                    by_name="Ward liaison nurse", notes="Phoned; settling in."))
    assert by_phone.status_code == 201, by_phone.text
    seen = post_contact(c, held.id, transfer_id,
                        contact(contact_on=discharged_on, by_staff_id=c.id))
    assert seen.status_code == 201, seen.text
    assert {k: seen.json()[k] for k in ("transfer_id", "kind", "contact_on", "face_to_face",
                                        "by_staff_id", "by_name", "notes", "recorded_by")} == \
        {"transfer_id": transfer_id, "kind": "follow_up", "contact_on": discharged_on,
         "face_to_face": True, "by_staff_id": c.id, "by_name": None, "notes": None,
         "recorded_by": c.sub}
    assert (by_phone.json()["face_to_face"], by_phone.json()["by_name"]) == \
        (False, "Ward liaison nurse")

    r = c.api.get(contacts_path(held.id, transfer_id))
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [seen.json(), by_phone.json()]}  # oldest contact first

    created = [e for e in events(db, "transfer_contact") if e["action"] == "create"
               and e["details"]["transfer_id"] == transfer_id]
    assert [e["resource_id"] for e in created] == [by_phone.json()["id"], seen.json()["id"]]
    assert created[0]["details"] == {"transfer_id": transfer_id, "kind": "follow_up",
                                     "contact_on": days_ago(2), "face_to_face": False}
    assert "settling" not in json.dumps(created[0]["details"])  # never the notes
    read = events(db, "transfer_contact", None, c.sub)[-1]
    assert (read["action"], read["details"]["ids"]) == \
        ("read", [seen.json()["id"], by_phone.json()["id"]])


def test_follow_up_refused_before_the_discharge_in_the_future_or_on_the_wrong_transfer_R_TRF_3(
        db, held):
    c = held.coordinator
    discharge = insert_transfer(db, held.id, "hospital_discharge",
                                details={"discharged_on": days_ago(3)}, completed_days=2)
    problem = assert_validation(post_contact(c, held.id, discharge, contact(contact_on=days_ago(4))),
                                "/contact_on")
    assert ("/contact_on", "R-TRF-3") in {(e["field"], e.get("rule")) for e in problem["errors"]}
    tomorrow = (today() + datetime.timedelta(days=1)).isoformat()
    assert_validation(post_contact(c, held.id, discharge, contact(contact_on=tomorrow)), "/contact_on")
    # Liaison belongs to an out-of-area placement; follow-up to a completed hospital discharge.
    assert_problem(post_contact(c, held.id, discharge, contact("liaison")), 409, "conflict")
    placement = insert_transfer(db, held.id, "out_of_area", completed_days=30)
    assert_problem(post_contact(c, held.id, placement, contact()), 409, "conflict")
    not_done = insert_transfer(db, held.id, "hospital_discharge", status="accepted",
                               details={"discharged_on": days_ago(1)})
    assert_problem(post_contact(c, held.id, not_done, contact()), 409, "conflict")
    assert db.count("transfer_contacts", "transfer_id IN (%s, %s, %s)",
                    (discharge, placement, not_done)) == 0


def transfer_path(episode_id, transfer_id):
    return f"/episodes/{episode_id}/transfers/{transfer_id}"


def end_placement(who, episode_id, transfer_id, ended_on, version=None, **kw):
    headers = {} if version is None else {"If-Match": etag_of(version)}
    return who.api.patch(transfer_path(episode_id, transfer_id),
                         json={"placement_ended_on": ended_on, **kw}, headers=headers)


def test_liaison_contacts_and_the_end_of_the_placement_R_TRF_4(db, held):
    c = held.coordinator
    placement = insert_transfer(db, held.id, "out_of_area", completed_days=200)
    r = post_contact(c, held.id, placement, contact("liaison", days_ago(10), face_to_face=False,
                                                    by_staff_id=c.id))
    assert r.status_code == 201, r.text
    liaison = r.json()
    problem = assert_validation(
        post_contact(c, held.id, placement, contact("liaison", days_ago(201))), "/contact_on")
    assert ("/contact_on", "R-TRF-4") in {(e["field"], e.get("rule")) for e in problem["errors"]}

    # The end of the placement: If-Match required (428), current (412 with the ETag), a date
    # neither in the future nor before the placement started, and nothing but that member.
    assert_problem(end_placement(c, held.id, placement, days_ago(1)), 428)
    stale = end_placement(c, held.id, placement, days_ago(1), version=7)
    assert_problem(stale, 412)
    assert stale.headers["ETag"] == etag_of(1)
    tomorrow = (today() + datetime.timedelta(days=1)).isoformat()
    assert_validation(end_placement(c, held.id, placement, tomorrow, version=1),
                      "/placement_ended_on")
    assert_validation(end_placement(c, held.id, placement, days_ago(201), version=1),
                      "/placement_ended_on")
    assert_validation(end_placement(c, held.id, placement, days_ago(1), version=1,
                                    status="cancelled"), "/status")
    assert db.scalar("SELECT placement_ended_on FROM transfers WHERE id = %s", (placement,)) is None

    r = end_placement(c, held.id, placement, days_ago(1), version=1)
    assert r.status_code == 200, r.text
    transfer = r.json()
    assert r.headers["ETag"] == etag_of(2)
    assert (transfer["id"], transfer["type"], transfer["status"], transfer["placement_ended_on"],
            transfer["version"]) == (placement, "out_of_area", "completed", days_ago(1), 2)
    assert transfer["clock"]["due"] is None and transfer["clock"]["rule"] == "R-TRF-4"
    assert transfer["clock"]["completed"] == liaison["contact_on"]
    update = events(db, "transfer", placement)[-1]
    assert (update["action"], update["actor"], str(update["service_user_id"])) == \
        ("update", c.sub, held.person["id"])
    assert update["details"] == {"changes": [{"field": "placement_ended_on", "old": None,
                                              "new": days_ago(1)}]}

    # The placement has ended: no more liaison, and the end date does not change.
    assert_problem(post_contact(c, held.id, placement, contact("liaison", days_ago(0))), 409)
    assert_problem(end_placement(c, held.id, placement, days_ago(0), version=2), 409)
    assert db.count("transfer_contacts", "transfer_id = %s", (placement,)) == 1


def test_only_a_completed_out_of_area_placement_ends_R_TRF_4(db, held):
    c = held.coordinator
    discharge = insert_transfer(db, held.id, "hospital_discharge",
                                details={"discharged_on": days_ago(3)}, completed_days=2)
    assert_problem(end_placement(c, held.id, discharge, days_ago(1), version=1), 409)
    proposed = insert_transfer(db, held.id, "out_of_area", status="accepted")
    assert_problem(end_placement(c, held.id, proposed, days_ago(1), version=1), 409)
    assert db.count("transfers", "episode_id = %s AND placement_ended_on IS NOT NULL",
                    (held.id,)) == 0


# -- access, bad bodies, unknown records -----------------------------------------------------------


def test_access_needs_the_relationship_and_break_glass_only_reads_R_AUD_1(db, staff, held):
    c = held.coordinator
    transfer_id = insert_transfer(db, held.id, "hospital_discharge",
                                  details={"discharged_on": days_ago(3)}, completed_days=2)
    made = post_contact(c, held.id, transfer_id, contact())
    assert made.status_code == 201, made.text
    stranger = staff()
    for r in (stranger.api.get(contacts_path(held.id, transfer_id)),
              post_contact(stranger, held.id, transfer_id, contact()),
              end_placement(stranger, held.id, transfer_id, days_ago(1), version=1)):
        assert_problem(r, 403, "forbidden")
    denials = [e for e in events(db, "transfer_contact", None, stranger.sub)
               + events(db, "transfer", None, stranger.sub) if e["action"] == "deny"]
    assert len(denials) == 3
    assert {str(e["service_user_id"]) for e in denials} == {held.person["id"]}

    # Break-glass reads are allowed and audited with their reason; break-glass never writes.
    r = stranger.api.get(contacts_path(held.id, transfer_id), headers={"X-Break-Glass-Reason": REASON})
    assert r.status_code == 200 and r.json() == {"items": [made.json()]}, r.text
    glass = events(db, "transfer_contact", None, stranger.sub)[-1]
    assert (glass["action"], glass["details"]) == \
        ("break_glass", {"transfer_id": transfer_id, "ids": [made.json()["id"]], "reason": REASON})
    assert_problem(post_contact(stranger, held.id, transfer_id, contact(),
                                headers={"X-Break-Glass-Reason": REASON}), 403)
    assert db.count("transfer_contacts", "transfer_id = %s", (transfer_id,)) == 1


@pytest.mark.parametrize("body, fields", [
    ({}, ["/kind", "/contact_on", "/face_to_face"]),
    (contact(kind="phone"), ["/kind"]),
    (contact(contact_on="2026-02-30"), ["/contact_on"]),
    (contact(face_to_face="yes"), ["/face_to_face"]),
    ({"kind": "follow_up", "contact_on": "2026-01-01", "face_to_face": True}, ["/by_staff_id"]),
    (contact(by_name="A", by_staff_id=str(uuid.uuid4())), ["/by_name"]),
    (contact(by_name=""), ["/by_name"]),
    (contact(notes="x" * 2001), ["/notes"]),
    (contact(id=str(uuid.uuid4())), ["/id"]),
])
def test_bad_contact_bodies_are_422_naming_the_fields_and_write_nothing(db, held, body, fields):
    transfer_id = insert_transfer(db, held.id, "hospital_discharge",
                                  details={"discharged_on": days_ago(3)}, completed_days=2)
    assert_validation(post_contact(held.coordinator, held.id, transfer_id, body), *fields)
    assert db.count("transfer_contacts", "transfer_id = %s", (transfer_id,)) == 0


def test_contact_by_unknown_or_inactive_staff_is_422(db, staff, held):
    transfer_id = insert_transfer(db, held.id, "hospital_discharge",
                                  details={"discharged_on": days_ago(3)}, completed_days=2)
    gone = staff(active=False)
    for staff_id in (gone.id, str(uuid.uuid4())):
        assert_validation(post_contact(held.coordinator, held.id, transfer_id,
                                       contact(by_staff_id=staff_id)), "/by_staff_id")
    assert db.count("transfer_contacts", "transfer_id = %s", (transfer_id,)) == 0


def test_unknown_transfer_or_one_of_another_episode_is_404(api, db, teams, held):
    c = held.coordinator
    other_episode = open_episode(db, new_person(api)["id"], teams.cmht["id"])
    elsewhere = insert_transfer(db, other_episode, "out_of_area", completed_days=10)
    for transfer_id in (str(uuid.uuid4()), elsewhere, "nope"):
        assert_problem(c.api.get(contacts_path(held.id, transfer_id)), 404)
        assert_problem(post_contact(c, held.id, transfer_id, contact("liaison")), 404)
        assert_problem(end_placement(c, held.id, transfer_id, days_ago(1), version=1), 404)
    assert db.count("transfer_contacts", "transfer_id = %s", (elsewhere,)) == 0
