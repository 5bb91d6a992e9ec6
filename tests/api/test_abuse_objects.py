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
world does not hold fails `test_every_route_with_an_id_is_covered` until the record is added to
build_world() (tests/support/abuse.py) or, when no person's record is behind it, to EXEMPT with
the reason."""

import re

import pytest

from abuse import (PUBLIC_ROUTES, fill, ids_for, operation, placeholders, route_table,
                   valid_request, x_roles)
from abuse import spec, world  # noqa: F401 (module fixtures; the routes here are only those with ids)
from carecoord import assert_problem, assert_security_headers, etag_of, unique

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

@pytest.fixture(scope="module")
def routes(test_env):
    return [r for r in route_table(test_env) if r not in PUBLIC_ROUTES and placeholders(r[1])]


def test_every_route_with_an_id_is_covered(routes, world):
    """Every route with an id is either called below or exempt, with a reason, as holding no
    person's record; the exemptions are all still routes."""
    missing = [f"{m} {p}" for m, p in routes
               if (m, p) not in EXEMPT and ids_for(m, p, world) is None]
    assert not missing, ("routes with an id that the object-level authorisation test does not "
                         "reach (add the record to build_world() in tests/support/abuse.py or, if no person's record is behind "
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
            kw = valid_request(method, path, w, ids)
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
        r = world.holder.api.get(fill(path, ids), **{k: v for k, v in valid_request(method, path, world, ids).items()
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
        kw = valid_request(method, path, w, ids)
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


def test_a_manager_of_another_team_gets_no_report_of_the_team_for_any_measure(world, db):
    """Reports name no record, but a manager's are scoped to their own team: asking for another
    team's is refused and audited, for every measure GET /reports lists."""
    w, outsider = world, world.callers["manager"]
    measures = [m["measure"] for m in w.manager.api.get("/reports").json()["measures"]]
    assert measures
    for measure in measures:
        rid = unique("abuse-")
        r = outsider.api.get(f"/reports/{measure}", params={"team_id": w.team},
                             headers={"X-Request-Id": rid})
        assert_problem(r, 403, "forbidden")
        rows = deny_event(db, rid)
        assert [(e["actor"], e["action"], e["resource_id"]) for e in rows] == \
            [(outsider.sub, "deny", measure)], rows
        # their own team's is theirs to see
        assert outsider.api.get(f"/reports/{measure}").status_code == 200
