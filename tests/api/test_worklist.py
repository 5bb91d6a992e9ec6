"""The caller's worklist (GET /me/worklist): every item due across the episodes they hold or
deputise on, from the same clocks as the episode summary (R-ASM-1, R-ASM-6, R-ASM-7, R-CPL-1,
R-CPL-4, R-REV-1, R-ALC-2, R-CAR-2, R-TRF-3, R-TRF-4), soonest first, with filters; and the
audited read naming the people it shows (R-AUD-1)."""

import datetime
from types import SimpleNamespace

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
from carecoord import assert_problem, mint_token


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api), drugs=new_team(api, "substance_misuse"))


def allocate(manager, episode_id, holder, **extra):
    r = manager.api.post(f"/episodes/{episode_id}/allocations", json=allocation_body(holder.id, **extra))
    assert r.status_code == 201, r.text
    return r.json()


def worklist(who, **params):
    r = who.api.get("/me/worklist", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def kinds_of(items, episode_id):
    return sorted(i["kind"] for i in items if i["episode_id"] == episode_id)


def today():
    return london_date(datetime.datetime.now(datetime.timezone.utc))


@pytest.fixture
def caseload(api, db, manager, staff, teams):
    """A co-ordinator with two people: one allocated 40 days ago (everything overdue), one
    allocated today; and a colleague holding someone else."""
    coordinator, colleague = staff(), staff()
    people = [new_person(api) for _ in range(3)]
    episodes = [open_episode(db, p["id"], teams.cmht["id"]) for p in people]
    late = allocate(manager, episodes[0], coordinator)
    allocate(manager, episodes[1], staff(), deputy_staff_id=coordinator.id)
    allocate(manager, episodes[2], colleague)
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=40)
    db.execute("UPDATE allocations SET started_at = %s WHERE id = %s", (long_ago, late["id"]))
    return SimpleNamespace(coordinator=coordinator, colleague=colleague, people=people,
                           episodes=episodes, long_ago=long_ago)


def test_the_worklist_lists_the_clocks_of_held_and_deputised_episodes_soonest_first(service, db, caseload):
    w = worklist(caseload.coordinator)
    assert_conforms(service.env.repo, "Worklist", w)
    assert w["today"] == today().isoformat()
    items = w["items"]
    late, deputised, theirs = caseload.episodes
    # R-ASM-1, R-CPL-1, R-ASM-6 (with the holistic assessment), R-REV-1 for each held or deputised
    # episode; nothing of the colleague's.
    assert kinds_of(items, late) == ["care_plan", "holistic_assessment", "review", "risk_review"]
    assert kinds_of(items, deputised) == ["care_plan", "holistic_assessment", "review", "risk_review"]
    assert kinds_of(items, theirs) == []
    first = {i["kind"]: i for i in items if i["episode_id"] == late}
    assert first["holistic_assessment"] == {
        "kind": "holistic_assessment", "rule": "R-ASM-1", "service_user_id": caseload.people[0]["id"],
        "display_name": f"{caseload.people[0]['given_name']} {caseload.people[0]['family_name']}",
        "episode_id": late, "due": due_after(caseload.long_ago, 28), "overdue": True, "record_id": None}
    assert first["care_plan"]["overdue"] is True
    dated = [i["due"] for i in items if i["due"]]
    assert dated == sorted(dated)  # soonest first
    # The same dates as the episode summary shows.
    clocks = caseload.coordinator.api.get(f"/episodes/{late}").json()["summary"]["clocks"]
    assert first["review"]["due"] == clocks["review"]["due"]
    assert first["risk_review"]["due"] == clocks["risk_review"]["due"]


def test_filters_by_kind_overdue_and_due_date(caseload):
    c = caseload.coordinator
    overdue = worklist(c, overdue="true")["items"]
    assert overdue and all(i["overdue"] for i in overdue)
    assert {i["episode_id"] for i in overdue} == {caseload.episodes[0]}
    assert all(not i["overdue"] for i in worklist(c, overdue="false")["items"])
    only = worklist(c, kind="care_plan")["items"]
    assert {i["kind"] for i in only} == {"care_plan"} and len(only) == 2
    cutoff = (today() + datetime.timedelta(days=1)).isoformat()
    assert all(i["due"] < cutoff for i in worklist(c, due_before=cutoff)["items"])
    for bad in ({"kind": "astrology"}, {"overdue": "yes"}, {"due_before": "tomorrow"}, {"limit": "5"}):
        assert_problem(c.api.get("/me/worklist", params=bad), 400)


def test_met_one_off_clocks_leave_and_undated_items_follow_R_CPL_4_R_ALC_2(db, manager, caseload):
    c = caseload.coordinator
    late = caseload.episodes[0]
    plan = c.api.post(f"/episodes/{late}/care-plans", json={
        "crisis_plan": {"early_warning_signs": "x", "what_person_should_do": "x", "what_others_should_do": "x",
                        "contacts_24_7": [{"name": "Crisis", "number": "0113 496 0000"}]},
        "contingency_plan": {"contact_name": "Duty", "contact_phone": "0113 496 0001"}}).json()
    r = c.api.post(f"/episodes/{late}/care-plans/{plan['id']}/activate", headers={"If-Match": f'"{plan["version"]}"'})
    assert r.status_code == 200, r.text
    items = worklist(c)["items"]
    assert "care_plan" not in kinds_of(items, late)
    not_sent = [i for i in items if i["kind"] == "care_plan_not_sent"]
    assert [(i["episode_id"], i["record_id"], i["due"], i["rule"]) for i in not_sent] == \
        [(late, plan["id"], None, "R-CPL-4")]
    assert items[-1]["due"] is None  # undated items come last
    # The care level changes under the co-ordinator's allocation (R-REV-3): a mismatch to fix.
    db.execute("UPDATE episodes SET care_level = 'non_cpa' WHERE id = %s", (late,))
    mismatch = [i for i in worklist(c)["items"] if i["kind"] == "allocation_mismatch"]
    assert [(i["episode_id"], i["rule"]) for i in mismatch] == [(late, "R-ALC-2")]


def test_carers_and_transfers_on_the_worklist_R_CAR_2_R_TRF_3_R_TRF_4(db, caseload):
    c = caseload.coordinator
    person, late = caseload.people[0]["id"], caseload.episodes[0]
    long_ago = (today() - datetime.timedelta(days=400)).isoformat()
    r = c.api.post(f"/service-users/{person}/carers", json={
        "name": "Sam Carer", "relationship": "partner", "contact": {"phone": "07700 900444"},
        "under_18": False, "lives_with_person": True, "identified_on": long_ago})
    assert r.status_code == 201, r.text
    carer = r.json()
    discharged = (today() - datetime.timedelta(days=10)).isoformat()
    handover = '{"taken_at": null}'
    follow_up = str(db.scalar(
        "INSERT INTO transfers (episode_id, type, status, reason, details, handover, proposed_by,"
        " decided_at, decided_by, completed_at, completed_by) VALUES (%s, 'hospital_discharge', 'completed',"
        " 'Home', jsonb_build_object('discharged_on', %s::date), %s::jsonb, 'x', now(), 'x', now(), 'x')"
        " RETURNING id", (late, discharged, handover)))
    items = worklist(c)["items"]
    mine = {(i["kind"], i["record_id"]): i for i in items if i["service_user_id"] == person}
    assert mine[("carer_assessment_offer", carer["id"])]["due"] is None
    review = mine[("carer_needs_review", carer["id"])]
    assert (review["overdue"], review["rule"]) == (True, "R-CAR-2")
    f = mine[("follow_up", follow_up)]
    assert (f["due"], f["overdue"], f["rule"]) == \
        ((datetime.date.fromisoformat(discharged) + datetime.timedelta(days=7)).isoformat(), True, "R-TRF-3")
    # A face-to-face follow-up meets it: the item leaves.
    db.execute("INSERT INTO transfer_contacts (transfer_id, kind, contact_on, face_to_face, by_name,"
               " recorded_by) VALUES (%s, 'follow_up', %s, true, 'Duty worker', 'x')", (follow_up, discharged))
    assert ("follow_up", follow_up) not in {(i["kind"], i["record_id"]) for i in worklist(c)["items"]}
    placement = str(db.scalar(
        "INSERT INTO transfers (episode_id, type, status, reason, handover, proposed_by, decided_at,"
        " decided_by, completed_at, completed_by) VALUES (%s, 'out_of_area', 'completed', 'Placement',"
        " %s::jsonb, 'x', now(), 'x', now() - interval '200 days', 'x') RETURNING id", (late, handover)))
    liaison = [i for i in worklist(c)["items"] if i["record_id"] == placement]
    assert [(i["kind"], i["overdue"], i["rule"]) for i in liaison] == [("liaison", True, "R-TRF-4")]


def test_reading_the_worklist_is_audited_naming_the_people_shown_R_AUD_1(db, caseload):
    c = caseload.coordinator
    worklist(c)
    read = [e for e in events(db, "worklist", None, c.sub) if e["action"] == "read"][-1]
    assert read["service_user_id"] is None
    assert sorted(read["details"]["service_user_ids"]) == sorted(p["id"] for p in caseload.people[:2])
    # It shows in each person's access log (the managers' view of who saw the record).


def test_someone_with_no_allocations_has_an_empty_worklist_and_other_roles_are_403(service, staff):
    assert worklist(staff())["items"] == []
    for role in ("partner", "reporting"):
        with service.api(token=mint_token(service.env, sub="x", roles=(role,), org="org-1")) as s:
            assert_problem(s.get("/me/worklist"), 403)


# -- the team's worklist and caseloads (managers) -------------------------------------------------


def test_a_teams_worklist_covers_its_episodes_and_referrals_awaiting_a_response_R_REF_1(
        service, db, manager, caseload, teams):
    w = manager.api.get(f"/teams/{teams.cmht['id']}/worklist")
    assert w.status_code == 200, w.text
    body = w.json()
    assert_conforms(service.env.repo, "Worklist", body)
    episodes = {i["episode_id"] for i in body["items"]}
    assert set(caseload.episodes) <= episodes  # all three, the colleague's too
    person = caseload.people[2]["id"]
    referral = str(db.scalar(
        "INSERT INTO referrals (service_user_id, source_type, referrer_name, reason, urgency, received_at,"
        " response_due_at, status, triaged_urgency, responding_team_id, triaged_at, triaged_by, created_by)"
        " VALUES (%s, 'gp', 'Dr Who', 'Low mood', 'urgent', now() - interval '4 days', now() - interval '1 day',"
        " 'triaged', 'urgent', %s, now() - interval '3 days', 'x', 'x') RETURNING id", (person, teams.cmht["id"])))
    items = manager.api.get(f"/teams/{teams.cmht['id']}/worklist", params={"kind": "referral_response"}).json()["items"]
    mine = [i for i in items if i["record_id"] == referral]
    assert [(i["rule"], i["overdue"], i["episode_id"], i["service_user_id"]) for i in mine] == \
        [("R-REF-1", True, None, person)]
    read = [e for e in events(db, "team_worklist", teams.cmht["id"], manager.sub) if e["action"] == "read"][-1]
    assert person in read["details"]["service_user_ids"]


def test_a_teams_worklist_for_one_holder_is_what_their_own_worklist_shows_of_the_team(
        service, db, manager, caseload, teams):
    """holder_staff_id: the episodes the member holds or deputises on, no referrals."""
    url = f"/teams/{teams.cmht['id']}/worklist"
    # A referral awaiting the team's response, which no holder's view shows.
    db.execute(
        "INSERT INTO referrals (service_user_id, source_type, referrer_name, reason, urgency, received_at,"
        " response_due_at, status, responding_team_id, created_by)"
        " VALUES (%s, 'gp', 'Dr Who', 'Low mood', 'routine', now(), now() + interval '28 days',"
        " 'received', %s, 'x')", (caseload.people[0]["id"], teams.cmht["id"]))
    assert any(i["kind"] == "referral_response" for i in manager.api.get(url).json()["items"])
    r = manager.api.get(url, params={"holder_staff_id": caseload.coordinator.id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_conforms(service.env.repo, "Worklist", body)
    late, deputised, theirs = caseload.episodes
    assert {i["episode_id"] for i in body["items"]} == {late, deputised}  # held and deputised
    assert not [i for i in body["items"] if i["kind"] == "referral_response"]
    own = worklist(caseload.coordinator)["items"]
    assert body["items"] == own
    # Combined with the other filters (AND).
    overdue = manager.api.get(url, params={"holder_staff_id": caseload.coordinator.id,
                                           "overdue": "true"}).json()["items"]
    assert overdue and {i["episode_id"] for i in overdue} == {late}
    capitals = manager.api.get(url, params={"holder_staff_id": caseload.coordinator.id.upper()})
    assert capitals.json()["items"] == own
    colleague = manager.api.get(url, params={"holder_staff_id": caseload.colleague.id}).json()
    assert {i["episode_id"] for i in colleague["items"]} == {theirs}
    # The audit event names only the people shown.
    read = [e for e in events(db, "team_worklist", teams.cmht["id"], manager.sub) if e["action"] == "read"][-1]
    assert read["details"]["service_user_ids"] == [caseload.people[2]["id"]]
    nobody = manager.api.get(url, params={"holder_staff_id": "00000000-0000-4000-8000-000000000000"})
    assert nobody.status_code == 200 and nobody.json()["items"] == []
    for bad in ("someone", "", "1" * 40):
        assert_problem(manager.api.get(url, params={"holder_staff_id": bad}), 400)
    # Only the team view takes it.
    assert_problem(caseload.coordinator.api.get(
        "/me/worklist", params={"holder_staff_id": caseload.coordinator.id}), 400)


def test_an_unallocated_episode_is_on_the_teams_worklist_until_allocated_R_ALC_2(
        api, db, manager, staff, teams):
    """No one holds it, so no clock has started and no one's own worklist shows it: the team's
    managers see that it needs an allocation, and nothing else about it."""
    person = new_person(api)
    episode = open_episode(db, person["id"], teams.cmht["id"])
    url = f"/teams/{teams.cmht['id']}/worklist"
    items = [i for i in manager.api.get(url).json()["items"] if i["episode_id"] == episode]
    assert items == [{"kind": "allocation_needed", "rule": "R-ALC-2",
                      "service_user_id": person["id"],
                      "display_name": f"{person['given_name']} {person['family_name']}",
                      "episode_id": episode, "due": None, "overdue": False, "record_id": None}]
    only = manager.api.get(url, params={"kind": "allocation_needed"}).json()["items"]
    assert episode in {i["episode_id"] for i in only} and {i["kind"] for i in only} == {"allocation_needed"}
    holder = staff()
    assert manager.api.get(url, params={"holder_staff_id": holder.id}).json()["items"] == []
    allocate(manager, episode, holder)
    after = kinds_of(manager.api.get(url).json()["items"], episode)
    assert "allocation_needed" not in after and "holistic_assessment" in after  # the clocks start
    assert "allocation_needed" not in {i["kind"] for i in worklist(holder)["items"]}
    assert worklist(holder, kind="allocation_needed")["items"] == []


def test_a_holder_made_inactive_is_on_the_deputys_and_teams_worklists_until_reallocated_R_ALC_1(
        api, db, manager, staff, teams):
    """Making a staff member inactive ends their access but not their allocations: the episode
    asks for a new holder where someone still looks."""
    person = new_person(api)
    episode = open_episode(db, person["id"], teams.cmht["id"])
    leaver, deputy, successor = staff(), staff(), staff()
    first = allocate(manager, episode, leaver, deputy_staff_id=deputy.id)
    url = f"/teams/{teams.cmht['id']}/worklist"
    assert "holder_inactive" not in kinds_of(manager.api.get(url).json()["items"], episode)
    current = manager.api.get(f"/staff/{leaver.id}")
    assert current.status_code == 200, current.text
    r = manager.api.patch(f"/staff/{leaver.id}", json={"active": False},
                          headers={"If-Match": current.headers["ETag"]})
    assert r.status_code == 200, r.text
    expected = {"kind": "holder_inactive", "rule": "R-ALC-1", "service_user_id": person["id"],
                "display_name": f"{person['given_name']} {person['family_name']}",
                "episode_id": episode, "due": None, "overdue": False, "record_id": None}
    team_items = manager.api.get(url, params={"kind": "holder_inactive"}).json()["items"]
    assert expected in team_items
    assert [i for i in worklist(deputy)["items"] if i["kind"] == "holder_inactive"] == [expected]
    allocate(manager, episode, successor, replaces_allocation_id=first["id"],
             end_reason="The care co-ordinator left the trust")
    assert "holder_inactive" not in kinds_of(manager.api.get(url).json()["items"], episode)
    assert "holder_inactive" not in {i["kind"] for i in worklist(successor)["items"]}


def test_only_the_teams_managers_see_its_worklist_and_caseloads(db, staff, teams, caseload):
    other_manager = staff("drugs", "manager", professional_role="manager")
    for view, resource in (("worklist", "team_worklist"), ("caseloads", "team_caseloads")):
        assert_problem(other_manager.api.get(f"/teams/{teams.cmht['id']}/{view}"), 403, "forbidden")
        denied = [e for e in events(db, resource, teams.cmht["id"], other_manager.sub) if e["action"] == "deny"]
        assert len(denied) == 1
        assert_problem(caseload.coordinator.api.get(f"/teams/{teams.cmht['id']}/{view}"), 403)
        assert_problem(other_manager.api.get(f"/teams/{'0' * 8}-0000-4000-8000-{'0' * 12}/{view}"), 404)


def test_caseloads_count_what_each_member_holds_and_their_overdue_items(service, db, manager, caseload, teams):
    r = manager.api.get(f"/teams/{teams.cmht['id']}/caseloads")
    assert r.status_code == 200, r.text
    body = r.json()
    assert_conforms(service.env.repo, "TeamCaseloads", body)
    by_id = {s["staff_id"]: s for s in body["staff"]}
    mine = by_id[caseload.coordinator.id]
    assert mine["episodes"]["cpa"] >= 1 and mine["roles"]["care_coordinator"] >= 1
    assert mine["deputy_for"] >= 1
    # The episode allocated 40 days ago has overdue items (holistic assessment, care plan, risk review).
    assert mine["overdue_items"] >= 3
    colleague = by_id[caseload.colleague.id]
    assert colleague["episodes"]["cpa"] >= 1 and colleague["deputy_for"] == 0
    assert manager.id in by_id  # every active member is listed, with or without a caseload
    read = [e for e in events(db, "team_caseloads", teams.cmht["id"], manager.sub) if e["action"] == "read"]
    assert read and read[-1]["service_user_id"] is None
