"""Allocations: who holds an episode of care (R-ALC-1..4), the access that follows them, the
service user's requests to change co-ordinator, and the audit trail of all of it (R-AUD-1).

Episodes are made directly in the database (they are opened by accepting a referral). Managers
here have staff rows in the team holding the episode; the module's default `api` session (a
manager with no staff row) is used only to create teams and people."""

import threading
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
    new_person,
    new_team,
    open_episode,
    preferences,
)
from carecoord import (
    assert_problem,
    assert_validation,
    error_fields,
    etag_of,
    mint_token,
    paginate,
    unique,
    wait_until,
)

REASON = "Crisis call out of hours, coordinator unreachable"


@pytest.fixture(scope="module")
def teams(api):
    return SimpleNamespace(
        cmht=new_team(api), ward=new_team(api, "inpatient_ward"), other=new_team(api)
    )


def path(episode_id, *rest):
    return "/".join([f"/episodes/{episode_id}", *rest])


def allocate(who, episode_id, body, **kw):
    return who.api.post(path(episode_id, "allocations"), json=body, **kw)


def allocated(who, episode_id, body):
    r = allocate(who, episode_id, body)
    assert r.status_code == 201, r.text
    return r.json()


def handover(holder_id, replaces, reason="Care co-ordinator moved to another team", **extra):
    return allocation_body(holder_id, replaces_allocation_id=replaces, end_reason=reason, **extra)


def current_allocations(db, episode_id):
    return [str(r["id"]) for r in db.rows(
        "SELECT id FROM allocations WHERE episode_id = %s AND ended_at IS NULL", (episode_id,))]


def assert_denied(resp):
    return assert_problem(resp, 403, "forbidden")


def read_and_write(who, person_id):
    """(GET status, PATCH status) of the person's record for this staff member."""
    r = who.api.get(f"/service-users/{person_id}")
    if r.status_code != 200:
        return r.status_code, who.api.patch(
            f"/service-users/{person_id}", json={"preferred_language": "Welsh"},
            headers={"If-Match": etag_of(1)}).status_code
    w = who.api.patch(f"/service-users/{person_id}", json={"preferred_language": unique("L")[:30]},
                      headers={"If-Match": r.headers["ETag"]})
    return r.status_code, w.status_code


@pytest.fixture
def nothing_written(db):
    before = db.counts("allocations", "allocation_change_requests", "idempotency_keys")
    yield
    assert db.counts("allocations", "allocation_change_requests", "idempotency_keys") == before, \
        "a refused request wrote rows"


# -- making an allocation -----------------------------------------------------------------------


def test_allocate_returns_201_location_etag_and_the_allocation_R_ALC_3(service, db, manager, staff, episode):
    holder, deputy = staff(), staff()
    body = allocation_body(holder.id, deputy_staff_id=deputy.id,
                           preferences=preferences(met=False, reason="No female co-ordinator free",
                                                   gender="female", needs="Muslim; no visits on Fridays"))
    r = allocate(manager, episode.id, body)
    assert r.status_code == 201, r.text
    a = r.json()
    assert_conforms(service.env.repo, "Allocation", a)
    assert r.headers["Location"] == path(episode.id, "allocations", a["id"])
    assert r.headers["ETag"] == etag_of(1)
    assert a["episode_id"] == episode.id and a["role"] == "care_coordinator"
    assert a["holder_staff_id"] == holder.id and a["external_holder"] is None
    assert a["deputy_staff_id"] == deputy.id
    assert a["holder_name"] and a["deputy_name"]
    assert a["preferences"] == {"coordinator_gender": "female",
                                "cultural_religious_needs": "Muslim; no visits on Fridays",
                                "met": False, "not_met_reason": "No female co-ordinator free"}
    assert a["current"] is True and a["ended_at"] is None and a["end_reason"] is None
    assert a["replaces_allocation_id"] is None and a["replaced_by_allocation_id"] is None
    assert a["created_by"] == manager.sub and a["version"] == 1
    row = db.one("SELECT * FROM allocations WHERE id = %s", (a["id"],))
    assert row["preferences_met"] is False and row["preferred_coordinator_gender"] == "female"
    assert manager.api.get(r.headers["Location"]).json() == a


def test_every_allocation_write_and_read_is_audited_R_AUD_1(db, manager, staff, episode):
    first = allocated(manager, episode.id, allocation_body(staff().id))
    second = allocated(manager, episode.id, handover(staff().id, first["id"]))
    manager.api.get(path(episode.id, "allocations", second["id"]))
    manager.api.get(path(episode.id, "allocations"))
    r = manager.api.patch(path(episode.id, "allocations", second["id"]), json={"deputy_staff_id": staff().id},
                          headers={"If-Match": etag_of(1)})
    assert r.status_code == 200, r.text
    rows = [e for e in events(db, "allocation", actor=manager.sub)
            if str(e["service_user_id"]) == episode.person["id"]]
    assert [(e["action"], e["resource_id"]) for e in rows] == [
        ("create", first["id"]),
        ("update", first["id"]),      # ended by the handover
        ("create", second["id"]),
        ("read", second["id"]),
        ("read", None),               # the history list
        ("update", second["id"]),
    ]
    assert all(e["outcome"] == "success" for e in rows)
    assert rows[1]["details"]["replaced_by_allocation_id"] == second["id"]
    assert rows[2]["details"] == {"replaces_allocation_id": first["id"]}
    assert rows[4]["details"] == {"ids": [second["id"], first["id"]]}
    assert [c["field"] for c in rows[5]["details"]["changes"]] == ["deputy_staff_id"]
    # free text never enters the audit trail
    assert "Care co-ordinator moved" not in str([e["details"] for e in rows])


def test_new_allocation_ends_the_previous_one_with_its_reason_R_ALC_1(service, db, manager, staff, episode):
    first = allocated(manager, episode.id, allocation_body(staff().id))
    second = allocated(manager, episode.id, handover(staff().id, first["id"], reason="Moved to the east team"))
    assert second["replaces_allocation_id"] == first["id"]
    assert current_allocations(db, episode.id) == [second["id"]]
    r = manager.api.get(path(episode.id, "allocations"))
    assert r.status_code == 200, r.text
    assert_conforms(service.env.repo, "AllocationList", r.json())
    history = r.json()["items"]
    assert [a["id"] for a in history] == [second["id"], first["id"]]  # newest first
    ended = history[1]
    assert ended["current"] is False and ended["end_reason"] == "Moved to the east team"
    assert ended["ended_at"] == second["started_at"]  # no gap, no overlap
    assert ended["replaced_by_allocation_id"] == second["id"] and ended["version"] == 2
    assert history[0]["current"] is True and history[0]["ended_at"] is None


def test_history_is_paginated_newest_first(db, manager, staff, episode):
    ids = [allocated(manager, episode.id, allocation_body(staff().id))["id"]]
    for _ in range(4):
        ids.append(allocated(manager, episode.id, handover(staff().id, ids[-1]))["id"])
    for via in ("cursor", "link"):
        items, pages = paginate(manager.api, path(episode.id, "allocations"), limit=2, via=via)
        assert [a["id"] for a in items] == ids[::-1]
        assert len(pages) == 3


def test_external_holder_for_a_community_drr_R_ALC_2(service, api, db, manager, staff, teams):
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.cmht["id"])
    deputy = staff()
    external = {"name": "Sam Probation", "organisation": "Probation Service, North", "contact": "01632 960999"}
    a = allocated(manager, episode_id, {"role": "care_coordinator", "external_holder": external,
                                        "deputy_staff_id": deputy.id, "preferences": preferences()})
    assert_conforms(service.env.repo, "Allocation", a)
    assert a["external_holder"] == external and a["holder_staff_id"] is None
    assert a["holder_name"] == "Sam Probation"
    # the local deputy has access; nobody else gains any
    assert read_and_write(deputy, person["id"]) == (200, 200)


def test_interim_named_nurse_on_a_ward_until_a_coordinator_R_ALC_2(api, db, staff, teams):
    ward_manager = staff("ward", "manager", professional_role="manager")
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.ward["id"])
    nurse = staff("ward")
    interim = allocated(ward_manager, episode_id, allocation_body(nurse.id, role="interim_named_nurse"))
    assert read_and_write(nurse, person["id"]) == (200, 200)
    coordinator = allocated(ward_manager, episode_id,
                            handover(staff().id, interim["id"], reason="Care co-ordinator allocated"))
    # once a co-ordinator has been allocated, the named nurse may not hold the episode again
    r = allocate(ward_manager, episode_id, handover(nurse.id, coordinator["id"], role="interim_named_nurse"))
    body = assert_validation(r, "/role")
    assert [e["rule"] for e in body["errors"]] == ["R-ALC-2"]
    assert current_allocations(db, episode_id) == [coordinator["id"]]


def test_allocation_is_idempotent_with_a_key(db, manager, staff, episode):
    body = allocation_body(staff().id)
    key = unique("idem-")
    first = allocate(manager, episode.id, body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    again = allocate(manager, episode.id, body, headers={"Idempotency-Key": key})
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    assert db.count("allocations", "episode_id = %s", (episode.id,)) == 1
    other = dict(body, deputy_staff_id=staff().id)
    assert_problem(allocate(manager, episode.id, other, headers={"Idempotency-Key": key}),
                   422, "idempotency-key-reused")


# -- access follows allocation ------------------------------------------------------------------


def test_access_follows_allocation_from_the_moment_it_is_made_until_it_ends_R_ALC_1_R_ALC_4(
        db, manager, staff, episode):
    holder, deputy, successor = staff(), staff(), staff(role="lead_professional")
    person = episode.person["id"]
    for who in (holder, deputy, successor):
        assert read_and_write(who, person) == (403, 403)
        assert_denied(who.api.get(path(episode.id)))
    first = allocated(manager, episode.id, allocation_body(holder.id, deputy_staff_id=deputy.id))
    for who in (holder, deputy):
        assert read_and_write(who, person) == (200, 200)
        assert who.api.get(path(episode.id)).status_code == 200
    assert read_and_write(successor, person) == (403, 403)
    # the episode goes non-CPA: a lead professional replaces the co-ordinator
    db.execute("UPDATE episodes SET care_level = 'non_cpa' WHERE id = %s", (episode.id,))
    allocated(manager, episode.id, handover(successor.id, first["id"], role="lead_professional"))
    for who in (holder, deputy):
        assert read_and_write(who, person) == (403, 403)
        assert_denied(who.api.get(path(episode.id)))
    assert read_and_write(successor, person) == (200, 200)


def test_changing_the_deputy_moves_access_at_once_R_ALC_4(db, manager, staff, episode):
    holder, old_deputy, new_deputy = staff(), staff(), staff()
    a = allocated(manager, episode.id, allocation_body(holder.id, deputy_staff_id=old_deputy.id))
    assert read_and_write(old_deputy, episode.person["id"]) == (200, 200)
    r = manager.api.patch(path(episode.id, "allocations", a["id"]), json={"deputy_staff_id": new_deputy.id},
                          headers={"If-Match": etag_of(a["version"])})
    assert r.status_code == 200, r.text
    assert r.json()["deputy_staff_id"] == new_deputy.id and r.headers["ETag"] == etag_of(2)
    assert read_and_write(old_deputy, episode.person["id"]) == (403, 403)
    assert read_and_write(new_deputy, episode.person["id"]) == (200, 200)
    # removing the deputy removes their access
    r = manager.api.patch(path(episode.id, "allocations", a["id"]), json={"deputy_staff_id": None},
                          headers={"If-Match": etag_of(2)})
    assert r.status_code == 200 and r.json()["deputy_staff_id"] is None
    assert read_and_write(new_deputy, episode.person["id"]) == (403, 403)
    assert read_and_write(holder, episode.person["id"]) == (200, 200)


# -- concurrency (R-ALC-1) ----------------------------------------------------------------------


@pytest.mark.parametrize("replacing", [False, True], ids=["first-allocation", "handover"])
def test_concurrent_allocations_exactly_one_wins_R_ALC_1(service, db, manager, staff, episode, replacing):
    replaces = allocated(manager, episode.id, allocation_body(staff().id))["id"] if replacing else None
    holders = [staff().id, staff().id]
    barrier = threading.Barrier(2)
    results = [None, None]
    token = mint_token(service.env, sub=manager.sub, roles=("manager",))

    def run(i):
        body = handover(holders[i], replaces) if replaces else allocation_body(holders[i])
        with service.api(token=token) as session:
            barrier.wait()
            results[i] = session.post(path(episode.id, "allocations"), json=body)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses[0] == 201 and statuses[1] in (409, 412), [r.text for r in results]
    winner = next(r for r in results if r.status_code == 201).json()
    loser = next(r for r in results if r.status_code != 201)
    problem = assert_problem(loser, loser.status_code)
    assert winner["id"] in problem["detail"], problem  # names the allocation now current
    assert current_allocations(db, episode.id) == [winner["id"]]
    assert db.count("allocations", "episode_id = %s", (episode.id,)) == (2 if replacing else 1)


def test_a_race_past_the_lock_meets_the_unique_index_and_is_409_R_ALC_1(service, db, manager, staff, episode):
    """A writer outside the service inserts a current allocation without the episode lock; the
    service's insert waits on the one-current index and, once that writer commits, answers 409."""
    outsider, holder = staff(), staff()
    conn = db.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO allocations (episode_id, role, holder_staff_id, preferred_coordinator_gender,"
                        " preferences_met) VALUES (%s, 'care_coordinator', %s, 'no_preference', true) RETURNING id",
                        (episode.id, outsider.id))
            outsider_allocation = str(cur.fetchone()[0])
        result = {}
        token = mint_token(service.env, sub=manager.sub, roles=("manager",))

        def run():
            with service.api(token=token) as session:
                result["r"] = session.post(path(episode.id, "allocations"), json=allocation_body(holder.id))

        t = threading.Thread(target=run)
        t.start()
        wait_until(lambda: db.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND usename = 'carecoord_app' AND wait_event_type = 'Lock'"), 20,
            "the service's insert to wait on the uncommitted allocation")
        conn.commit()
        t.join()
    finally:
        conn.close()
    assert_problem(result["r"], 409, "conflict")
    assert current_allocations(db, episode.id) == [outsider_allocation]


# -- refusals -----------------------------------------------------------------------------------


def test_role_must_fit_the_care_level_R_ALC_2(api, db, manager, staff, teams, nothing_written):
    holder = staff().id
    person = new_person(api)
    cpa = open_episode(db, person["id"], teams.cmht["id"], care_level="cpa")
    body = assert_validation(allocate(manager, cpa, allocation_body(holder, role="lead_professional")), "/role")
    assert body["errors"][0]["rule"] == "R-ALC-2" and "care_coordinator" in body["errors"][0]["reason"]
    person = new_person(api)
    non_cpa = open_episode(db, person["id"], teams.cmht["id"], care_level="non_cpa")
    body = assert_validation(allocate(manager, non_cpa, allocation_body(holder)), "/role")
    assert body["errors"][0]["rule"] == "R-ALC-2" and "lead_professional" in body["errors"][0]["reason"]
    assert_validation(allocate(manager, non_cpa, allocation_body(holder, role="interim_named_nurse")), "/role")


@pytest.mark.parametrize("change, field, rule", [
    (lambda b, s: b.update(deputy_staff_id=b["holder_staff_id"]), "/deputy_staff_id", "R-ALC-4"),
    (lambda b, s: b.update(deputy_staff_id=b["holder_staff_id"].upper()), "/deputy_staff_id", "R-ALC-4"),
    (lambda b, s: b.update(preferences=preferences(met=False)), "/preferences/not_met_reason", "R-ALC-3"),
    (lambda b, s: b.update(preferences=preferences(met=True, reason="x")), "/preferences/not_met_reason", "R-ALC-3"),
    (lambda b, s: b.update(end_reason="Handover"), "/end_reason", "R-ALC-1"),
    (lambda b, s: b.update(replaces_allocation_id=str(uuid.uuid4())), "/end_reason", "R-ALC-1"),
    (lambda b, s: b.update(external_holder={"name": "A", "organisation": "B", "contact": "C"}),
     "/holder_staff_id", None),
    (lambda b, s: b.pop("holder_staff_id"), "/holder_staff_id", None),
    (lambda b, s: b.update(role="interim_named_nurse", holder_staff_id=None,
                           external_holder={"name": "A", "organisation": "B", "contact": "C"}),
     "/external_holder", "R-ALC-2"),
])
def test_rules_across_members_are_422_naming_field_and_rule(manager, staff, episode, nothing_written,
                                                            change, field, rule):
    body = allocation_body(staff().id)
    change(body, staff)
    problem = assert_validation(allocate(manager, episode.id, body), field)
    assert [e.get("rule") for e in problem["errors"] if e["field"] == field] == [rule]


@pytest.mark.parametrize("body, fields", [
    ({}, ["/role", "/preferences"]),
    ({"role": "coordinator", "holder_staff_id": "nope", "preferences": {"met": "yes"}},
     ["/role", "/holder_staff_id", "/preferences/coordinator_gender", "/preferences/met"]),
    ({"role": "care_coordinator", "holder_staff_id": None, "external_holder": {"name": ""},
      "preferences": {"coordinator_gender": "female", "met": True}, "colour": "red"},
     ["/external_holder/name", "/external_holder/organisation", "/external_holder/contact", "/colour"]),
    ({"role": "care_coordinator", "preferences": {"coordinator_gender": "either", "met": True, "x": 1}},
     ["/preferences/coordinator_gender", "/preferences/x"]),
])
def test_malformed_bodies_are_422_with_every_field(manager, episode, nothing_written, body, fields):
    problem = assert_validation(allocate(manager, episode.id, body))
    assert set(fields) <= set(error_fields(problem)), problem


def test_holder_and_deputy_must_be_active_staff(manager, staff, episode, nothing_written):
    active, inactive = staff(), staff(active=False)
    problem = assert_validation(allocate(manager, episode.id, allocation_body(inactive.id)), "/holder_staff_id")
    assert "inactive" in problem["errors"][0]["reason"]
    problem = assert_validation(allocate(manager, episode.id, allocation_body(active.id, deputy_staff_id=inactive.id)),
                                "/deputy_staff_id")
    problem = assert_validation(allocate(manager, episode.id, allocation_body(str(uuid.uuid4()),
                                                                               deputy_staff_id=str(uuid.uuid4()))),
                                "/holder_staff_id", "/deputy_staff_id")
    assert all("no staff member" in e["reason"] for e in problem["errors"])


def test_closed_episode_is_409(api, db, manager, staff, teams, nothing_written):
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.cmht["id"], status="closed")
    assert_problem(allocate(manager, episode_id, allocation_body(staff().id)), 409, "conflict")


def test_missing_or_stale_replaces_is_409_naming_the_current_allocation_R_ALC_1(db, manager, staff, episode):
    first = allocated(manager, episode.id, allocation_body(staff().id))
    second = allocated(manager, episode.id, handover(staff().id, first["id"]))
    before = db.count("allocations")
    problem = assert_problem(allocate(manager, episode.id, allocation_body(staff().id)), 409, "conflict")
    assert second["id"] in problem["detail"]
    problem = assert_problem(allocate(manager, episode.id, handover(staff().id, first["id"])), 409, "conflict")
    assert second["id"] in problem["detail"]
    problem = assert_problem(allocate(manager, episode.id, handover(staff().id, str(uuid.uuid4()))), 409, "conflict")
    assert second["id"] in problem["detail"]
    assert db.count("allocations") == before
    assert current_allocations(db, episode.id) == [second["id"]]


def test_replaces_on_an_episode_without_allocation_is_409(manager, staff, episode, nothing_written):
    assert_problem(allocate(manager, episode.id, handover(staff().id, str(uuid.uuid4()))), 409, "conflict")


def test_manager_of_another_team_is_403_with_a_deny_event_R_AUD_1(api, db, manager, staff, teams, nothing_written):
    other_manager = staff("other", "manager", professional_role="manager")
    person = new_person(api)
    episode_id = open_episode(db, person["id"], teams.cmht["id"])
    # no relationship at all with the person
    assert_denied(allocate(other_manager, episode_id, allocation_body(staff().id)))
    # a relationship with the person through their own team's episode, but this episode is not theirs
    open_episode(db, person["id"], teams.other["id"], care_level="non_cpa")
    assert other_manager.api.get(f"/service-users/{person['id']}").status_code == 200
    assert_denied(allocate(other_manager, episode_id, allocation_body(staff().id)))
    deny = [e for e in events(db, "allocation", actor=other_manager.sub) if e["action"] == "deny"]
    assert len(deny) == 2 and all(str(e["service_user_id"]) == person["id"] and e["outcome"] == "denied" for e in deny)


def test_coordinator_role_may_not_allocate_403(db, manager, staff, episode):
    holder = staff()
    allocated_row = allocated(manager, episode.id, allocation_body(holder.id))
    # the holder, with access to the record, still may not allocate: it is a manager's act
    assert_denied(allocate(holder, episode.id, handover(staff().id, allocated_row["id"])))
    assert_denied(holder.api.patch(path(episode.id, "allocations", allocated_row["id"]),
                                   json={"deputy_staff_id": None}, headers={"If-Match": etag_of(1)}))
    assert [e["action"] for e in db.rows("SELECT action FROM audit_events WHERE actor = %s", (holder.sub,))] \
        == ["deny", "deny"]
    assert current_allocations(db, episode.id) == [allocated_row["id"]]


def test_break_glass_never_allows_allocating(manager, staff, episode, nothing_written):
    other = staff("other", "manager", professional_role="manager")
    r = allocate(other, episode.id, allocation_body(staff().id), headers={"X-Break-Glass-Reason": REASON})
    assert_denied(r)


def test_unknown_or_malformed_ids_are_404(manager, staff, episode):
    body = allocation_body(staff().id)
    for episode_id in (str(uuid.uuid4()), "not-a-uuid"):
        assert_problem(allocate(manager, episode_id, body), 404, "not-found")
        assert_problem(manager.api.get(path(episode_id, "allocations")), 404, "not-found")
    for allocation_id in (str(uuid.uuid4()), "nope"):
        assert_problem(manager.api.get(path(episode.id, "allocations", allocation_id)), 404, "not-found")
        assert_problem(manager.api.patch(path(episode.id, "allocations", allocation_id), json={"deputy_staff_id": None},
                                         headers={"If-Match": etag_of(1)}), 404, "not-found")


def test_an_allocation_of_another_episode_is_404(api, db, manager, staff, episode, teams):
    other = open_episode(db, new_person(api)["id"], teams.cmht["id"])
    a = allocated(manager, other, allocation_body(staff().id))
    assert_problem(manager.api.get(path(episode.id, "allocations", a["id"])), 404, "not-found")


# -- changing an allocation ---------------------------------------------------------------------


def test_patch_changes_preferences_and_needs_if_match(db, manager, staff, episode):
    a = allocated(manager, episode.id, allocation_body(staff().id))
    url = path(episode.id, "allocations", a["id"])
    change = {"preferences": {"coordinator_gender": "male", "met": False, "not_met_reason": "Only female staff free"}}
    assert_problem(manager.api.patch(url, json=change), 428, "precondition-required")
    assert_problem(manager.api.patch(url, json=change, headers={"If-Match": etag_of(7)}), 412, "precondition-failed")
    r = manager.api.patch(url, json=change, headers={"If-Match": etag_of(1)})
    assert r.status_code == 200, r.text
    assert r.json()["preferences"]["met"] is False and r.json()["version"] == 2
    # a merge patch of the nested object keeps what it does not name (R-ALC-3 still holds)
    r = manager.api.patch(url, json={"preferences": {"met": True}}, headers={"If-Match": etag_of(2)})
    assert_validation(r, "/preferences/not_met_reason")
    r = manager.api.patch(url, json={"preferences": {"met": True, "not_met_reason": None}},
                          headers={"If-Match": etag_of(2)})
    assert r.status_code == 200, r.text
    assert r.json()["preferences"] == {"coordinator_gender": "male", "cultural_religious_needs": None, "met": True,
                                       "not_met_reason": None}


@pytest.mark.parametrize("change, field", [
    ({"role": "lead_professional"}, "/role"),
    ({"holder_staff_id": None}, "/holder_staff_id"),
    ({"end_reason": "x"}, "/end_reason"),
    ({"ended_at": "2026-01-01T00:00:00Z"}, "/ended_at"),
    ({"preferences": None}, "/preferences"),
])
def test_patch_refuses_what_cannot_change(manager, staff, episode, change, field):
    a = allocated(manager, episode.id, allocation_body(staff().id))
    assert_validation(manager.api.patch(path(episode.id, "allocations", a["id"]), json=change,
                                        headers={"If-Match": etag_of(1)}), field)


def test_patch_deputy_rules_R_ALC_4(manager, staff, episode):
    holder = staff()
    a = allocated(manager, episode.id, allocation_body(holder.id))
    url = path(episode.id, "allocations", a["id"])
    r = manager.api.patch(url, json={"deputy_staff_id": holder.id}, headers={"If-Match": etag_of(1)})
    assert assert_validation(r, "/deputy_staff_id")["errors"][0]["rule"] == "R-ALC-4"
    r = manager.api.patch(url, json={"deputy_staff_id": staff(active=False).id}, headers={"If-Match": etag_of(1)})
    assert_validation(r, "/deputy_staff_id")


def test_patch_of_an_ended_allocation_is_409(manager, staff, episode):
    first = allocated(manager, episode.id, allocation_body(staff().id))
    allocated(manager, episode.id, handover(staff().id, first["id"]))
    r = manager.api.patch(path(episode.id, "allocations", first["id"]), json={"deputy_staff_id": staff().id},
                          headers={"If-Match": etag_of(2)})
    assert_problem(r, 409, "conflict")


def test_patch_by_a_manager_of_another_team_is_403(api, db, manager, staff, teams, episode):
    a = allocated(manager, episode.id, allocation_body(staff().id))
    other = staff("other", "manager", professional_role="manager")
    open_episode(db, episode.person["id"], teams.other["id"], care_level="non_cpa")
    r = other.api.patch(path(episode.id, "allocations", a["id"]), json={"deputy_staff_id": None},
                        headers={"If-Match": etag_of(1)})
    assert_denied(r)
    assert [e["action"] for e in events(db, "allocation", a["id"], actor=other.sub)] == ["deny"]


# -- reading ------------------------------------------------------------------------------------


def test_holder_reads_history_and_others_are_refused_R_AUD_1(db, manager, staff, episode):
    holder, stranger = staff(), staff()
    a = allocated(manager, episode.id, allocation_body(holder.id))
    r = holder.api.get(path(episode.id, "allocations", a["id"]))
    assert r.status_code == 200 and r.headers["ETag"] == etag_of(1)
    assert holder.api.get(path(episode.id, "allocations")).status_code == 200
    assert_denied(stranger.api.get(path(episode.id, "allocations")))
    assert_denied(stranger.api.get(path(episode.id, "allocations", a["id"])))
    assert [(e["action"], e["outcome"]) for e in events(db, "allocation", actor=stranger.sub)] == \
        [("deny", "denied"), ("deny", "denied")]
    assert [e["action"] for e in events(db, "allocation", actor=holder.sub)] == ["read", "read"]


def test_break_glass_read_of_the_history_is_audited_with_its_reason_R_AUD_1(db, manager, staff, episode):
    a = allocated(manager, episode.id, allocation_body(staff().id))
    stranger = staff()
    r = stranger.api.get(path(episode.id, "allocations"), headers={"X-Break-Glass-Reason": REASON})
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [a["id"]]
    rows = events(db, "allocation", actor=stranger.sub)
    assert [(e["action"], e["details"]) for e in rows] == [("break_glass", {"ids": [a["id"]], "reason": REASON})]
    assert str(rows[0]["service_user_id"]) == episode.person["id"]
    assert_problem(stranger.api.get(path(episode.id, "allocations"), headers={"X-Break-Glass-Reason": "short"}),
                   400, "bad-request")


# -- change requests ----------------------------------------------------------------------------


def requests_path(episode_id, *rest):
    return path(episode_id, "allocation-change-requests", *rest)


def test_change_request_recorded_then_approved_with_a_new_allocation(service, db, manager, staff, episode):
    holder, successor = staff(), staff(gender="male")
    a = allocated(manager, episode.id, allocation_body(holder.id))
    r = holder.api.post(requests_path(episode.id), json={"reason": "Would prefer a male co-ordinator"})
    assert r.status_code == 201, r.text
    req = r.json()
    assert_conforms(service.env.repo, "AllocationChangeRequest", req)
    assert r.headers["Location"] == requests_path(episode.id, req["id"])
    assert (req["status"], req["allocation_id"], req["requested_by"]) == ("requested", a["id"], holder.sub)
    assert manager.api.get(path(episode.id)).json()["summary"]["open_change_request_id"] == req["id"]
    decision = {"decision": "approved", "decision_reason": "Male co-ordinator available",
                "allocation": handover(successor.id, a["id"], reason="Service user asked for a change",
                                       preferences=preferences(gender="male"))}
    r = manager.api.post(requests_path(episode.id, req["id"], "decision"), json=decision)
    assert r.status_code == 200, r.text
    done = r.json()
    assert_conforms(service.env.repo, "AllocationChangeRequest", done)
    assert done["status"] == "approved" and done["decided_by"] == manager.sub and done["version"] == 2
    new_id = done["resulting_allocation_id"]
    assert current_allocations(db, episode.id) == [new_id]
    ended = manager.api.get(path(episode.id, "allocations", a["id"])).json()
    assert ended["end_reason"] == "Service user asked for a change"
    assert read_and_write(successor, episode.person["id"]) == (200, 200)
    assert read_and_write(holder, episode.person["id"]) == (403, 403)
    assert manager.api.get(path(episode.id)).json()["summary"]["open_change_request_id"] is None
    # a decided request stays decided
    assert_problem(manager.api.post(requests_path(episode.id, req["id"], "decision"),
                                    json={"decision": "declined", "decision_reason": "x"}), 409, "conflict")
    rows = events(db, "allocation_change_request", req["id"])
    assert [(e["action"], e["actor"]) for e in rows] == [("create", holder.sub), ("update", manager.sub)]
    assert rows[1]["details"]["resulting_allocation_id"] == new_id


def test_change_request_declined_with_reason_changes_nothing_else(db, manager, staff, episode):
    holder = staff()
    a = allocated(manager, episode.id, allocation_body(holder.id))
    req = manager.api.post(requests_path(episode.id), json={"reason": "Wants someone else"}).json()
    assert_validation(manager.api.post(requests_path(episode.id, req["id"], "decision"),
                                       json={"decision": "declined"}), "/decision_reason")
    assert_validation(manager.api.post(requests_path(episode.id, req["id"], "decision"),
                                       json={"decision": "declined", "decision_reason": "x",
                                             "allocation": allocation_body(staff().id)}), "/allocation")
    r = manager.api.post(requests_path(episode.id, req["id"], "decision"),
                         json={"decision": "declined", "decision_reason": "Discussed; happy to continue"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declined" and r.json()["resulting_allocation_id"] is None
    assert current_allocations(db, episode.id) == [a["id"]]
    listed = manager.api.get(requests_path(episode.id)).json()["items"]
    assert [(i["id"], i["status"]) for i in listed] == [(req["id"], "declined")]
    got = manager.api.get(requests_path(episode.id, req["id"]))
    assert got.status_code == 200 and got.json() == r.json() and got.headers["ETag"] == etag_of(2)
    rows = [e for e in events(db, "allocation_change_request", actor=manager.sub)
            if str(e["service_user_id"]) == episode.person["id"]]
    assert [(e["action"], e["resource_id"]) for e in rows] == [
        ("create", req["id"]), ("update", req["id"]), ("read", None), ("read", req["id"])]
    assert rows[2]["details"] == {"ids": [req["id"]]}


def test_change_request_refusals(api, db, manager, staff, teams, episode):
    # no current allocation: nothing to change
    assert_problem(manager.api.post(requests_path(episode.id), json={"reason": "x"}), 409, "conflict")
    assert_validation(manager.api.post(requests_path(episode.id), json={}), "/reason")
    holder = staff()
    a = allocated(manager, episode.id, allocation_body(holder.id))
    first = manager.api.post(requests_path(episode.id), json={"reason": "first"}).json()
    problem = assert_problem(manager.api.post(requests_path(episode.id), json={"reason": "again"}), 409, "conflict")
    assert first["id"] in problem["detail"]
    # approval needs the new allocation, with a different holder, replacing the current one
    url = requests_path(episode.id, first["id"], "decision")
    assert_validation(manager.api.post(url, json={"decision": "approved", "decision_reason": "ok"}), "/allocation")
    same = {"decision": "approved", "decision_reason": "ok", "allocation": handover(holder.id, a["id"])}
    assert_validation(manager.api.post(url, json=same), "/allocation/holder_staff_id")
    stale = {"decision": "approved", "decision_reason": "ok", "allocation": allocation_body(staff().id)}
    assert a["id"] in assert_problem(manager.api.post(url, json=stale), 409, "conflict")["detail"]
    wrong_role = {"decision": "approved", "decision_reason": "ok",
                  "allocation": handover(staff().id, a["id"], role="lead_professional")}
    problem = assert_validation(manager.api.post(url, json=wrong_role), "/allocation/role")
    assert problem["errors"][0]["rule"] == "R-ALC-2"
    # only a manager of the holding team decides
    assert_denied(holder.api.post(url, json={"decision": "declined", "decision_reason": "x"}))
    other = staff("other", "manager", professional_role="manager")
    open_episode(db, episode.person["id"], teams.other["id"], care_level="non_cpa")
    assert_denied(other.api.post(url, json={"decision": "declined", "decision_reason": "x"}))
    # a clinician without access may not record one
    assert_denied(staff().api.post(requests_path(episode.id), json={"reason": "x"}))
    assert db.scalar("SELECT status FROM allocation_change_requests WHERE id = %s", (first["id"],)) == "requested"
    assert current_allocations(db, episode.id) == [a["id"]]
