"""Object-level authorisation across the whole route table (OWASP API1:2023, issue 11 item 7).

One person's record is built with one of everything a route can name by id (episode,
allocation, change request, assessment, care plan and its distribution, review, carer,
transfer, partner share, referral). Then every route of `carecoord routes` with an id in its
path is called with those ids by callers who hold the role but not the relationship:

  * a co-ordinator and a manager of another team (no allocation, their team holds nothing), on
    every route their role reaches;
  * another partner organisation, on the partner routes and on a partner's referral.

Each call must be refused, 403 (or 404 where the API hides that the record exists: another
organisation's share or referral), commit a `deny` audit event naming the person (or the team),
give nothing of the record away and change nothing. Ids are found by placeholder name, so a new
route under an existing resource is covered without editing this file; a route with an id this
world does not hold fails `test_every_route_with_an_id_is_covered` until it is added to WORLD's
ids or, when no person's record is behind it, to EXEMPT with the reason."""

import datetime
import re
import uuid
from types import SimpleNamespace

import pytest

from abuse import fill, load_spec, operation, placeholders, route_table, x_roles, PUBLIC_ROUTES
from care_setup import Staff, allocation_body, open_episode, partner_api, register_partner
from carecoord import (assert_problem, assert_security_headers, create, etag_of,
                       full_service_user_payload, nhs_number, team_payload, unique)

# Routes with an id that are not about one person's record, and why the relationship does not
# apply to them. Nothing else may be left out.
EXEMPT = {
    # The team and staff directories are open to every clinical role (who works where).
    ("GET", "/teams/{id}"): "team directory: no person's record",
    ("PATCH", "/teams/{id}"): "team directory: no person's record; managers maintain it",
    ("GET", "/staff/{id}"): "staff directory: no person's record",
    ("PATCH", "/staff/{id}"): "staff directory: no person's record; managers maintain it",
    # Who read a record is audit data, which managers review for every person (as with
    # GET /audit-events?service_user_id=...); it holds nothing of the record itself.
    ("GET", "/service-users/{id}/access-log"): "audit review by managers, for every person",
    # Aggregates and pseudonymised extracts: {measure} and {table} name no record.
    ("GET", "/reports/{measure}"): "aggregate report: {measure} names no record",
    ("GET", "/extracts/{table}"): "pseudonymised extract: {table} names no record",
}

# What each {id} stands for, by the path's first segment; other placeholders are named.
ID_OF = {"service-users": "person", "episodes": "episode", "referrals": "referral",
         "teams": "team", "partners": "share"}

REASON = "Not happy with the current arrangement."


def today():
    return datetime.date.today().isoformat()


def ok(r, status=201):
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:400]}"
    return r.json()


@pytest.fixture(scope="module")
def world(service, api, db, database):
    """One person's record, with one of everything, held by team A; callers of team B."""
    team_a, team_b, team_c = (create(api, "/teams", team_payload()) for _ in range(3))
    manager_a = Staff(service, db, team_a["id"], "manager", professional_role="manager")
    holder = Staff(service, db, team_a["id"], "coordinator")
    receiving = Staff(service, db, team_c["id"], "coordinator")
    outsider = Staff(service, db, team_b["id"], "coordinator")
    outsider_manager = Staff(service, db, team_b["id"], "manager", professional_role="manager")
    org, other_org = unique("asc-"), unique("asc-")
    for code in (org, other_org):
        assert register_partner(service, database, code).returncode == 0
    partner, other_partner = partner_api(service, org), partner_api(service, other_org)

    person = create(api, "/service-users", full_service_user_payload())
    episode = open_episode(db, person["id"], team_a["id"])
    ep = f"/episodes/{episode}"
    h = holder.api
    allocation = ok(manager_a.api.post(f"{ep}/allocations", json=allocation_body(holder.id)))
    change_request = ok(h.post(f"{ep}/allocation-change-requests", json={"reason": REASON}))
    assessment = ok(h.post(f"{ep}/assessments", json={"type": "holistic", "summary": "Low mood."}))
    plan = ok(h.post(f"{ep}/care-plans", json={
        "needs": [{"domain": "housing", "description": "Rent arrears"}],
        "crisis_plan": {"early_warning_signs": "Sleeping less",
                        "what_person_should_do": "Call the crisis line",
                        "what_others_should_do": "Call the crisis team",
                        "contacts_24_7": [{"name": "Crisis team", "number": "0113 496 0000"}]},
        "contingency_plan": {"contact_name": "Duty worker", "contact_phone": "0113 496 0001"}}))
    plan = ok(h.post(f"{ep}/care-plans/{plan['id']}/activate",
                     headers={"If-Match": etag_of(plan["version"])}), 200)
    ok(h.post(f"{ep}/care-plans/{plan['id']}/distributions",
              json={"recipient_type": "person", "method": "hand", "sent_on": today()}))
    review = ok(h.post(f"{ep}/reviews", json={"type": "scheduled"}))
    carer = ok(h.post(f"/service-users/{person['id']}/carers", json={
        "name": "Samira Begum", "relationship": "sister", "contact": {"phone": "07700 900123"},
        "under_18": False, "lives_with_person": False}))
    transfer = ok(h.post(f"{ep}/transfers", json={
        "type": "internal_team", "reason": "Moved to the north of the city",
        "receiving_team_id": team_c["id"], "receiving_staff_id": receiving.id}))
    share = ok(h.post(f"{ep}/partner-shares", json={
        "org": org, "kind": "care_act_assessment_referral",
        "lawful_basis": {"basis": "consent", "consent_given_on": today()},
        "data_set": ["person", "needs_summary"], "needs_summary": "Struggling with personal care"}))
    referral = ok(api.post("/referrals", json={
        "service_user_id": person["id"], "source_type": "gp", "referrer_name": "Dr Shaw",
        "reason": "Low mood for three months.", "urgency": "routine"}))
    referral = ok(api.post(f"/referrals/{referral['id']}/triage",
                           json={"urgency": "routine", "responding_team_id": team_a["id"]}), 200)
    partner_referral = ok(partner.post("/referrals", json={
        "source_type": "adult_social_care", "reason": "Struggling at home.", "urgency": "routine",
        "service_user": {"nhs_number": nhs_number(), "given_name": "Sam",
                         "family_name": unique("Ref"), "date_of_birth": "1990-02-03"}}))

    made = SimpleNamespace(
        person=person, episode=episode, team=team_a["id"], referral=referral,
        partner_referral=partner_referral, share=share, transfer=transfer, plan=plan,
        ids={"person": person["id"], "episode": episode, "referral": referral["id"],
             "team": team_a["id"], "share": share["id"], "carer_id": carer["id"],
             "allocation_id": allocation["id"], "request_id": change_request["id"],
             "assessment_id": assessment["id"], "care_plan_id": plan["id"], "number": 1,
             "review_id": review["id"], "transfer_id": transfer["id"], "share_id": share["id"]},
        versions={"person": person["version"], "carer_id": carer["version"],
                  "allocation_id": allocation["version"], "assessment_id": assessment["version"],
                  "care_plan_id": plan["version"], "review_id": review["version"],
                  "transfer_id": transfer["version"], "share_id": share["version"],
                  "share": share["version"], "referral": referral["version"],
                  "request_id": change_request["version"]},
        callers={"coordinator": outsider, "manager": outsider_manager}, holder=holder,
        partner=partner, other_partner=other_partner, org=org,
        staff_ids={"holder": holder.id, "outsider": outsider.id},
        secrets=[person["family_name"], person["nhs_number"], person["address"]["postcode"],
                 "Samira Begum", "Struggling with personal care", "Low mood"],
    )
    yield made
    for s in (manager_a, holder, receiving, outsider, outsider_manager):
        s.close()
    partner.close()
    other_partner.close()


def ids_for(method, path, w, referral=None):
    """{placeholder: id} for a route, or None when the world holds no record for one of them."""
    out = {}
    for name in placeholders(path):
        key = ID_OF.get(path.split("/")[1]) if name == "id" else name
        if key not in w.ids:
            return None
        out[name] = w.ids[key]
    if referral is not None and "id" in out and path.startswith("/referrals/"):
        out["id"] = referral["id"]
    return out


def request_of(method, path, w, ids):
    """Headers and a body that the route would accept from someone with the relationship: the
    refusal must come from the relationship, not from the request."""
    headers = {"X-Request-Id": unique("abuse-")}
    last = placeholders(path)[-1]
    key = ID_OF.get(path.split("/")[1]) if last == "id" else last
    if method in ("PATCH", "PUT", "POST") and key in w.versions:
        headers["If-Match"] = etag_of(w.versions[key])
    bodies = {
        "/service-users/{id}": {"preferred_language": "Welsh"},
        "/service-users/{id}/carers": {"name": "Ann Other", "relationship": "friend",
                                       "contact": {"phone": "07700 900999"}, "under_18": False,
                                       "lives_with_person": False},
        "/service-users/{id}/carers/{carer_id}": {"relationship": "cousin"},
        "/referrals/{id}/triage": {"urgency": "urgent", "responding_team_id": w.team},
        "/referrals/{id}/decision": {"decision": "withdraw"},
        "/episodes/{id}/allocations": allocation_body(w.staff_ids["outsider"]),
        "/episodes/{id}/allocations/{allocation_id}": {"deputy_staff_id": w.staff_ids["outsider"]},
        "/episodes/{id}/allocation-change-requests": {"reason": REASON},
        "/episodes/{id}/allocation-change-requests/{request_id}/decision":
            {"decision": "declined", "decision_reason": "Not now."},
        "/episodes/{id}/assessments": {"type": "holistic"},
        "/episodes/{id}/assessments/{assessment_id}": {"summary": "Changed."},
        "/episodes/{id}/reviews": {"type": "scheduled"},
        "/episodes/{id}/reviews/{review_id}": {"due_on": today()},
        "/episodes/{id}/reviews/{review_id}/outcome": {
            "held_on": today(), "attendees": [{"name": "Jo Example", "role": None}],
            "chaired_by": {"kind": "person", "name": "Jo Example"}, "summary": "Going well.",
            "outcome": "continue"},
        "/episodes/{id}/transfers": {"type": "internal_team", "reason": "Moving",
                                     "receiving_team_id": w.team},
        "/episodes/{id}/transfers/{transfer_id}": {"placement_ended_on": today()},
        "/episodes/{id}/transfers/{transfer_id}/decision": {"decision": "accepted"},
        "/episodes/{id}/transfers/{transfer_id}/cancel": {"reason": "Plans changed"},
        "/episodes/{id}/transfers/{transfer_id}/contacts": {"kind": "follow_up",
                                                            "contact_on": today(),
                                                            "face_to_face": True,
                                                            "by_name": "Duty worker"},
        "/episodes/{id}/care-plans": {"persons_views": "Fine."},
        "/episodes/{id}/care-plans/{care_plan_id}": {"persons_views": "Changed."},
        "/episodes/{id}/care-plans/{care_plan_id}/agreement": {"agreed": True, "agreed_on": today(),
                                                               "how": "verbal"},
        "/episodes/{id}/care-plans/{care_plan_id}/distributions": {
            "recipient_type": "person", "method": "hand", "sent_on": today()},
        "/episodes/{id}/partner-shares": {
            "org": w.org, "kind": "care_act_assessment_referral",
            "lawful_basis": {"basis": "consent", "consent_given_on": today()},
            "data_set": ["person", "needs_summary"], "needs_summary": "Needs help"},
        "/episodes/{id}/partner-shares/{share_id}/withdraw": {"reason": "Shared by mistake."},
        "/partners/me/shares/{id}/decision": {"decision": "accepted"},
    }
    kw = {"headers": headers}
    if path in bodies and method != "GET":
        kw["json"] = bodies[path]
    elif method in ("POST", "PATCH", "PUT") and path.endswith(("/decision", "/outcome")):
        kw["json"] = {}
    if path.endswith("/diff"):
        kw["params"] = {"from": 1, "to": 1}
    return kw


@pytest.fixture(scope="module")
def routes(test_env):
    return [r for r in route_table(test_env) if r not in PUBLIC_ROUTES and placeholders(r[1])]


@pytest.fixture(scope="module")
def spec(test_env):
    return load_spec(test_env.repo)


def test_every_route_with_an_id_is_covered(routes, world):
    """Every route with an id is either called below or exempt, with a reason, as holding no
    person's record; the exemptions are all still routes."""
    missing = [f"{m} {p}" for m, p in routes
               if (m, p) not in EXEMPT and ids_for(m, p, world) is None]
    assert not missing, ("routes with an id that the object-level authorisation test does not "
                         "reach (add the record to world() or, if no person's record is behind "
                         "it, to EXEMPT with the reason):\n  " + "\n  ".join(missing))
    stale = sorted(set(EXEMPT) - set(routes))
    assert not stale, f"EXEMPT names routes that no longer exist: {stale}"


def snapshot(db, w):
    """Everything a refused call might have changed: row counts and versions of the record."""
    return db.rows(
        "SELECT (SELECT count(*) FROM allocations) AS allocations,"
        " (SELECT count(*) FROM allocation_change_requests) AS change_requests,"
        " (SELECT count(*) FROM assessments) AS assessments,"
        " (SELECT count(*) FROM care_plans) AS care_plans,"
        " (SELECT count(*) FROM care_plan_distributions) AS distributions,"
        " (SELECT count(*) FROM reviews) AS reviews,"
        " (SELECT count(*) FROM carers) AS carers,"
        " (SELECT count(*) FROM transfers) AS transfers,"
        " (SELECT count(*) FROM transfer_contacts) AS contacts,"
        " (SELECT count(*) FROM partner_shares) AS shares,"
        " (SELECT count(*) FROM referrals) AS referrals,"
        " (SELECT count(*) FROM episodes) AS episodes,"
        " (SELECT version FROM service_users WHERE id = %s) AS person_version,"
        " (SELECT status FROM referrals WHERE id = %s) AS referral_status,"
        " (SELECT status FROM referrals WHERE id = %s) AS partner_referral_status,"
        " (SELECT status FROM partner_shares WHERE id = %s) AS share_status,"
        " (SELECT status FROM transfers WHERE id = %s) AS transfer_status,"
        " (SELECT sum(version) FROM care_plans WHERE episode_id = %s) AS plan_versions,"
        " (SELECT sum(version) FROM assessments WHERE episode_id = %s) AS assessment_versions,"
        " (SELECT sum(version) FROM reviews WHERE episode_id = %s) AS review_versions,"
        " (SELECT sum(version) FROM allocations WHERE episode_id = %s) AS allocation_versions",
        (w.person["id"], w.referral["id"], w.partner_referral["id"], w.share["id"],
         w.transfer["id"], w.episode, w.episode, w.episode, w.episode))[0]


def assert_refused(r, status, w, what):
    assert_problem(r, status, "forbidden" if status == 403 else "not-found")
    assert_security_headers(r)
    for secret in w.secrets:
        assert secret not in r.text, f"{what}: the refusal shows {secret!r}: {r.text}"


def deny_event(db, request_id):
    rows = db.rows("SELECT actor, action, outcome, resource_type, resource_id, service_user_id"
                   " FROM audit_events WHERE request_id = %s", (request_id,))
    return rows


def test_callers_without_the_relationship_are_refused_on_every_route_with_an_id(
        routes, spec, world, db):
    w = world
    before = snapshot(db, w)
    failures, calls = [], 0
    for method, path in routes:
        if (method, path) in EXEMPT:
            continue
        ids = ids_for(method, path, w)
        allowed = x_roles(spec, method, path)
        for role, caller in w.callers.items():
            if role not in allowed:
                continue  # the role check refuses it (test_auth.py); not a question of objects
            kw = request_of(method, path, w, ids)
            concrete = fill(path, ids)
            r = caller.api.request(method, concrete, **kw)
            calls += 1
            what = f"{role} of another team → {method} {concrete}"
            try:
                assert_refused(r, 403, w, what)
                rows = deny_event(db, kw["headers"]["X-Request-Id"])
                assert [(e["actor"], e["action"], e["outcome"]) for e in rows] == \
                    [(caller.sub, "deny", "denied")], f"audit events {rows}"
                named = {str(rows[0]["service_user_id"]), str(rows[0]["resource_id"])}
                assert {w.person["id"], w.team} & named, f"the deny event names neither the " \
                    f"person nor the team: {rows[0]}"
            except AssertionError as exc:
                failures.append(f"{what}: {exc}")
    assert calls > 50, calls
    assert not failures, f"{len(failures)} of {calls} calls were not refused as they should:\n" \
        + "\n".join(failures)
    assert snapshot(db, w) == before, "a refused call changed the record"


def test_the_holder_reads_what_the_others_are_refused(routes, spec, world):
    """The control: the same reads with the same ids succeed for the care co-ordinator who holds
    the allocation, so the refusals above are about the relationship and nothing else."""
    failures = []
    for method, path in routes:
        if method != "GET" or (method, path) in EXEMPT or "coordinator" not in x_roles(spec, method, path):
            continue
        ids = ids_for(method, path, world)
        r = world.holder.api.get(fill(path, ids), **{k: v for k, v in request_of(method, path, world, ids).items()
                                                     if k == "params"})
        if r.status_code != 200:
            failures.append(f"GET {fill(path, ids)}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


def hides_existence(spec, method, path):
    """Whether the operation says that another organisation's record is 404 (hidden)."""
    text = " ".join((operation(spec, method, path).get("description") or "").split())
    return re.search(r"another organisation[^.]{0,60}\b404\b", text, re.I) is not None


def test_another_partner_organisation_gets_404_and_a_deny_event_on_every_partner_route(
        routes, spec, world, db):
    w = world
    before = snapshot(db, w)
    failures, calls = [], 0
    for method, path in routes:
        if (method, path) in EXEMPT or "partner" not in x_roles(spec, method, path):
            continue
        if not hides_existence(spec, method, path):
            failures.append(f"{method} {path}: api/openapi.yaml does not say that another "
                            "organisation's record is 404")
        # A share is addressed to one organisation; a partner's referral belongs to the one
        # that sent it.
        ids = ids_for(method, path, w, referral=w.partner_referral)
        kw = request_of(method, path, w, ids)
        kw["headers"].pop("If-Match", None)
        if path.startswith("/partners/me/shares/"):
            kw["headers"]["If-Match"] = etag_of(w.share["version"])
        concrete = fill(path, ids)
        r = w.other_partner.request(method, concrete, **kw)
        calls += 1
        what = f"another organisation → {method} {concrete}"
        try:
            assert_refused(r, 404, w, what)
            rows = deny_event(db, kw["headers"]["X-Request-Id"])
            assert [(e["action"], e["outcome"]) for e in rows] == [("deny", "denied")], rows
            assert str(rows[0]["resource_id"]) == ids["id"], rows[0]
        except AssertionError as exc:
            failures.append(f"{what}: {exc}")
    assert calls >= 5, calls
    assert not failures, "\n".join(failures)
    assert snapshot(db, w) == before, "a refused call changed the record"
    # and the organisation the share is addressed to does see it
    assert w.partner.get(f"/partners/me/shares/{w.share['id']}").status_code == 200
    assert w.partner.get(f"/referrals/{w.partner_referral['id']}").status_code == 200
