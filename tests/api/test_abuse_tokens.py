"""Forged and stale tokens on every route (OWASP API2:2023, issue 11 item 10).

test_auth.py proves each kind of bad token against one or two routes; this module sends 22
kinds of forged or stale token to the routes `carecoord routes` lists (the public health,
readiness and metrics routes aside): eight of them to every route, the others to every route in
turn. Each claims every role and an organisation, with a body the route would accept, and must
be refused before anything else happens: 401
problem+json with `WWW-Authenticate: Bearer realm="carecoord", error="invalid_token"`, no row
written and no audit event at all (a refused token is logged, not audited). The control, the
same claims signed properly, is accepted."""

import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization

from abuse import PUBLIC_ROUTES, fill, route_table
from carecoord import (Api, SigningKey, assert_problem, assert_security_headers, b64url,
                       hs256_token, parse_challenge, service_user_payload, team_payload, unique,
                       unsigned_token)

ALL_ROLES = ["coordinator", "lead_professional", "manager", "partner", "reporting"]
LEEWAY_S = 60  # the service's default CARECOORD_JWT_LEEWAY_S
# Every table a request could write to (the audit trail included: a refused token is no event).
TABLES = ("teams", "staff", "service_users", "episodes", "referrals", "allocations",
          "allocation_change_requests", "assessments", "care_plans", "care_plan_distributions",
          "reviews", "carers", "transfers", "transfer_contacts", "partner_shares",
          "partner_webhooks", "partner_events", "idempotency_keys", "audit_events")


def base_claims(**overrides):
    t = int(time.time())
    body = {"iss": "carecoord-dev", "aud": "carecoord", "sub": unique("forger-"), "iat": t,
            "exp": t + 600, "roles": ALL_ROLES, "org": unique("ORG-")}
    for k, v in overrides.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


@pytest.fixture(scope="module")
def dev_key(test_env):
    """The private half of the key the service trusts (scripts/test made it)."""
    with open(test_env.private_key_file, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def sign(key, body, headers=None, alg="RS256"):
    token = pyjwt.encode(body, key, algorithm=alg, headers=headers)
    return token.decode("ascii") if isinstance(token, bytes) else token


def jwk_embedded(body):
    """Signed with a fresh key that the header carries as `jwk` (CVE-2018-0114 style)."""
    key = SigningKey("RSA")
    return key.sign(body, headers={"jwk": key.public_jwk()})


@pytest.fixture(scope="module")
def forged(test_env, dev_key):
    """{name: Authorization header value}: one of each way a token can be forged or stale."""
    t = int(time.time())
    with open(test_env.public_key_file, "rb") as f:
        public_pem = f.read()
    good = sign(dev_key, base_claims())
    header, payload, signature = good.split(".")
    escalated = b64url(json.dumps(base_claims(sub="someone-else"), separators=(",", ":")))
    return {
        "alg none": "Bearer " + unsigned_token(base_claims()),
        "alg none, signature kept": "Bearer " + unsigned_token(base_claims(), signature=signature),
        "signature stripped": f"Bearer {header}.{payload}.",
        "signature of another token": "Bearer " + ".".join(
            [header, payload, sign(dev_key, base_claims(roles=["reporting"])).split(".")[2]]),
        "payload tampered": f"Bearer {header}.{escalated}.{signature}",
        "HS256 keyed with the public key": "Bearer " + hs256_token(public_pem, base_claims()),
        "another RSA key": "Bearer " + SigningKey("RSA").sign(base_claims()),
        "ES256, another key": "Bearer " + SigningKey("EC").sign(base_claims()),
        "RS512 with the right key": "Bearer " + sign(dev_key, base_claims(), alg="RS512"),
        "another key, named by kid and jku": "Bearer " + SigningKey("RSA").sign(
            base_claims(), headers={"kid": "../../../../dev/null",
                                    "jku": "http://127.0.0.1:9/jwks.json"}),
        "another key, embedded as jwk": "Bearer " + jwk_embedded(base_claims()),
        "unknown critical header": "Bearer " + sign(dev_key, base_claims(),
                                                    headers={"crit": ["x-unheard-of"],
                                                             "x-unheard-of": True}),
        "expired": "Bearer " + sign(dev_key, base_claims(iat=t - 7200, exp=t - LEEWAY_S - 120)),
        "not yet valid": "Bearer " + sign(dev_key, base_claims(nbf=t + LEEWAY_S + 600)),
        "issued in the future": "Bearer " + sign(dev_key, base_claims(iat=t + LEEWAY_S + 600,
                                                                      exp=t + 7200)),
        "without exp": "Bearer " + sign(dev_key, base_claims(exp=None)),
        "another issuer": "Bearer " + sign(dev_key, base_claims(iss="someone-else")),
        "another audience": "Bearer " + sign(dev_key, base_claims(aud="another-api")),
        "without sub": "Bearer " + sign(dev_key, base_claims(sub=None)),
        "roles of the wrong type": "Bearer " + sign(dev_key, base_claims(roles={"manager": True})),
        "garbage": "Bearer not.a.token",
        "two tokens": f"Bearer {good} {good}",
    }


@pytest.fixture(scope="module")
def routes(test_env):
    return [r for r in route_table(test_env) if r not in PUBLIC_ROUTES]


def body_for(method, path):
    """A body the route would take from an authorised caller (so that a request that got past
    authentication would have something to write)."""
    if method not in ("POST", "PUT", "PATCH"):
        return None
    return {"/teams": team_payload(), "/service-users": service_user_payload(),
            "/referrals": {"source_type": "gp", "reason": "Low mood.", "urgency": "routine",
                           "service_user": {k: service_user_payload()[k] for k in
                                            ("nhs_number", "given_name", "family_name",
                                             "date_of_birth")}},
            "/partners/me/webhook": {"url": "https://partner.example/hook"},
            }.get(path, {"name": unique("n"), "reason": "Forged request."})


def counts(db):
    return db.counts(*TABLES)


def test_the_control_token_is_accepted(service, dev_key):
    """Signed properly, the forgeries' claims are accepted: what refuses them is the forgery."""
    with Api(service.base_url, token=sign(dev_key, base_claims())) as s:
        assert s.get("/teams").status_code == 200
        assert s.get("/partners").status_code == 200


# Sent to every route; the other kinds go to every route in turn, a few to each (every kind
# reaches a dozen routes or more): authentication is one step before any route's own code, and
# thousands of requests would cost more than they show.
EVERY_ROUTE = ("alg none", "signature stripped", "payload tampered",
               "HS256 keyed with the public key", "another RSA key", "expired", "another audience",
               "unknown critical header")


def test_every_forged_or_stale_token_is_401_on_every_route(service, db, routes, forged):
    assert set(EVERY_ROUTE) <= set(forged)
    in_turn = [name for name in forged if name not in EVERY_ROUTE]
    before = counts(db)
    failures, calls, reached = [], 0, set()
    started = time.monotonic()
    with Api(service.base_url, token=None) as s:
        for i, (method, path) in enumerate(routes):
            concrete = fill(path)
            body = body_for(method, path)
            names = EVERY_ROUTE + tuple(in_turn[(i + k) % len(in_turn)] for k in (0, 5))
            for name in names:
                headers = {"Authorization": forged[name], "If-Match": '"1"',
                           "Idempotency-Key": unique("idem-")}
                r = s.request(method, concrete, json=body, headers=headers)
                calls += 1
                reached.add(name)
                try:
                    assert_problem(r, 401, "unauthorized")
                    assert_security_headers(r)
                    scheme, params = parse_challenge(r.headers.get("WWW-Authenticate"))
                    assert (scheme, params.get("realm"), params.get("error")) == \
                        ("Bearer", "carecoord", "invalid_token"), r.headers.get("WWW-Authenticate")
                except AssertionError as exc:
                    failures.append(f"{name} → {method} {concrete}: {exc}")
    elapsed = time.monotonic() - started
    assert reached == set(forged), set(forged) - reached
    assert not failures, f"{len(failures)} of {calls} forged requests were not refused:\n" + \
        "\n".join(failures[:40])
    assert counts(db) == before, "a request with a forged token changed the database"
    print(f"{calls} forged requests on {len(routes)} routes in {elapsed:.1f} s")


def test_no_token_at_all_and_other_schemes_are_401_on_every_route(service, db, routes):
    """Without a bearer token the challenge names no error (RFC 6750 section 3.1)."""
    before = counts(db)
    failures = []
    with Api(service.base_url, token=None) as s:
        for method, path in routes:
            concrete = fill(path)
            for authorization in (None, "Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer  "):
                headers = {"Authorization": authorization} if authorization else {}
                r = s.request(method, concrete, json=body_for(method, path), headers=headers)
                try:
                    assert_problem(r, 401, "unauthorized")
                    assert r.headers.get("WWW-Authenticate", "").startswith('Bearer realm="carecoord"')
                except AssertionError as exc:
                    failures.append(f"{authorization!r} → {method} {concrete}: {exc}")
    assert not failures, "\n".join(failures[:40])
    assert counts(db) == before
