"""Property-level authorisation (OWASP API3:2023, issue 11 item 8).

Writes: a member the caller may not set is refused with a 422 naming it, never silently
ignored. The cases are generated from api/openapi.yaml for every operation with a JSON body:

  * every member of the operation's response that its request does not take (ids, versions,
    created_at/by, updated_at, status, the person and episode of a child record, server-worked
    figures...), and every request member marked readOnly;
  * for a PATCH, every member its create (POST on the collection) takes and the patch does not:
    what is fixed once made (NHS number, staff subject, an allocation's role and holder...).

Each is sent, with a correct value of its type, inside a body the route would otherwise accept,
by someone the route lets in (the world of tests/support/abuse.py). Action routes that take no
body refuse one. The care level follows the rules (R-ALC-2) and is never set directly.

Reads: the `reporting` and `partner` roles receive nothing outside their data set. Every
response body they get is checked member by member against its schema in api/openapi.yaml
(whose objects allow no other members), extracts name no person, and a share carries only the
items its data set lists."""

import json
import uuid

from abuse import authorised, fill, ids_for, operation, resolve, valid_request, x_roles
from abuse import routes, service, spec, world  # noqa: F401 (module fixtures)
from care_setup import assert_conforms
from carecoord import assert_problem, assert_validation, error_fields, etag_of, nhs_number, unique


def members(spec, schema):
    """{name: schema} of an object schema, through allOf/oneOf/anyOf."""
    schema = resolve(spec, schema)
    out = dict(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            out.update(members(spec, sub))
    return out


def json_schema(spec, holder):
    content = resolve(spec, holder).get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    return media and media.get("schema")


def request_members(spec, method, path):
    body = operation(spec, method, path).get("requestBody")
    return members(spec, json_schema(spec, body)) if body else None


def response_members(spec, method, path):
    out = {}
    for code, response in operation(spec, method, path)["responses"].items():
        if str(code).startswith("2"):
            schema = json_schema(spec, response)
            if schema:
                out.update(members(spec, schema))
    return out


def sample(spec, schema):
    """A correct value of the schema's type (the first branch of a oneOf)."""
    schema = resolve(spec, schema)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            return sample(spec, schema[key][0])
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type", "string")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    fmt = schema.get("format")
    return {"string": {"uuid": str(uuid.uuid4()), "date": "2020-01-01",
                       "date-time": "2020-01-01T00:00:00Z"}.get(fmt, "set by the caller"),
            "integer": 7, "number": 7, "boolean": True, "object": {}, "array": [],
            "null": None}[kind]


def forbidden_members(spec, routes, method, path):
    """{member: why} the caller may not send to this operation."""
    request = request_members(spec, method, path)
    out = {}
    for name, schema in request.items():
        if resolve(spec, schema).get("readOnly"):
            out[name] = "read-only"
    for name in response_members(spec, method, path):
        if name not in request:
            out.setdefault(name, "set by the service")
    if method == "PATCH":
        collection = path.rsplit("/", 1)[0]
        if ("POST", collection) in routes:
            for name in request_members(spec, "POST", collection) or {}:
                if name not in request:
                    out.setdefault(name, "fixed once created")
    return out


def body_routes(spec, routes):
    return [(m, p) for m, p in routes
            if m in ("POST", "PUT", "PATCH") and request_members(spec, m, p) is not None]


def test_members_the_caller_may_not_set_are_422_naming_them_on_every_write(spec, routes, world, db):
    failures, checked = [], 0
    for method, path in body_routes(spec, routes):
        ids = ids_for(method, path, world) or {}
        session = authorised(world, x_roles(spec, method, path))
        base = valid_request(method, path, world, ids)
        assert "json" in base, f"no valid body for {method} {path} in abuse.valid_request"
        for name, why in sorted(forbidden_members(spec, routes, method, path).items()):
            schema = response_members(spec, method, path).get(name) or \
                request_members(spec, method, path).get(name) or \
                request_members(spec, "POST", path.rsplit("/", 1)[0]).get(name)
            body = {**base["json"], name: sample(spec, schema)}
            headers = {**base["headers"], "X-Request-Id": unique("prop-")}
            r = session.request(method, fill(path, ids), json=body, headers=headers)
            checked += 1
            listed = error_fields(r.json()) if r.status_code == 422 else []
            if f"/{name}" not in listed:
                failures.append(f"{method} {path} with {name} ({why}): {r.status_code} "
                                f"{r.text[:250]}")
    assert checked > 300, checked
    assert not failures, f"{len(failures)} of {checked} members were not refused:\n" + \
        "\n".join(failures)


def test_the_nhs_number_cannot_be_changed_once_registered(world, db):
    w = world
    r = w.holder.api.patch(f"/service-users/{w.person['id']}", json={"nhs_number": nhs_number()},
                           headers={"If-Match": etag_of(w.person["version"])})
    assert_validation(r, "/nhs_number")
    assert db.scalar("SELECT nhs_number FROM service_users WHERE id = %s",
                     (w.person["id"],)) == w.person["nhs_number"]


def test_routes_that_take_no_body_refuse_one(spec, routes, world, db):
    """A body sent to an action that takes none (complete, activate, acknowledge...) could only
    be ignored: it is refused, and the action is not taken."""
    failures, checked = [], 0
    for method, path in routes:
        if method not in ("POST", "PUT", "PATCH", "DELETE") or request_members(spec, method, path) is not None:
            continue
        ids = ids_for(method, path, world) or {}
        session = authorised(world, x_roles(spec, method, path))
        kw = valid_request(method, path, world, ids)
        kw["json"] = {"status": "completed", "completed_at": "2020-01-01T00:00:00Z"}
        r = session.request(method, fill(path, ids), **kw)
        checked += 1
        try:
            assert_problem(r, 400, "bad-request")
        except AssertionError as exc:
            failures.append(f"{method} {path}: {exc}")
    assert checked >= 5, checked
    assert not failures, "\n".join(failures)
    assert db.scalar("SELECT status FROM transfers WHERE id = %s", (world.transfer["id"],)) == "proposed"
    assert db.scalar("SELECT status FROM partner_shares WHERE id = %s", (world.share["id"],)) == "sent"


def test_the_care_level_is_never_set_directly_and_roles_follow_it_R_ALC_2(spec, routes, world, db):
    """No write but a referral's acceptance takes a care level (it changes later only as the
    outcome of a completed assessment's CPA decision, a review or a step up or down), and an
    allocation's role must suit the episode's: a lead professional on a CPA episode is 422
    (R-ALC-2)."""
    takes = sorted(f"{m} {p}" for m, p in body_routes(spec, routes)
                   if any("care_level" in n for n in request_members(spec, m, p)))
    assert takes == ["POST /referrals/{id}/decision"], takes
    episode = world.episode
    r = world.manager.api.post(f"/episodes/{episode}/allocations",
                               json={"role": "lead_professional",
                                     "holder_staff_id": world.staff_ids["holder"],
                                     "preferences": {"coordinator_gender": "no_preference", "met": True}})
    problem = assert_validation(r, "/role")
    assert ("/role", "R-ALC-2") in {(e["field"], e.get("rule")) for e in problem["errors"]}
    assert db.scalar("SELECT care_level FROM episodes WHERE id = %s", (episode,)) == "cpa"


# -- reads by the reporting and partner roles -----------------------------------------------------

EXTRACT_SCHEMAS = {"referrals": "ExtractReferral",
                   "care-coordinator-assignments": "ExtractCareCoordinatorAssignment",
                   "care-plans": "ExtractCarePlan", "care-plan-agreements": "ExtractCarePlanAgreement",
                   "cpa-episodes": "ExtractCpaEpisode", "cpa-reviews": "ExtractCpaReview",
                   "discharge-follow-ups": "ExtractDischargeFollowUp"}


def test_the_reporting_role_gets_only_its_data_set(spec, test_env, world):
    repo, s = test_env.repo, world.reporting
    tables = operation(spec, "GET", "/extracts/{table}")
    enum = resolve(spec, next(p for p in spec["paths"]["/extracts/{table}"]["parameters"]
                              if resolve(spec, p).get("name") == "table"))["schema"]["enum"]
    assert sorted(enum) == sorted(EXTRACT_SCHEMAS), "a new extract needs its row schema here"
    assert tables is not None
    rows = 0
    for table, schema in EXTRACT_SCHEMAS.items():
        r = s.get(f"/extracts/{table}")
        assert r.status_code == 200, r.text
        for line in r.text.splitlines():
            row = json.loads(line)
            assert_conforms(repo, schema, row)
            rows += 1
        # no person is named: not their id, name, NHS number, postcode, nor free text
        for secret in world.secrets + [world.person["id"], world.person["date_of_birth"]]:
            assert secret not in r.text, f"{table} shows {secret!r}"
    assert rows >= 4, "the world should appear in several extracts"
    listing = s.get("/reports")
    assert listing.status_code == 200, listing.text
    assert_conforms(repo, "ReportList", listing.json())
    for entry in listing.json()["measures"]:
        r = s.get(f"/reports/{entry['measure']}")
        assert r.status_code == 200, r.text
        assert_conforms(repo, "Report", r.json())
        for secret in world.secrets + [world.person["id"]]:
            assert secret not in r.text


def test_the_partner_role_gets_only_its_data_set(test_env, world):
    repo, p, w = test_env.repo, world.partner, world

    def got(r, status=200):
        assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
        return r.json()

    assert_conforms(repo, "OwnPartnerOrganisation", got(p.get("/partners/me")))
    assert_conforms(repo, "PartnerEventPage", got(p.get("/partners/me/events")))
    assert_conforms(repo, "PartnerInboxPage", got(p.get("/partners/me/shares")))
    share = got(p.get(f"/partners/me/shares/{w.share['id']}"))
    assert_conforms(repo, "PartnerInboxShare", share)
    # the content holds the items of the data set, and nothing else
    assert set(share["content"]) <= set(share["data_set"]), (share["data_set"], list(share["content"]))
    for secret in ("Samira Begum", "Low mood", w.person["address"]["postcode"]):
        assert secret not in json.dumps(share), f"the share shows {secret!r}, outside its data set"
    assert_conforms(repo, "PartnerInboxShare",
                    got(p.post(f"/partners/me/shares/{w.share['id']}/acknowledgement")))
    for item in got(p.get("/referrals", params={"limit": 200}))["items"]:
        assert_conforms(repo, "PartnerReferral", item)
    assert_conforms(repo, "PartnerReferral", got(p.get(f"/referrals/{w.partner_referral['id']}")))
    made = got(p.post("/referrals", json={
        "source_type": "adult_social_care", "reason": "Struggling at home.", "urgency": "routine",
        "service_user": {"nhs_number": nhs_number(), "given_name": "Kim",
                         "family_name": unique("Ref"), "date_of_birth": "1985-04-05"}}), 201)
    assert_conforms(repo, "PartnerReferral", made)
    assert_conforms(repo, "PartnerReferral",
                    got(p.post(f"/referrals/{made['id']}/decision", json={"decision": "withdraw"})))
