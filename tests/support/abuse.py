"""Shared by the abuse tests (tests/api/test_abuse_*.py, OWASP API Security Top 10 2023): the
route table as the binary prints it, the OpenAPI document, checks that an error body gives
nothing away, and a person's record with one of everything a route can name by id.

The tests that walk every route read `carecoord routes`, never a list of their own, so a route
added to service/http/routes.c is covered (or makes a test fail) without editing them.

Its module fixtures (service, world, spec, routes) are imported by the test modules that use
them; pytest finds a fixture by the name it is defined under, wherever it was imported from."""

import datetime
import os
import re
import uuid
from types import SimpleNamespace

import pytest
import yaml

from care_setup import allocation_body, london_date, open_episode
from carecoord import (create, etag_of, full_service_user_payload, nhs_number, run_binary,
                       service_user_payload, team_payload, unique)

PUBLIC_ROUTES = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/docs"),
                 ("GET", "/docs/openapi.yaml"), ("GET", "/docs/redoc.standalone.js")}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Placeholders that are names or numbers rather than ids: a value that exists.
FIXED = {"number": "1", "measure": "cpa-review-compliance", "table": "referrals"}

# Text that must never reach a client in an error body: SQL and PostgreSQL's own messages, source
# and file-system paths, and the marks of a crash or stack trace.
LEAK_PATTERNS = [
    (re.compile(p, flags), what) for p, flags, what in (
        (r"\bSELECT\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b|\bWHERE\b", 0, "SQL text"),
        (r"\bERROR:\s|\bDETAIL:\s|\bHINT:\s|\bSQLSTATE\b|\bCONTEXT:\s", 0, "a PostgreSQL message"),
        (r"\bviolates\b|\bconstraint\b|\brelation \"|\bsyntax error\b|invalid input syntax"
         r"|\bduplicate key\b|\bdeadlock\b|\bcanceling statement\b", re.I, "a PostgreSQL error"),
        (r"\blibpq\b|\bpsql\b|\bpostgres(ql)?\b|\bPQ[a-z]", re.I, "the database client"),
        (r"/work/|/usr/|/home/|/tmp/|/src/|\bservice/[a-z_/]+\.[ch]\b|\.[ch]:\d+", 0, "a file path"),
        (r"Traceback|stack trace|backtrace|Segmentation|AddressSanitizer|runtime error:|"
         r"\bassert(ion)? failed", re.I, "a crash report"),
        (r"\bjansson\b|\bulfius\b|microhttpd|\bjwt_|\bopenssl\b", re.I, "a library's name"),
        (r"\bJSON_[A-Z_]+\b|\bMHD_[A-Z_]+\b|\bU_[A-Z_]+\b", 0, "a library's constant"),
    )
]


def leaks(text):
    """What an error body gives away ([] when nothing)."""
    return [f"{what} ({m.group(0)!r})" for pattern, what in LEAK_PATTERNS
            for m in [pattern.search(text or "")] if m]


def route_table(env):
    """[(METHOD, path template)] in the order `carecoord routes` prints them."""
    done = run_binary(env, ["routes"], timeout=30)
    assert done.returncode == 0, done.stderr
    routes = []
    for line in done.stdout.splitlines():
        method, _, path = line.partition(" ")
        assert method.isupper() and path.startswith("/"), f"bad routes line {line!r}"
        routes.append((method, path))
    assert len(routes) > 20, f"`carecoord routes` printed only {routes}"
    return routes


def placeholders(path):
    return PLACEHOLDER.findall(path)


def fill(path, ids=None):
    """path with each {name} replaced by ids[name], else a random UUID (FIXED for the
    placeholders that are names or numbers)."""
    ids = ids or {}

    def value(m):
        name = m.group(1)
        if name in ids:
            return str(ids[name])
        return FIXED.get(name, str(uuid.uuid4()))

    return PLACEHOLDER.sub(value, path)


_spec = {}


def load_spec(repo):
    if repo not in _spec:
        with open(os.path.join(repo, "api", "openapi.yaml"), encoding="utf-8") as f:
            _spec[repo] = yaml.safe_load(f)
    return _spec[repo]


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operation(spec, method, path):
    return spec["paths"][path][method.lower()]


def x_roles(spec, method, path):
    return set(operation(spec, method, path).get("x-roles") or ())


def query_parameters(spec, method, path):
    """{name: parameter object} of an operation's query parameters."""
    out = {}
    item = spec["paths"][path]
    for p in item.get("parameters", []) + operation(spec, method, path).get("parameters", []):
        p = resolve(spec, p)
        if p.get("in") == "query":
            out[p["name"]] = p
    return out


# == a person's record with one of everything ===================================================

# What each {id} stands for, by the path's first segment; other placeholders are named.
ID_OF = {"service-users": "person", "episodes": "episode", "referrals": "referral",
         "teams": "team", "staff": "staff", "partners": "share"}

REASON = "Not happy with the current arrangement."


def today():
    """Today in London, as the service's date rules count it."""
    return london_date(datetime.datetime.now(datetime.timezone.utc)).isoformat()


def _ok(r, status=201):
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:400]}"
    return r.json()


_dev_keys = {}


def dev_token(env, sub, roles, org=None, ttl=7200):
    """A token as `carecoord token` mints it (the dev key the test services trust), signed here:
    starting the sanitizer build for each one would cost most of a second."""
    import jwt as pyjwt
    from cryptography.hazmat.primitives import serialization

    if env.private_key_file not in _dev_keys:
        with open(env.private_key_file, "rb") as f:
            _dev_keys[env.private_key_file] = serialization.load_pem_private_key(f.read(), None)
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    claims = {"iss": "carecoord-dev", "aud": "carecoord", "sub": sub, "iat": now,
              "exp": now + ttl, "roles": list(roles)}
    if org is not None:
        claims["org"] = org
    token = pyjwt.encode(claims, _dev_keys[env.private_key_file], algorithm="RS256")
    return token.decode("ascii") if isinstance(token, bytes) else token


def member(service, db, team_id, role, professional_role="nurse"):
    """A staff row of the team and an API session with a token of the role for its subject."""
    sub = unique("staff-")
    staff_id = str(db.scalar(
        "INSERT INTO staff (subject, name, professional_role, team_id, gender)"
        " VALUES (%s, %s, %s, %s, 'female') RETURNING id",
        (sub, unique("Staff "), professional_role, team_id)))
    return SimpleNamespace(id=staff_id, sub=sub,
                           api=service.api(token=dev_token(service.env, sub, (role,))))


def build_world(service, api, db, database):
    """One person's record, with one of everything a route can name by id, held by team A (its
    manager, and a co-ordinator holding the allocation); a co-ordinator and a manager of team B
    with no relationship; a partner organisation the share is addressed to and another."""
    team_a, team_b, team_c = (create(api, "/teams", team_payload()) for _ in range(3))
    manager_a = member(service, db, team_a["id"], "manager", professional_role="manager")
    holder = member(service, db, team_a["id"], "coordinator")
    receiving = member(service, db, team_c["id"], "coordinator")
    outsider = member(service, db, team_b["id"], "coordinator")
    outsider_manager = member(service, db, team_b["id"], "manager", professional_role="manager")
    org, other_org = unique("asc-"), unique("asc-")
    for code in (org, other_org):
        db.execute("INSERT INTO partner_organisations (code, name, kind)"
                   " VALUES (%s, %s, 'adult_social_care')", (code, f"Partner {code}"))
    partner, other_partner = (service.api(token=dev_token(service.env, unique("partner-system-"),
                                                          ("partner",), org=code))
                              for code in (org, other_org))

    person = create(api, "/service-users", full_service_user_payload())
    episode = open_episode(db, person["id"], team_a["id"])
    ep = f"/episodes/{episode}"
    h = holder.api
    allocation = _ok(manager_a.api.post(f"{ep}/allocations", json=allocation_body(holder.id)))
    change_request = _ok(h.post(f"{ep}/allocation-change-requests", json={"reason": REASON}))
    assessment = _ok(h.post(f"{ep}/assessments", json={"type": "holistic", "summary": "Low mood."}))
    plan = _ok(h.post(f"{ep}/care-plans", json={
        "needs": [{"domain": "housing", "description": "Rent arrears"}],
        "crisis_plan": {"early_warning_signs": "Sleeping less",
                        "what_person_should_do": "Call the crisis line",
                        "what_others_should_do": "Call the crisis team",
                        "contacts_24_7": [{"name": "Crisis team", "number": "0113 496 0000"}]},
        "contingency_plan": {"contact_name": "Duty worker", "contact_phone": "0113 496 0001"}}))
    plan = _ok(h.post(f"{ep}/care-plans/{plan['id']}/activate",
                     headers={"If-Match": etag_of(plan["version"])}), 200)
    _ok(h.post(f"{ep}/care-plans/{plan['id']}/distributions",
              json={"recipient_type": "person", "method": "hand", "sent_on": today()}))
    review = _ok(h.post(f"{ep}/reviews", json={"type": "scheduled"}))
    carer = _ok(h.post(f"/service-users/{person['id']}/carers", json={
        "name": "Samira Begum", "relationship": "sister", "contact": {"phone": "07700 900123"},
        "under_18": False, "lives_with_person": False}))
    transfer = _ok(h.post(f"{ep}/transfers", json={
        "type": "internal_team", "reason": "Moved to the north of the city",
        "receiving_team_id": team_c["id"], "receiving_staff_id": receiving.id}))
    share = _ok(h.post(f"{ep}/partner-shares", json={
        "org": org, "kind": "care_act_assessment_referral",
        "lawful_basis": {"basis": "consent", "consent_given_on": today()},
        "data_set": ["person", "needs_summary"], "needs_summary": "Struggling with personal care"}))
    referral = _ok(api.post("/referrals", json={
        "service_user_id": person["id"], "source_type": "gp", "referrer_name": "Dr Shaw",
        "reason": "Low mood for three months.", "urgency": "routine"}))
    referral = _ok(api.post(f"/referrals/{referral['id']}/triage",
                           json={"urgency": "routine", "responding_team_id": team_a["id"]}), 200)
    partner_referral = _ok(partner.post("/referrals", json={
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
             "review_id": review["id"], "transfer_id": transfer["id"], "share_id": share["id"],
             "staff": holder.id, **FIXED},
        versions={"person": person["version"], "carer_id": carer["version"],
                  "allocation_id": allocation["version"], "assessment_id": assessment["version"],
                  "care_plan_id": plan["version"], "review_id": review["version"],
                  "transfer_id": transfer["version"], "share_id": share["version"],
                  "share": share["version"], "referral": referral["version"],
                  "request_id": change_request["version"], "team": team_a["version"],
                  "staff": 1},
        callers={"coordinator": outsider, "manager": outsider_manager}, holder=holder,
        manager=manager_a,
        partner=partner, other_partner=other_partner, org=org,
        staff_ids={"holder": holder.id, "outsider": outsider.id},
        secrets=[person["family_name"], person["nhs_number"], person["address"]["postcode"],
                 "Samira Begum", "Struggling with personal care", "Low mood"],
    )
    made.reporting = service.api(token=dev_token(service.env, unique("reporting-"), ("reporting",)))
    made.sessions = [m.api for m in (manager_a, holder, receiving, outsider, outsider_manager)] + \
        [partner, other_partner, made.reporting]
    return made


def close_world(w):
    for session in w.sessions:
        session.close()


def authorised(w, roles):
    """A session of someone the route's roles (x-roles) and the record's relationships let in."""
    for role, session in (("coordinator", w.holder.api), ("manager", w.manager.api),
                          ("partner", w.partner), ("reporting", w.reporting)):
        if role in roles:
            return session
    raise AssertionError(f"no caller in the world has one of the roles {roles}")


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


def valid_request(method, path, w, ids):
    """Headers and a body that the route would accept from someone with the relationship, so that
    a refusal comes from who asks, not from what is sent. A new write route needs its body here."""
    headers = {"X-Request-Id": unique("abuse-")}
    last = (placeholders(path) or [None])[-1]
    key = ID_OF.get(path.split("/")[1]) if last == "id" else last
    if method in ("PATCH", "PUT", "POST") and key in w.versions:
        headers["If-Match"] = etag_of(w.versions[key])
    bodies = {
        "/teams": team_payload(),
        "/teams/{id}": {"name": unique("Team ")},
        "/staff": {"subject": unique("sub-"), "name": unique("Staff "), "professional_role": "nurse",
                   "team_id": w.team, "gender": "female"},
        "/staff/{id}": {"name": unique("Staff ")},
        "/service-users": service_user_payload(),
        "/referrals": {"service_user_id": w.person["id"], "source_type": "gp",
                       "reason": "Low mood for three months.", "urgency": "routine"},
        "/partners/me/webhook": {"url": "https://partner.example/carecoord-hook"},
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


# -- module fixtures of the abuse tests --------------------------------------------------------


@pytest.fixture(scope="module")
def service(service_factory, test_env):
    """The module's service, with extracts configured (they need a pseudonymisation key)."""
    return service_factory.start(env={"CARECOORD_PSEUDONYM_KEY_FILE":
                                      os.path.join(test_env.keys_dir, "pseudonym.key")})


@pytest.fixture(scope="module")
def world(service, api, db, database):
    made = build_world(service, api, db, database)
    yield made
    close_world(made)


@pytest.fixture(scope="module")
def spec(test_env):
    return load_spec(test_env.repo)


@pytest.fixture(scope="module")
def routes(test_env):
    return route_table(test_env)
