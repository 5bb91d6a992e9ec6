"""The access policy for a person's record: who may read and change a service user's record,
decided by role and the legitimate relationship (DOMAIN.md "Who uses the service"): the
care co-ordinator or lead professional holding a current allocation (or named as its deputy) on
an open episode, the manager of the team holding an open episode, or any manager while the
person is in intake. Refusals and break-glass reads are audit events (R-AUD-1)."""

import uuid

import pytest

from carecoord import (
    assert_problem,
    create,
    etag_of,
    mint_token,
    service_user_payload,
    team_payload,
    unique,
)

REASON = "Crisis call out of hours, coordinator unreachable"


@pytest.fixture(scope="module")
def teams(api):
    return create(api, "/teams", team_payload()), create(api, "/teams", team_payload())


def staff_member(db, team_id, professional_role="nurse", active=True):
    """A staff row (as superuser) with a fresh subject; returns (staff id, subject)."""
    sub = unique("staff-")
    staff_id = db.scalar(
        "INSERT INTO staff (subject, name, professional_role, team_id, gender, active)"
        " VALUES (%s, %s, %s, %s, 'unknown', %s) RETURNING id",
        (sub, unique("Staff "), professional_role, team_id, active),
    )
    return str(staff_id), sub


def session(service, sub, role):
    return service.api(token=mint_token(service.env, sub=sub, roles=(role,)))


def person(api):
    return create(api, "/service-users", service_user_payload())


def open_episode(db, person_id, team_id):
    return str(
        db.scalar(
            "INSERT INTO episodes (service_user_id, team_id) VALUES (%s, %s) RETURNING id",
            (person_id, team_id),
        )
    )


def allocate(db, episode_id, holder_id, deputy_id=None, role="care_coordinator"):
    return str(
        db.scalar(
            "INSERT INTO allocations (episode_id, role, holder_staff_id, deputy_staff_id)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (episode_id, role, holder_id, deputy_id),
        )
    )


def events(db, sub, person_id):
    return db.rows(
        "SELECT action, outcome, resource_id, service_user_id, details FROM audit_events"
        " WHERE actor = %s AND service_user_id = %s ORDER BY id",
        (sub, person_id),
    )


def assert_denied(resp):
    body = assert_problem(resp, 403, "forbidden")
    return body


def patch(s, su, **changes):
    return s.patch(f"/service-users/{su['id']}", json=changes or {"preferred_language": "Welsh"},
                   headers={"If-Match": etag_of(su["version"])})


# -- care co-ordinator / lead professional -----------------------------------------------------


@pytest.fixture
def allocated(api, db, service, teams):
    """A person with an open episode in team A allocated to a coordinator (holder) with a named
    deputy; returns (person, allocation id, holder session/sub, deputy session/sub)."""
    su = person(api)
    episode = open_episode(db, su["id"], teams[0]["id"])
    holder_id, holder_sub = staff_member(db, teams[0]["id"])
    deputy_id, deputy_sub = staff_member(db, teams[0]["id"])
    allocation = allocate(db, episode, holder_id, deputy_id)
    return su, allocation, holder_sub, deputy_sub


def test_coordinator_with_current_allocation_reads_and_writes(service, allocated):
    su, _, holder_sub, _ = allocated
    with session(service, holder_sub, "coordinator") as s:
        r = s.get(f"/service-users/{su['id']}")
        assert r.status_code == 200, r.text
        assert r.json()["id"] == su["id"]
        r = patch(s, su)
        assert r.status_code == 200, r.text
        assert r.json()["preferred_language"] == "Welsh"


def test_lead_professional_holding_the_allocation_reads(api, db, service, teams):
    su = person(api)
    holder_id, holder_sub = staff_member(db, teams[1]["id"], professional_role="psychiatrist")
    allocate(db, open_episode(db, su["id"], teams[1]["id"]), holder_id, role="lead_professional")
    with session(service, holder_sub, "lead_professional") as s:
        assert s.get(f"/service-users/{su['id']}").status_code == 200


def test_named_deputy_reads_and_writes(service, allocated):
    su, _, _, deputy_sub = allocated
    with session(service, deputy_sub, "coordinator") as s:
        assert s.get(f"/service-users/{su['id']}").status_code == 200
        assert patch(s, su).status_code == 200


def test_coordinator_without_allocation_is_403_with_a_deny_event_R_AUD_1(db, service, allocated, teams):
    su, _, _, _ = allocated
    _, sub = staff_member(db, teams[0]["id"])  # same team, but holds nothing
    with session(service, sub, "coordinator") as s:
        r = s.get(f"/service-users/{su['id']}")
        body = assert_denied(r)
        # the refusal says nothing about the record
        for value in (su["family_name"], su["given_name"], su["nhs_number"]):
            assert value not in r.text
        assert "episode" not in body["detail"].lower()
        assert_denied(patch(s, su))
    rows = events(db, sub, su["id"])
    assert [(e["action"], e["outcome"]) for e in rows] == [("deny", "denied"), ("deny", "denied")]
    assert all(e["resource_id"] == su["id"] for e in rows), rows
    assert db.scalar("SELECT version FROM service_users WHERE id = %s", (su["id"],)) == 1


def test_coordinator_without_staff_row_is_403(api, service):
    su = person(api)  # even in intake: intake is for managers
    sub = unique("nobody-")
    with session(service, sub, "coordinator") as s:
        assert_denied(s.get(f"/service-users/{su['id']}"))


def test_inactive_holder_is_403(api, db, service, teams):
    su = person(api)
    holder_id, holder_sub = staff_member(db, teams[0]["id"])
    allocate(db, open_episode(db, su["id"], teams[0]["id"]), holder_id)
    db.execute("UPDATE staff SET active = false WHERE id = %s", (holder_id,))
    with session(service, holder_sub, "coordinator") as s:
        assert_denied(s.get(f"/service-users/{su['id']}"))


def test_ended_allocation_is_403_at_once(db, service, allocated):
    su, allocation, holder_sub, deputy_sub = allocated
    with session(service, holder_sub, "coordinator") as s:
        assert s.get(f"/service-users/{su['id']}").status_code == 200
        db.execute("UPDATE allocations SET ended_at = now(), end_reason = 'handover' WHERE id = %s",
                   (allocation,))
        assert_denied(s.get(f"/service-users/{su['id']}"))
        assert_denied(patch(s, su))
    with session(service, deputy_sub, "coordinator") as s:
        assert_denied(s.get(f"/service-users/{su['id']}"))


def test_allocation_on_a_closed_episode_gives_no_access(api, db, service, teams):
    su = person(api)
    episode = open_episode(db, su["id"], teams[0]["id"])
    holder_id, holder_sub = staff_member(db, teams[0]["id"])
    allocate(db, episode, holder_id)
    db.execute("UPDATE episodes SET status = 'closed', closed_at = now() WHERE id = %s", (episode,))
    with session(service, holder_sub, "coordinator") as s:
        assert_denied(s.get(f"/service-users/{su['id']}"))


def test_one_current_allocation_per_episode(api, db, teams):
    su = person(api)
    episode = open_episode(db, su["id"], teams[0]["id"])
    a, _ = staff_member(db, teams[0]["id"])
    b, _ = staff_member(db, teams[0]["id"])
    first = allocate(db, episode, a)
    with pytest.raises(Exception):
        allocate(db, episode, b)
    db.execute("UPDATE allocations SET ended_at = now(), end_reason = %s WHERE id = %s", ("handover", first))
    allocate(db, episode, b)


# -- managers -----------------------------------------------------------------------------------


def test_manager_of_the_holding_team_reads_and_writes(api, db, service, teams):
    su = person(api)
    open_episode(db, su["id"], teams[0]["id"])
    _, sub = staff_member(db, teams[0]["id"], professional_role="manager")
    with session(service, sub, "manager") as s:
        assert s.get(f"/service-users/{su['id']}").status_code == 200
        assert patch(s, su).status_code == 200


def test_manager_of_another_team_is_403_when_the_person_is_held_elsewhere(api, db, service, teams):
    su = person(api)
    open_episode(db, su["id"], teams[0]["id"])
    _, sub = staff_member(db, teams[1]["id"], professional_role="manager")
    with session(service, sub, "manager") as s:
        assert_denied(s.get(f"/service-users/{su['id']}"))
        assert_denied(patch(s, su))
    assert [e["action"] for e in events(db, sub, su["id"])] == ["deny", "deny"]


def test_manager_reads_and_writes_a_person_in_intake(api, db, service, teams):
    su = person(api)
    # a closed episode does not count: with no open episode the person is in intake
    db.execute(
        "INSERT INTO episodes (service_user_id, team_id, status, closed_at) VALUES (%s, %s, 'closed', now())",
        (su["id"], teams[0]["id"]),
    )
    _, sub = staff_member(db, teams[1]["id"], professional_role="manager")
    with session(service, sub, "manager") as s:
        assert s.get(f"/service-users/{su['id']}").status_code == 200
        assert patch(s, su).status_code == 200


def test_unknown_person_stays_404(db, service, teams):
    _, sub = staff_member(db, teams[0]["id"])
    with session(service, sub, "coordinator") as s:
        assert_problem(s.get(f"/service-users/{uuid.uuid4()}"), 404, "not-found")
        assert_problem(
            s.patch(f"/service-users/{uuid.uuid4()}", json={"given_name": "X"}, headers={"If-Match": etag_of(1)}),
            404,
            "not-found",
        )
        assert_problem(
            s.get(f"/service-users/{uuid.uuid4()}", headers={"X-Break-Glass-Reason": REASON}), 404, "not-found"
        )


def test_clinical_roles_may_still_register_people(db, service, teams):
    _, sub = staff_member(db, teams[0]["id"])
    with session(service, sub, "coordinator") as s:
        r = s.post("/service-users", json=service_user_payload())
        assert r.status_code == 201, r.text


# -- break-glass --------------------------------------------------------------------------------


def test_break_glass_read_is_allowed_and_audited_with_its_reason_R_AUD_1(api, db, service, allocated, teams):
    su, _, _, _ = allocated
    _, sub = staff_member(db, teams[1]["id"])
    rid = unique("bg-")
    with session(service, sub, "coordinator") as s:
        r = s.get(f"/service-users/{su['id']}", headers={"X-Break-Glass-Reason": REASON, "X-Request-Id": rid})
        assert r.status_code == 200, r.text
        assert r.json()["id"] == su["id"]
    rows = events(db, sub, su["id"])
    assert [(e["action"], e["outcome"]) for e in rows] == [("break_glass", "success")], rows
    assert rows[0]["details"] == {"reason": REASON}
    # listed among break-glass events for managers to review
    r = api.get("/audit-events", params={"break_glass": "true", "actor": sub})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["action"], i["service_user_id"], i["request_id"]) for i in items] == [("break_glass", su["id"], rid)]
    assert items[0]["details"] == {"reason": REASON}
    r = api.get("/audit-events", params={"break_glass": "true", "limit": 200})
    assert r.json()["items"] and all(i["action"] == "break_glass" for i in r.json()["items"])
    r = api.get("/audit-events", params={"break_glass": "false", "actor": sub})
    assert r.json()["items"] == []


def test_break_glass_filter_value_must_be_boolean(api):
    assert_problem(api.get("/audit-events", params={"break_glass": "yes"}), 400, "bad-request")


def test_break_glass_is_not_needed_with_a_relationship(service, db, allocated):
    su, _, holder_sub, _ = allocated
    with session(service, holder_sub, "coordinator") as s:
        assert s.get(f"/service-users/{su['id']}", headers={"X-Break-Glass-Reason": REASON}).status_code == 200
    assert [e["action"] for e in events(db, holder_sub, su["id"])] == ["read"]


def test_break_glass_on_patch_is_403(db, service, allocated, teams):
    su, _, _, _ = allocated
    _, sub = staff_member(db, teams[1]["id"])
    with session(service, sub, "coordinator") as s:
        r = s.patch(
            f"/service-users/{su['id']}",
            json={"preferred_language": "Welsh"},
            headers={"If-Match": etag_of(su["version"]), "X-Break-Glass-Reason": REASON},
        )
        assert_denied(r)
    assert db.scalar("SELECT version FROM service_users WHERE id = %s", (su["id"],)) == 1
    assert [(e["action"], e["outcome"]) for e in events(db, sub, su["id"])] == [("deny", "denied")]


def test_manager_may_break_glass_on_another_teams_person(api, db, service, teams):
    su = person(api)
    open_episode(db, su["id"], teams[0]["id"])
    _, sub = staff_member(db, teams[1]["id"], professional_role="manager")
    with session(service, sub, "manager") as s:
        assert s.get(f"/service-users/{su['id']}", headers={"X-Break-Glass-Reason": REASON}).status_code == 200
    assert [e["action"] for e in events(db, sub, su["id"])] == ["break_glass"]


@pytest.mark.parametrize("reason", ["too short", "", "x" * 501, "ten chars\tx"])
def test_malformed_break_glass_reason_is_400(db, service, allocated, teams, reason):
    su, _, _, _ = allocated
    _, sub = staff_member(db, teams[1]["id"])
    with session(service, sub, "coordinator") as s:
        r = s.get(f"/service-users/{su['id']}", headers={"X-Break-Glass-Reason": reason})
        assert_problem(r, 400, "bad-request")
    assert events(db, sub, su["id"]) == []


# -- lists --------------------------------------------------------------------------------------


def listed(s, **params):
    params.setdefault("limit", 200)
    r = s.get("/service-users", params=params)
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["items"]}


def test_list_shows_only_people_the_caller_may_read(api, db, service, teams):
    stem = unique("Ls")
    mine, deputised, others, team_a, intake = (
        person_named(api, stem, n) for n in ("Mine", "Dep", "Other", "TeamA", "Intake")
    )
    holder_id, holder_sub = staff_member(db, teams[0]["id"])
    colleague_id, _ = staff_member(db, teams[0]["id"])
    allocate(db, open_episode(db, mine["id"], teams[0]["id"]), holder_id)
    allocate(db, open_episode(db, deputised["id"], teams[0]["id"]), colleague_id, holder_id)
    allocate(db, open_episode(db, others["id"], teams[0]["id"]), colleague_id)
    open_episode(db, team_a["id"], teams[0]["id"])
    _, manager_a = staff_member(db, teams[0]["id"], professional_role="manager")
    _, manager_b = staff_member(db, teams[1]["id"], professional_role="manager")

    with session(service, holder_sub, "coordinator") as s:
        assert listed(s, name=stem) == {mine["id"], deputised["id"]}
        # break-glass never widens a list
        r = s.get("/service-users", params={"name": stem}, headers={"X-Break-Glass-Reason": REASON})
        assert {i["id"] for i in r.json()["items"]} == {mine["id"], deputised["id"]}
    with session(service, manager_a, "manager") as s:
        assert listed(s, name=stem) == {mine["id"], deputised["id"], others["id"], team_a["id"], intake["id"]}
    with session(service, manager_b, "manager") as s:
        assert listed(s, name=stem) == {intake["id"]}
    with session(service, unique("nobody-"), "coordinator") as s:
        assert listed(s, name=stem) == set()


def test_a_caseload_list_leaves_out_ended_allocations_closed_episodes_and_inactive_staff(
        api, db, service, teams):
    """A co-ordinator's lists start from their caseload (auth/policy.h POLICY_CASELOAD_SQL):
    it must be exactly the current allocations of open episodes they hold or deputise, and the
    same caller with the manager role as well sees through the manager's eyes."""
    stem = unique("Cl")
    current, ended, closed, deputy_of = (
        person_named(api, stem, n) for n in ("Current", "Ended", "Closed", "Deputy"))
    holder_id, holder_sub = staff_member(db, teams[0]["id"])
    colleague_id, _ = staff_member(db, teams[0]["id"])
    allocate(db, open_episode(db, current["id"], teams[0]["id"]), holder_id)
    gone = allocate(db, open_episode(db, ended["id"], teams[0]["id"]), holder_id)
    db.execute("UPDATE allocations SET ended_at = now(), end_reason = 'Moved on.' WHERE id = %s", (gone,))
    closed_episode = open_episode(db, closed["id"], teams[0]["id"])
    allocate(db, closed_episode, holder_id)
    db.execute("UPDATE episodes SET status = 'closed', closed_at = now() WHERE id = %s", (closed_episode,))
    allocate(db, open_episode(db, deputy_of["id"], teams[1]["id"]), colleague_id, holder_id)
    referral_ids = {}
    for p in (current, ended, deputy_of):
        r = api.post("/referrals", json={"service_user_id": p["id"], "source_type": "gp",
                                         "reason": "Relapse signs.", "urgency": "routine"})
        assert r.status_code == 201, r.text
        referral_ids[p["id"]] = r.json()["id"]

    with session(service, holder_sub, "coordinator") as s:
        assert listed(s, name=stem) == {current["id"], deputy_of["id"]}
        r = s.get("/referrals", params={"limit": 200})
        assert r.status_code == 200, r.text
        shown = {i["id"] for i in r.json()["items"]}
        assert referral_ids[current["id"]] in shown and referral_ids[deputy_of["id"]] in shown
        assert referral_ids[ended["id"]] not in shown
        made = s.post("/referrals", json={"service_user_id": ended["id"], "source_type": "gp",
                                          "reason": "Seen in clinic.", "urgency": "routine"})
        assert made.status_code == 201, made.text
        r = s.get("/referrals", params={"limit": 200, "service_user_id": ended["id"]})
        assert [i["id"] for i in r.json()["items"]] == [made.json()["id"]]  # the referrer
    with service.api(token=mint_token(service.env, sub=holder_sub,
                                      roles=("coordinator", "manager"))) as s:
        # a manager of team A also sees the team's people and those in intake (the closed one)
        assert listed(s, name=stem) == {current["id"], ended["id"], closed["id"], deputy_of["id"]}
    db.execute("UPDATE staff SET active = false WHERE id = %s", (holder_id,))
    with session(service, holder_sub, "coordinator") as s:
        assert listed(s, name=stem) == set()
        r = s.get("/referrals", params={"limit": 200})
        assert r.status_code == 200
        assert not {i["id"] for i in r.json()["items"]} & set(referral_ids.values())


def person_named(api, stem, suffix):
    return create(api, "/service-users", service_user_payload(family_name=stem + suffix))
