"""Episodes of care: the episode with its care-level history and its summary (who holds it, and
when the holistic assessment and the care plan are due: R-ASM-1, R-CPL-1), a person's episodes,
the access policy of the person's record, and the audit trail of every read (R-AUD-1).

Episodes are made directly in the database (they are opened by accepting a referral)."""

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
    due_after,
    events,
    new_person,
    new_team,
    open_episode,
)
from carecoord import assert_problem, mint_token, paginate, unique

REASON = "Crisis call out of hours, coordinator unreachable"
DAYS = 28  # the policy default for both clocks


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(cmht=new_team(api), ward=new_team(api, "inpatient_ward"))


def allocated(who, episode_id, body):
    r = who.api.post(f"/episodes/{episode_id}/allocations", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def started_at(db, allocation_id):
    return db.scalar("SELECT started_at FROM allocations WHERE id = %s", (allocation_id,))


def backdate(db, allocation_id, instant):
    db.execute("UPDATE allocations SET started_at = %s WHERE id = %s", (instant, allocation_id))


def get_episode(who, episode_id, **kw):
    r = who.api.get(f"/episodes/{episode_id}", **kw)
    assert r.status_code == 200, r.text
    return r.json()


def utc(*args):
    return datetime.datetime(*args, tzinfo=datetime.timezone.utc)


# -- the episode --------------------------------------------------------------------------------


def test_episode_shows_team_care_level_history_and_summary(service, db, manager, staff, teams, episode):
    db.execute("UPDATE episodes SET care_level_provisional = true WHERE id = %s", (episode.id,))
    db.execute("INSERT INTO episode_care_level_changes (episode_id, from_level, to_level, reason, changed_at,"
               " changed_by) VALUES (%s, NULL, 'non_cpa', 'Provisional at acceptance', now() - interval '2 days',"
               " 'staff-a'), (%s, 'non_cpa', 'cpa', 'Risk to self: CPA criteria met', now(), 'staff-b')",
               (episode.id, episode.id))
    deputy = staff()
    a = allocated(manager, episode.id, allocation_body(staff().id, deputy_staff_id=deputy.id))
    e = get_episode(manager, episode.id)
    assert_conforms(service.env.repo, "Episode", e)
    assert e["id"] == episode.id and e["service_user_id"] == episode.person["id"]
    assert e["team"] == {"id": teams.cmht["id"], "name": teams.cmht["name"], "type": "community_mental_health"}
    assert (e["care_level"], e["care_level_provisional"], e["status"]) == ("cpa", True, "open")
    assert e["closed_at"] is None and e["referral_id"] is None
    assert [(c["from_level"], c["to_level"], c["reason"], c["changed_by"]) for c in e["care_level_history"]] == [
        (None, "non_cpa", "Provisional at acceptance", "staff-a"),
        ("non_cpa", "cpa", "Risk to self: CPA criteria met", "staff-b"),
    ]
    current = e["summary"]["current_allocation"]
    assert current == manager.api.get(f"/episodes/{episode.id}/allocations/{a['id']}").json()
    assert (current["role"], current["deputy_staff_id"], current["deputy_name"]) == \
        ("care_coordinator", deputy.id, a["deputy_name"])
    assert e["summary"]["clocks_started_by_allocation_id"] == a["id"]
    assert e["summary"]["open_change_request_id"] is None


def test_due_dates_are_the_allocation_london_date_plus_28_days_R_ASM_1_R_CPL_1(db, manager, staff, episode):
    a = allocated(manager, episode.id, allocation_body(staff().id))
    due = get_episode(manager, episode.id)["summary"]["due"]
    start = started_at(db, a["id"])
    assert due == {"assessment_due": due_after(start, DAYS), "care_plan_due": due_after(start, DAYS)}


@pytest.mark.parametrize("instant", [
    utc(2025, 6, 30, 23, 30),   # 00:30 BST on 1 July: the clocks count from the London date
    utc(2025, 12, 31, 23, 30),  # GMT: still 31 December; due in the next year
    utc(2024, 2, 10, 12, 0),    # a leap February inside the interval
    utc(2026, 3, 29, 0, 59),    # the minute before BST begins
    utc(2026, 10, 25, 0, 30),   # 01:30 BST, before the clocks go back
], ids=str)
def test_due_dates_follow_the_europe_london_date_R_ASM_1_R_CPL_1(db, manager, staff, episode, instant):
    a = allocated(manager, episode.id, allocation_body(staff().id))
    backdate(db, a["id"], instant)
    due = get_episode(manager, episode.id)["summary"]["due"]
    assert due == {"assessment_due": due_after(instant, DAYS), "care_plan_due": due_after(instant, DAYS)}


def test_clocks_start_with_the_first_coordinator_not_the_interim_nurse_nor_a_handover_R_ASM_1_R_CPL_1(
        api, db, staff, teams):
    ward_manager = staff("ward", "manager", professional_role="manager")
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.ward["id"])
    interim = allocated(ward_manager, episode_id, allocation_body(staff("ward").id, role="interim_named_nurse"))
    summary = get_episode(ward_manager, episode_id)["summary"]
    assert summary["current_allocation"]["id"] == interim["id"]
    assert summary["clocks_started_by_allocation_id"] is None
    assert summary["due"] == {"assessment_due": None, "care_plan_due": None}

    first = allocated(ward_manager, episode_id, allocation_body(
        staff().id, replaces_allocation_id=interim["id"], end_reason="Care co-ordinator allocated"))
    # make the first co-ordinator's start distinguishable from the handover's
    first_start = started_at(db, first["id"]) - datetime.timedelta(days=10)
    backdate(db, first["id"], first_start)
    second = allocated(ward_manager, episode_id, allocation_body(
        staff().id, replaces_allocation_id=first["id"], end_reason="Co-ordinator on long-term leave"))
    summary = get_episode(ward_manager, episode_id)["summary"]
    assert summary["current_allocation"]["id"] == second["id"]
    assert summary["clocks_started_by_allocation_id"] == first["id"]
    assert summary["due"] == {"assessment_due": due_after(first_start, DAYS),
                              "care_plan_due": due_after(first_start, DAYS)}


def test_episode_without_allocation_has_no_dates_due(manager, episode):
    summary = get_episode(manager, episode.id)["summary"]
    assert summary == {"current_allocation": None, "clocks_started_by_allocation_id": None,
                       "open_change_request_id": None, "due": {"assessment_due": None, "care_plan_due": None},
                       "care_plan": None, "allocation_matches_care_level": None,
                       "clocks": {
                           "holistic_assessment": {"due": None, "overdue": False, "completed": None, "rule": "R-ASM-1"},
                           "risk_review": {"due": None, "overdue": False, "completed": None, "rule": "R-ASM-6"},
                           "tops": None,
                           "care_plan": {"due": None, "overdue": False, "completed": None, "rule": "R-CPL-1"},
                           "review": {"due": None, "overdue": False, "completed": None, "rule": "R-REV-1"}}}


def test_policy_settings_change_the_intervals_R_ASM_1_R_CPL_1(service_factory, db, manager, staff, episode):
    a = allocated(manager, episode.id, allocation_body(staff().id))
    other = service_factory.start(env={"CARECOORD_POLICY_ASSESSMENT_DUE_DAYS": "14",
                                       "CARECOORD_POLICY_CARE_PLAN_DUE_DAYS": "21"})
    with other.api(token=mint_token(other.env, sub=manager.sub, roles=("manager",))) as s:
        r = s.get(f"/episodes/{episode.id}")
        assert r.status_code == 200, r.text
    start = started_at(db, a["id"])
    assert r.json()["summary"]["due"] == {"assessment_due": due_after(start, 14), "care_plan_due": due_after(start, 21)}


def test_closed_episode_is_shown_closed(api, db, manager, teams):
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.cmht["id"], status="closed")
    e = get_episode(manager, episode_id)  # the person is in intake: any manager may read
    assert e["status"] == "closed" and e["closed_at"] is not None


# -- access and audit ---------------------------------------------------------------------------


def test_episode_read_is_audited_R_AUD_1(db, manager, episode):
    get_episode(manager, episode.id, headers={"X-Request-Id": "rq-episode-read"})
    rows = events(db, "episode", episode.id, actor=manager.sub)
    assert [(e["action"], e["outcome"], str(e["service_user_id"]), e["request_id"]) for e in rows] == \
        [("read", "success", episode.person["id"], "rq-episode-read")]


def test_access_follows_the_person_policy_and_refusals_are_audited_R_AUD_1(db, manager, staff, episode):
    holder, stranger = staff(), staff()
    assert_problem(holder.api.get(f"/episodes/{episode.id}"), 403, "forbidden")
    allocated(manager, episode.id, allocation_body(holder.id))
    assert get_episode(holder, episode.id)["id"] == episode.id
    r = stranger.api.get(f"/episodes/{episode.id}")
    body = assert_problem(r, 403, "forbidden")
    assert episode.person["family_name"] not in r.text and "episode" not in body["detail"].lower()
    rows = events(db, "episode", episode.id, actor=stranger.sub)
    assert [(e["action"], e["outcome"], str(e["service_user_id"])) for e in rows] == \
        [("deny", "denied", episode.person["id"])]
    assert [e["action"] for e in events(db, "episode", episode.id, actor=holder.sub)] == ["deny", "read"]


def test_break_glass_read_of_an_episode_is_audited_with_its_reason_R_AUD_1(db, staff, episode):
    stranger = staff()
    e = get_episode(stranger, episode.id, headers={"X-Break-Glass-Reason": REASON})
    assert e["id"] == episode.id
    rows = events(db, "episode", episode.id, actor=stranger.sub)
    assert [(e["action"], e["details"]) for e in rows] == [("break_glass", {"reason": REASON})]
    assert_problem(stranger.api.get(f"/episodes/{episode.id}", headers={"X-Break-Glass-Reason": "short"}),
                   400, "bad-request")


def test_roles_outside_clinical_are_403(service, episode):
    for role in ("partner", "reporting"):
        with service.api(token=mint_token(service.env, sub=unique("p-"), roles=(role,))) as s:
            assert_problem(s.get(f"/episodes/{episode.id}"), 403, "forbidden")
            assert_problem(s.get(f"/service-users/{episode.person['id']}/episodes"), 403, "forbidden")


def test_unknown_or_malformed_episode_is_404(manager):
    for episode_id in (str(uuid.uuid4()), "not-a-uuid", "0" * 36):
        assert_problem(manager.api.get(f"/episodes/{episode_id}"), 404, "not-found")


# -- a person's episodes ------------------------------------------------------------------------


def test_persons_episodes_newest_first_paginated_one_read_event_per_page_R_AUD_1(
        service, api, db, manager, staff, teams):
    person = new_person(api)
    now = datetime.datetime.now(datetime.timezone.utc)
    ids = []
    # two opened at the same instant: the id breaks the tie; a person has at most one open
    # episode per team, so the open ones are with three teams
    third = new_team(api)
    for days_ago, status, team in ((300, "closed", teams.cmht), (200, "closed", teams.cmht),
                                   (100, "open", third), (100, "open", teams.ward),
                                   (1, "open", teams.cmht)):
        episode_id = open_episode(db, person["id"], team["id"], status=status)
        db.execute("UPDATE episodes SET opened_at = %s WHERE id = %s",
                   (now - datetime.timedelta(days=days_ago), episode_id))
        ids.append(episode_id)
    a = allocated(manager, ids[-1], allocation_body(staff().id))
    expected = [ids[4]] + sorted(ids[2:4], reverse=True) + [ids[1], ids[0]]
    for via in ("cursor", "link"):
        before = len(events(db, "episode", actor=manager.sub))
        items, pages = paginate(manager.api, f"/service-users/{person['id']}/episodes", limit=2, via=via)
        assert [e["id"] for e in items] == expected
        assert len(pages) == 3
        for page in pages:
            assert_conforms(service.env.repo, "EpisodeList", page)
        reads = events(db, "episode", actor=manager.sub)[before:]
        assert [(e["action"], e["resource_id"], str(e["service_user_id"])) for e in reads] == \
            [("read", None, person["id"])] * 3
        assert [i for e in reads for i in e["details"]["ids"]] == expected
    newest = items[0]
    assert newest["summary"]["current_allocation"]["id"] == a["id"]
    start = started_at(db, a["id"])
    assert newest["summary"]["due"]["assessment_due"] == due_after(start, DAYS)
    assert all(e["summary"]["due"] == {"assessment_due": None, "care_plan_due": None} for e in items[1:])


def test_persons_episodes_refused_without_a_relationship_R_AUD_1(db, staff, episode):
    stranger = staff()
    assert_problem(stranger.api.get(f"/service-users/{episode.person['id']}/episodes"), 403, "forbidden")
    rows = events(db, "episode", actor=stranger.sub)
    assert [(e["action"], str(e["service_user_id"])) for e in rows] == [("deny", episode.person["id"])]
    r = stranger.api.get(f"/service-users/{episode.person['id']}/episodes", headers={"X-Break-Glass-Reason": REASON})
    assert r.status_code == 200 and [e["id"] for e in r.json()["items"]] == [episode.id]
    last = events(db, "episode", actor=stranger.sub)[-1]
    assert (last["action"], last["details"]) == ("break_glass", {"ids": [episode.id], "reason": REASON})


def test_persons_episodes_of_unknown_person_is_404_and_bad_queries_400(manager):
    assert_problem(manager.api.get(f"/service-users/{uuid.uuid4()}/episodes"), 404, "not-found")
    assert_problem(manager.api.get("/service-users/nope/episodes"), 404, "not-found")
    person = str(uuid.uuid4())
    assert_problem(manager.api.get(f"/service-users/{person}/episodes", params={"limit": 0}), 400, "bad-request")
    assert_problem(manager.api.get(f"/service-users/{person}/episodes", params={"cursor": "x"}), 400, "bad-request")
    assert_problem(manager.api.get(f"/service-users/{person}/episodes", params={"status": "open"}), 400, "bad-request")
