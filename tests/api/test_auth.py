"""Bearer-token authentication and role checks.

Every key used here is generated when the module starts (RSA 2048 and EC P-256, with the
`cryptography` package) and written to the module's temporary directory; the services under
test are configured with PEM files, a JWKS file or a development HS256 secret. Tokens are minted
by PyJWT, by hand (for the malformed and hostile ones) and by the `jose` npm package
(tests/support/mint_jose.mjs), so that verification is shown to interoperate.

Every refusal must be an RFC 7807 problem (401 urn:carecoord:problem:unauthorized with a
`WWW-Authenticate: Bearer realm="carecoord"` challenge, or 403 urn:carecoord:problem:forbidden),
and a refused write must change nothing.
"""

import os
import time
import uuid

import jwt as pyjwt
import pytest
import yaml

from abuse import route_table
from carecoord import (
    Api,
    SigningKey,
    assert_problem,
    assert_security_headers,
    claims,
    create,
    hs256_token,
    jose_token,
    key_config_env,
    log_lines,
    metric_value,
    parse_challenge,
    parse_metrics,
    run_binary,
    service_user_payload,
    staff_payload,
    team_payload,
    unique,
    unsigned_token,
    wait_until,
    write_jwks,
    write_secret,
)

LEEWAY_S = 60
KNOWN_ROLES = ("coordinator", "lead_professional", "manager", "partner", "reporting")
# Health, readiness, metrics and the API reference (README "API reference (/docs)").
PUBLIC_ROUTES = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/docs"),
                 ("GET", "/docs/redoc.standalone.js"), ("GET", "/docs/openapi.yaml")}
# Tables a refused request must leave alone (audit_events may legitimately record a refusal).
WRITE_TABLES = ("teams", "staff", "service_users", "episodes", "idempotency_keys", "referrals",
                "allocations", "allocation_change_requests", "episode_care_level_changes")


# == keys and services ===========================================================================


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth-keys")
    os.chmod(path, 0o700)
    return str(path)


@pytest.fixture(scope="module")
def rsa_key():
    return SigningKey("RSA")


@pytest.fixture(scope="module")
def ec_key():
    return SigningKey("EC")


@pytest.fixture(scope="module")
def other_rsa_key():
    return SigningKey("RSA")


@pytest.fixture(scope="module")
def jwks_rsa_key():
    return SigningKey("RSA", kid=unique("rsa-"))


@pytest.fixture(scope="module")
def jwks_ec_key():
    return SigningKey("EC", kid=unique("ec-"))


@pytest.fixture(scope="module")
def rsa_pem_file(key_dir, rsa_key):
    return rsa_key.write_public_pem(os.path.join(key_dir, "rsa-public.pem"))


@pytest.fixture(scope="module")
def hs256_secret():
    return os.urandom(32).hex()  # 64 printable bytes


@pytest.fixture(scope="module")
def rsa_service(service_factory, rsa_pem_file):
    """The main service: RSA public key as PEM (RS256 only)."""
    return service_factory.start(
        env=key_config_env(public_key_file=rsa_pem_file, CARECOORD_JWT_LEEWAY_S=str(LEEWAY_S))
    )


@pytest.fixture(scope="module")
def ec_service(service_factory, key_dir, ec_key):
    pem = ec_key.write_public_pem(os.path.join(key_dir, "ec-public.pem"))
    return service_factory.start(env=key_config_env(public_key_file=pem))


@pytest.fixture(scope="module")
def jwks_service(service_factory, key_dir, jwks_rsa_key, jwks_ec_key):
    path = write_jwks(
        os.path.join(key_dir, "jwks.json"),
        [jwks_rsa_key.public_jwk(alg="RS256"), jwks_ec_key.public_jwk()],
    )
    return service_factory.start(env=key_config_env(jwks_file=path))


@pytest.fixture(scope="module")
def hs256_service(service_factory, key_dir, hs256_secret):
    path = write_secret(os.path.join(key_dir, "hs256.secret"), hs256_secret + "\n")
    return service_factory.start(env=key_config_env(hs256_secret_file=path))


@pytest.fixture(scope="module")
def manager_token(rsa_key):
    return rsa_key.sign(claims(sub=unique("mgr-"), roles=["manager"], ttl=3600))


@pytest.fixture(scope="module")
def team(rsa_service, manager_token):
    with Api(rsa_service.base_url, token=manager_token) as s:
        return create(s, "/teams", team_payload())


# == helpers =====================================================================================


def send(svc, method, path, token=None, authorization=None, **kw):
    """One request with exactly the Authorization header given (token → Bearer), or none."""
    headers = dict(kw.pop("headers", None) or {})
    if authorization is not None:
        headers["Authorization"] = authorization
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with Api(svc.base_url, token=None) as s:
        return s.request(method, path, headers=headers, **kw)


def assert_unauthorized(resp, error=True):
    """401 problem with a Bearer challenge for realm carecoord; error="invalid_token" when a
    credential was sent, no error parameter when none was."""
    body = assert_problem(resp, 401, "unauthorized")
    assert_security_headers(resp)
    challenge = resp.headers.get("WWW-Authenticate")
    assert challenge, f"401 without WWW-Authenticate: {dict(resp.headers)}"
    scheme, params = parse_challenge(challenge)
    assert scheme.lower() == "bearer", challenge
    assert params.get("realm") == "carecoord", challenge
    if error:
        assert params.get("error") == "invalid_token", challenge
    else:
        assert challenge.strip() == 'Bearer realm="carecoord"', challenge
    return body


def assert_forbidden(resp):
    body = assert_problem(resp, 403, "forbidden")
    assert_security_headers(resp)
    return body


def write_counts(db):
    return db.counts(*WRITE_TABLES)


def assert_rejected(svc, db, token, authorization=None, error=True):
    """The token is refused (401) on a read and on a write, and the write changes nothing."""
    assert_unauthorized(send(svc, "GET", "/teams", token=token, authorization=authorization), error)
    before = write_counts(db)
    r = send(
        svc,
        "POST",
        "/teams",
        token=token,
        authorization=authorization,
        json=team_payload(),
        headers={"Idempotency-Key": unique("idem-")},
    )
    assert_unauthorized(r, error)
    assert write_counts(db) == before, "a refused POST /teams changed the database"


def assert_accepted(svc, token):
    r = send(svc, "GET", "/teams", token=token)
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text[:500]}"
    body = r.json()
    assert isinstance(body.get("items"), list), body
    return r


def now():
    return int(time.time())


# == key configuration ===========================================================================


def refuses_to_start(service_factory, env, variable):
    """serve exits 2 before listening, naming `variable` on stderr."""
    svc = service_factory.start(env=env, wait=False)
    rc = svc.wait_exit()
    text = svc.stderr_text()
    assert rc == 2, f"serve exited {rc} (expected 2); log:\n{text[-2000:]}"
    assert variable in text, f"the refusal does not name {variable}:\n{text[-2000:]}"


def test_serve_refuses_to_start_without_a_key_source(service_factory):
    refuses_to_start(service_factory, key_config_env(), "CARECOORD_JWT_")


def test_serve_refuses_to_start_with_two_key_sources(service_factory, key_dir, rsa_pem_file, jwks_rsa_key):
    jwks = write_jwks(os.path.join(key_dir, "two-sources.json"), [jwks_rsa_key.public_jwk()])
    refuses_to_start(
        service_factory, key_config_env(public_key_file=rsa_pem_file, jwks_file=jwks), "CARECOORD_JWT_"
    )


def test_serve_refuses_a_short_hs256_secret(service_factory, key_dir):
    path = write_secret(os.path.join(key_dir, "short.secret"), "s" * 31)
    refuses_to_start(
        service_factory, key_config_env(hs256_secret_file=path), "CARECOORD_JWT_DEV_HS256_SECRET_FILE"
    )


def test_serve_refuses_a_public_key_file_that_is_not_a_public_key(service_factory, key_dir):
    path = write_secret(os.path.join(key_dir, "not-a-key.pem"), "-----BEGIN PUBLIC KEY-----\nAAAA\n")
    refuses_to_start(service_factory, key_config_env(public_key_file=path), "CARECOORD_JWT_PUBLIC_KEY_FILE")


def test_serve_refuses_a_jwks_key_without_kid(service_factory, key_dir, jwks_rsa_key):
    jwk = jwks_rsa_key.public_jwk()
    del jwk["kid"]
    path = write_jwks(os.path.join(key_dir, "no-kid.json"), [jwk])
    refuses_to_start(service_factory, key_config_env(jwks_file=path), "CARECOORD_JWT_JWKS_FILE")


def test_zero_leeway_refuses_a_just_expired_token(service_factory, db, rsa_pem_file, rsa_key):
    svc = service_factory.start(env=key_config_env(public_key_file=rsa_pem_file, CARECOORD_JWT_LEEWAY_S="0"))
    t = now()
    assert_rejected(svc, db, rsa_key.sign(claims(roles=["manager"], iat=t - 600, exp=t - 5)))
    assert_accepted(svc, rsa_key.sign(claims(roles=["manager"], exp=t + 600)))


# == the Authorization header ====================================================================


def test_no_authorization_header_is_401_with_bare_bearer_challenge(rsa_service, db):
    assert_rejected(rsa_service, db, token=None, error=False)


def test_basic_scheme_is_401(rsa_service, db):
    assert_rejected(rsa_service, db, token=None, authorization="Basic dXNlcjpwYXNzd29yZA==")


def test_bearer_scheme_is_case_insensitive(rsa_service, rsa_key):
    token = rsa_key.sign(claims(roles=["manager"]))
    r = send(rsa_service, "GET", "/teams", authorization=f"bearer {token}")
    assert r.status_code == 200, r.text[:300]


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "a.b.c", "..", "eyJhbGciOiJSUzI1NiJ9.e30.", "not base64!.%%%.***"],
    ids=["word", "three-parts", "dots", "no-signature", "bad-chars"],
)
def test_garbage_token_is_401_invalid_token(rsa_service, db, garbage):
    assert_rejected(rsa_service, db, garbage)


def test_oversized_token_is_401(rsa_service, rsa_key):
    token = rsa_key.sign(claims(roles=["manager"], padding="x" * 9000))
    assert len(token) > 8192
    assert_unauthorized(send(rsa_service, "GET", "/teams", token=token))


# == algorithms and keys =========================================================================


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_unsigned_token_is_401(rsa_service, db, alg):
    body = claims(roles=["manager"])
    assert_rejected(rsa_service, db, unsigned_token(body, alg=alg))
    assert_rejected(rsa_service, db, unsigned_token(body, alg=alg, signature="c2lnbmF0dXJl"))


def test_rs256_header_with_signature_stripped_is_401(rsa_service, db, rsa_key):
    token = rsa_key.sign(claims(roles=["manager"]))
    assert_rejected(rsa_service, db, token.rsplit(".", 1)[0] + ".")


@pytest.mark.parametrize("variant", ["pem-file-bytes", "pem-without-newline", "pem-crlf"])
def test_hs256_signed_with_rsa_public_key_pem_is_401(rsa_service, db, rsa_key, rsa_pem_file, variant):
    """Key confusion: an HS256 token whose HMAC secret is the (public) RSA key's PEM."""
    with open(rsa_pem_file, "rb") as f:
        pem = f.read()
    secret = {
        "pem-file-bytes": pem,
        "pem-without-newline": pem.rstrip(b"\n"),
        "pem-crlf": pem.replace(b"\n", b"\r\n"),
    }[variant]
    assert_rejected(rsa_service, db, hs256_token(secret, claims(roles=["manager"])))


def test_hs256_signed_with_jwks_rsa_key_pem_is_401(jwks_service, db, jwks_rsa_key):
    token = hs256_token(
        jwks_rsa_key.public_pem, claims(roles=["manager"]), headers={"kid": jwks_rsa_key.kid}
    )
    assert_rejected(jwks_service, db, token)


def test_wrong_signature_other_rsa_key_is_401(rsa_service, db, other_rsa_key):
    assert_rejected(rsa_service, db, other_rsa_key.sign(claims(roles=["manager"])))


def test_tampered_payload_is_401(rsa_service, db, rsa_key):
    token = rsa_key.sign(claims(roles=["reporting"]))
    header, _, sig = token.split(".")
    forged = unsigned_token(claims(roles=["manager"]), alg="RS256").split(".")[1]
    assert_rejected(rsa_service, db, f"{header}.{forged}.{sig}")


@pytest.mark.parametrize("crit", [["x-unheard-of"], ["b64"], ["exp"], []], ids=["unknown", "b64", "registered", "empty"])
def test_critical_header_extensions_are_401(rsa_service, db, rsa_key, crit):
    """RFC 7515 section 4.1.11: a token naming extensions it requires to be understood is refused,
    since the service understands none, even when its signature is good."""
    headers = {"crit": crit, **{name: False for name in crit}}
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=["manager"]), headers=headers))


def test_valid_rs256_with_pem_config_is_200(rsa_service, rsa_key):
    assert_accepted(rsa_service, rsa_key.sign(claims(roles=["coordinator"])))


def test_valid_es256_with_ec_pem_config_is_200(ec_service, ec_key):
    assert_accepted(ec_service, ec_key.sign(claims(roles=["coordinator"])))


def test_rs256_token_against_es256_service_is_401(ec_service, db, rsa_key):
    assert_rejected(ec_service, db, rsa_key.sign(claims(roles=["manager"])))


def test_es256_token_against_rs256_service_is_401(rsa_service, db, ec_key):
    assert_rejected(rsa_service, db, ec_key.sign(claims(roles=["manager"])))


def test_valid_rs256_via_jwks_with_right_kid_is_200(jwks_service, jwks_rsa_key):
    assert_accepted(jwks_service, jwks_rsa_key.sign(claims(roles=["manager"])))


def test_valid_es256_via_jwks_with_right_kid_is_200(jwks_service, jwks_ec_key):
    assert_accepted(jwks_service, jwks_ec_key.sign(claims(roles=["manager"])))


def test_jwks_unknown_kid_is_401(jwks_service, db, jwks_rsa_key):
    token = jwks_rsa_key.sign(claims(roles=["manager"]), headers={"kid": unique("unknown-")})
    assert_rejected(jwks_service, db, token)


def test_jwks_missing_kid_is_401(jwks_service, db, jwks_rsa_key):
    # signed by the right key, but without a kid in the header
    token = pyjwt.encode(claims(roles=["manager"]), jwks_rsa_key.private_key, algorithm="RS256")
    token = token.decode("ascii") if isinstance(token, bytes) else token
    assert "kid" not in pyjwt.get_unverified_header(token)
    assert_rejected(jwks_service, db, token)


def test_jwks_kid_of_other_key_is_401(jwks_service, db, jwks_rsa_key, jwks_ec_key):
    """RS256 token signed by the RSA key but naming the EC key's kid (and vice versa)."""
    assert_rejected(
        jwks_service, db, jwks_rsa_key.sign(claims(roles=["manager"]), headers={"kid": jwks_ec_key.kid})
    )
    assert_rejected(
        jwks_service, db, jwks_ec_key.sign(claims(roles=["manager"]), headers={"kid": jwks_rsa_key.kid})
    )


def test_hs256_with_dev_secret_config_is_200(hs256_service, hs256_secret):
    assert_accepted(hs256_service, hs256_token(hs256_secret, claims(roles=["manager"])))


def test_hs256_with_wrong_secret_is_401(hs256_service, db):
    assert_rejected(hs256_service, db, hs256_token(os.urandom(32).hex(), claims(roles=["manager"])))


def test_rs256_against_hs256_dev_service_is_401(hs256_service, db, rsa_key):
    assert_rejected(hs256_service, db, rsa_key.sign(claims(roles=["manager"])))


def test_hs256_rejected_when_pem_key_configured(rsa_service, db, hs256_secret):
    assert_rejected(rsa_service, db, hs256_token(hs256_secret, claims(roles=["manager"])))


# == claims ======================================================================================


def test_expired_beyond_leeway_is_401(rsa_service, db, rsa_key):
    t = now()
    assert_rejected(
        rsa_service, db, rsa_key.sign(claims(roles=["manager"], iat=t - 3600, exp=t - LEEWAY_S - 60))
    )


def test_exp_within_leeway_is_200(rsa_service, rsa_key):
    t = now()
    assert_accepted(rsa_service, rsa_key.sign(claims(roles=["manager"], iat=t - 600, exp=t - LEEWAY_S // 3)))


def test_nbf_in_future_beyond_leeway_is_401(rsa_service, db, rsa_key):
    t = now()
    assert_rejected(
        rsa_service, db, rsa_key.sign(claims(roles=["manager"], nbf=t + LEEWAY_S + 240, exp=t + 3600))
    )


def test_nbf_in_future_within_leeway_is_200(rsa_service, rsa_key):
    t = now()
    assert_accepted(rsa_service, rsa_key.sign(claims(roles=["manager"], nbf=t + LEEWAY_S // 3)))


def test_iat_in_future_beyond_leeway_is_401(rsa_service, db, rsa_key):
    t = now()
    assert_rejected(
        rsa_service, db, rsa_key.sign(claims(roles=["manager"], iat=t + LEEWAY_S + 240, exp=t + 3600))
    )


def test_missing_exp_is_401(rsa_service, db, rsa_key):
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=["manager"], exp=None)))


def test_exp_not_a_number_is_401(rsa_service, db, rsa_key):
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=["manager"], exp=str(now() + 600))))


def test_wrong_issuer_is_401(rsa_service, db, rsa_key):
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=["manager"], issuer="someone-else")))


def test_missing_issuer_is_401(rsa_service, db, rsa_key):
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=["manager"], iss=None)))


def test_wrong_audience_is_401(rsa_service, db, rsa_key):
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=["manager"], audience="another-api")))


def test_missing_audience_is_401(rsa_service, db, rsa_key):
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=["manager"], aud=None)))


def test_audience_array_without_ours_is_401(rsa_service, db, rsa_key):
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=["manager"], audience=["a", "b"])))


def test_audience_array_containing_ours_is_200(rsa_service, rsa_key):
    assert_accepted(rsa_service, rsa_key.sign(claims(roles=["manager"], audience=["other", "carecoord"])))


@pytest.mark.parametrize("sub", [None, "", 42, "x" * 201], ids=["missing", "empty", "number", "too-long"])
def test_bad_sub_is_401(rsa_service, db, rsa_key, sub):
    body = claims(roles=["manager"])
    if sub is None:
        del body["sub"]
    else:
        body["sub"] = sub
    assert_rejected(rsa_service, db, rsa_key.sign(body))


def test_missing_roles_claim_is_401(rsa_service, db, rsa_key):
    assert_rejected(rsa_service, db, rsa_key.sign(claims(roles=None)))


@pytest.mark.parametrize(
    "roles", [7, {"manager": True}, ["manager", 3]], ids=["number", "object", "mixed-array"]
)
def test_roles_claim_of_wrong_type_is_401(rsa_service, db, rsa_key, roles):
    body = claims(roles=None)
    body["roles"] = roles
    assert_rejected(rsa_service, db, rsa_key.sign(body))


def test_only_unknown_role_is_403(rsa_service, db, rsa_key):
    token = rsa_key.sign(claims(roles=["superuser"]))
    assert_forbidden(send(rsa_service, "GET", "/teams", token=token))
    before = write_counts(db)
    assert_forbidden(send(rsa_service, "POST", "/teams", token=token, json=team_payload()))
    assert write_counts(db) == before


def test_empty_roles_array_is_403(rsa_service, rsa_key):
    assert_forbidden(send(rsa_service, "GET", "/teams", token=rsa_key.sign(claims(roles=[]))))


def test_roles_as_single_string_is_200(rsa_service, rsa_key):
    assert_accepted(rsa_service, rsa_key.sign(claims(roles="coordinator")))


def test_roles_from_configured_claim_name(service_factory, rsa_pem_file, rsa_key):
    svc = service_factory.start(
        env=key_config_env(public_key_file=rsa_pem_file, CARECOORD_JWT_ROLES_CLAIM="carecoord_roles")
    )
    assert_accepted(svc, rsa_key.sign(claims(roles=["manager"], roles_claim="carecoord_roles")))
    # the default claim name means nothing to this service
    assert_unauthorized(send(svc, "GET", "/teams", token=rsa_key.sign(claims(roles=["manager"]))))


# == interoperability ============================================================================


def test_token_minted_by_pyjwt_is_200(rsa_service, ec_service, rsa_key, ec_key):
    assert_accepted(rsa_service, rsa_key.sign(claims(roles=["lead_professional"])))
    assert_accepted(ec_service, ec_key.sign(claims(roles=["lead_professional"])))


@pytest.mark.parametrize("kind", ["RS256", "ES256"])
def test_token_minted_by_jose_is_200(test_env, rsa_service, ec_service, rsa_key, ec_key, kind):
    svc, key = (rsa_service, rsa_key) if kind == "RS256" else (ec_service, ec_key)
    assert_accepted(svc, jose_token(test_env, key, claims(roles=["manager"])))


def test_token_minted_by_jose_via_jwks_is_200(test_env, jwks_service, jwks_rsa_key, jwks_ec_key):
    assert_accepted(jwks_service, jose_token(test_env, jwks_rsa_key, claims(roles=["manager"])))
    assert_accepted(jwks_service, jose_token(test_env, jwks_ec_key, claims(roles=["manager"])))


def test_token_minted_by_carecoord_token_is_200(test_env, service_factory):
    """The dev `carecoord token` subcommand's tokens verify against the matching public key."""
    svc = service_factory.start(env=key_config_env(public_key_file=test_env.public_key_file))
    done = run_binary(
        test_env,
        ["token", "--sub", unique("dev-"), "--role", "manager", "--ttl", "600"],
        {"CARECOORD_DEV_SIGNING_KEY_FILE": test_env.private_key_file},
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert_accepted(svc, done.stdout.strip())


# == roles per route =============================================================================


def role_token(rsa_key, role, sub=None, org=None):
    # a partner's token names its organisation: partner routes are scoped by it
    org = org or (unique("ORG-") if role == "partner" else None)
    return rsa_key.sign(claims(sub=sub or unique(f"{role}-"), roles=[role], org=org))


def test_reporting_on_get_teams_is_403(rsa_service, rsa_key):
    assert_forbidden(send(rsa_service, "GET", "/teams", token=role_token(rsa_key, "reporting")))


def test_reporting_on_post_teams_is_403(rsa_service, db, rsa_key):
    before = write_counts(db)
    r = send(rsa_service, "POST", "/teams", token=role_token(rsa_key, "reporting"), json=team_payload())
    assert_forbidden(r)
    assert write_counts(db) == before


def test_coordinator_on_post_teams_is_403(rsa_service, db, rsa_key):
    before = write_counts(db)
    r = send(rsa_service, "POST", "/teams", token=role_token(rsa_key, "coordinator"), json=team_payload())
    assert_forbidden(r)
    assert write_counts(db) == before


def test_manager_on_post_teams_is_201(rsa_service, db, rsa_key):
    before = db.count("teams")
    payload = team_payload()
    r = send(rsa_service, "POST", "/teams", token=role_token(rsa_key, "manager"), json=payload)
    assert r.status_code == 201, r.text[:500]
    assert r.json()["name"] == payload["name"]
    assert db.count("teams") == before + 1


@pytest.mark.parametrize("path", sorted(path for _, path in PUBLIC_ROUTES))
def test_public_route_answers_200_without_token(rsa_service, path):
    r = send(rsa_service, "GET", path)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
    assert "WWW-Authenticate" not in r.headers


@pytest.fixture(scope="module")
def routes(test_env):
    return route_table(test_env)


@pytest.fixture(scope="module")
def spec_roles(test_env):
    """{(METHOD, path): set of x-roles} from api/openapi.yaml, or None for public operations."""
    with open(os.path.join(test_env.repo, "api", "openapi.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    out = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch", "options", "head", "trace"):
                continue
            out[(method.upper(), path)] = set(op["x-roles"]) if "x-roles" in op else None
    return out


def route_request(method, path, team_id):
    """(concrete path, request kwargs) for a route: {id} becomes a random UUID; writes carry a
    body that would be valid for the collection."""
    concrete = path.replace("{id}", str(uuid.uuid4()))
    kw = {"headers": {}}
    if method == "POST":
        kw["json"] = {
            "/teams": team_payload(),
            "/staff": staff_payload(team_id),
            "/service-users": service_user_payload(),
        }.get(path, {})
        kw["headers"]["Idempotency-Key"] = unique("idem-")
    elif method in ("PATCH", "PUT"):
        kw["json"] = {"name": unique("n")} if "service-users" not in path else {"given_name": "Sam"}
        kw["headers"]["If-Match"] = '"1"'
    return concrete, kw


def test_every_route_requires_a_token(rsa_service, db, routes, team):
    failures = []
    for method, path in routes:
        if (method, path) in PUBLIC_ROUTES:
            continue
        concrete, kw = route_request(method, path, team["id"])
        before = write_counts(db)
        r = send(rsa_service, method, concrete, **kw)
        try:
            assert_unauthorized(r, error=False)
            assert write_counts(db) == before, "the refused request changed the database"
        except AssertionError as exc:
            failures.append(f"{method} {concrete}: {exc}")
    assert not failures, "routes answering without a token:\n" + "\n".join(failures)


def test_public_routes_are_exactly_health_metrics_and_docs(routes, spec_roles):
    for route in PUBLIC_ROUTES:
        assert route in routes, f"{route} missing from `carecoord routes`"
        assert spec_roles.get(route, "absent") is None, f"{route} has x-roles in the OpenAPI document"
    missing = [f"{m} {p}" for m, p in routes if (m, p) not in PUBLIC_ROUTES and not spec_roles.get((m, p))]
    assert not missing, "routes without x-roles in api/openapi.yaml: " + ", ".join(missing)


def test_every_route_refuses_roles_outside_its_x_roles(rsa_service, db, rsa_key, routes, spec_roles, team):
    failures = []
    checked = 0
    for method, path in routes:
        if (method, path) in PUBLIC_ROUTES:
            continue
        allowed = spec_roles.get((method, path))
        if not allowed:
            failures.append(f"{method} {path}: no x-roles in api/openapi.yaml")
            continue
        unknown = allowed - set(KNOWN_ROLES)
        if unknown:
            failures.append(f"{method} {path}: x-roles names unknown roles {sorted(unknown)}")
        for role in KNOWN_ROLES:
            if role in allowed:
                continue
            concrete, kw = route_request(method, path, team["id"])
            before = write_counts(db)
            r = send(rsa_service, method, concrete, token=role_token(rsa_key, role), **kw)
            checked += 1
            try:
                assert_forbidden(r)
                assert write_counts(db) == before, "the refused request changed the database"
            except AssertionError as exc:
                failures.append(f"{role} → {method} {concrete}: {exc}")
    assert checked, "no route has a forbidden role: nothing was checked"
    assert not failures, "role check failures:\n" + "\n".join(failures)


def test_every_route_lets_its_x_roles_through(rsa_service, db, rsa_key, routes, spec_roles, team):
    """Allowed roles are not refused (a body that fails validation keeps writes out of it)."""
    # The partner routes refuse an organisation the service does not know: register one.
    org = unique("ORG-")
    db.execute("INSERT INTO partner_organisations (code, name, kind) VALUES (%s, %s, 'other')",
               (org, "Auth test partner"))
    failures = []
    for method, path in routes:
        if (method, path) in PUBLIC_ROUTES:
            continue
        for role in sorted(spec_roles.get((method, path)) or ()):
            concrete, kw = route_request(method, path, team["id"])
            if "json" in kw:
                kw["json"] = {"unknown_field_so_nothing_is_written": True}
            token = role_token(rsa_key, role, org=org if role == "partner" else None)
            r = send(rsa_service, method, concrete, token=token, **kw)
            if r.status_code in (401, 403) or r.status_code >= 500:
                failures.append(f"{role} → {method} {concrete}: {r.status_code} {r.text[:200]}")
    assert not failures, "allowed roles refused:\n" + "\n".join(failures)


def test_partner_cannot_read_service_users(rsa_service, rsa_key):
    r = send(rsa_service, "GET", "/service-users", token=role_token(rsa_key, "partner"))
    assert_forbidden(r)


# == logs and audit ==============================================================================


def test_token_never_appears_in_the_log(rsa_service, rsa_key, other_rsa_key):
    t = now()
    tokens = [
        rsa_key.sign(claims(roles=["manager"])),  # accepted
        rsa_key.sign(claims(roles=["reporting"])),  # 403
        rsa_key.sign(claims(roles=["manager"], iat=t - 7200, exp=t - 3600)),  # expired
        other_rsa_key.sign(claims(roles=["manager"])),  # bad signature
        unsigned_token(claims(roles=["manager"])),  # alg none
        "garbage-" + uuid.uuid4().hex,
    ]
    rids = []
    for token in tokens:
        rid = unique("rid")
        rids.append(rid)
        send(rsa_service, "GET", "/teams", token=token, headers={"X-Request-Id": rid})
    wait_until(
        lambda: set(rids) <= {line.get("request_id") for line in log_lines(rsa_service.stderr_text())},
        10,
        "request log lines for every request",
    )
    text = rsa_service.stderr_text()
    for token in tokens:
        parts = [token] + [p for p in token.split(".") if len(p) >= 16]
        for part in parts:
            assert part not in text, f"the service log contains (part of) a token: {part[:40]}..."


def test_request_log_actor_is_token_sub(rsa_service, rsa_key):
    sub = unique("actor-")
    rid = unique("rid")
    r = send(rsa_service, "GET", "/teams", token=rsa_key.sign(claims(sub=sub, roles=["manager"])),
             headers={"X-Request-Id": rid})
    assert r.status_code == 200

    def request_line():
        for line in log_lines(rsa_service.stderr_text()):
            if line.get("request_id") == rid and line.get("msg") == "request":
                return line
        return None

    line = wait_until(request_line, 10, f"the request log line for {rid}")
    assert line.get("actor") == sub, line


def test_audit_event_records_sub_and_known_roles(rsa_service, db, rsa_key):
    sub = unique("auditor-")
    token = rsa_key.sign(claims(sub=sub, roles=["manager", "not-a-carecoord-role"]))
    r = send(rsa_service, "POST", "/service-users", token=token, json=service_user_payload())
    assert r.status_code == 201, r.text[:500]
    created = r.json()
    rows = db.rows(
        "SELECT actor, roles, action, outcome, resource_id, service_user_id FROM audit_events "
        "WHERE actor = %s ORDER BY id",
        (sub,),
    )
    creates = [row for row in rows if row["action"] == "create"]
    assert len(creates) == 1, rows
    event = creates[0]
    assert event["actor"] == sub
    assert "manager" in event["roles"], event
    assert "not-a-carecoord-role" not in event["roles"], event
    assert event["outcome"] == "success", event
    assert created["id"] in (str(event["service_user_id"]), event["resource_id"]), event


def test_refusals_are_logged_as_security_events(rsa_service, rsa_key, other_rsa_key):
    """401 and 403 each leave a `Security - ...` log line for their request (never the token)."""
    rid_401, rid_403 = unique("rid"), unique("rid")
    bad = other_rsa_key.sign(claims(roles=["manager"]))
    send(rsa_service, "GET", "/teams", token=bad, headers={"X-Request-Id": rid_401})
    reporting = role_token(rsa_key, "reporting")
    send(rsa_service, "GET", "/teams", token=reporting, headers={"X-Request-Id": rid_403})

    def security_lines():
        lines = [
            line
            for line in log_lines(rsa_service.stderr_text())
            if str(line.get("msg", "")).startswith("Security -")
        ]
        found = {line.get("request_id") for line in lines}
        return lines if {rid_401, rid_403} <= found else None

    lines = wait_until(security_lines, 10, "Security - log lines for a 401 and a 403")
    assert not any(bad in str(line) for line in lines)


def test_forbidden_read_of_a_person_record_is_audited_as_deny(rsa_service, db, rsa_key, manager_token):
    with Api(rsa_service.base_url, token=manager_token) as s:
        person = create(s, "/service-users", service_user_payload())
    sub = unique("partner-")
    token = role_token(rsa_key, "partner", sub=sub)
    r = send(rsa_service, "GET", f"/service-users/{person['id']}", token=token)
    assert_forbidden(r)
    rows = db.rows("SELECT actor, roles, action, outcome FROM audit_events WHERE actor = %s", (sub,))
    assert [(row["action"], row["outcome"]) for row in rows] == [("deny", "denied")], rows
    assert list(rows[0]["roles"]) == ["partner"], rows


# == the cache of verified tokens ================================================================


def token_cache_metrics(svc):
    samples = parse_metrics(send(svc, "GET", "/metrics").text)
    return {name: metric_value(samples, f"carecoord_token_cache_{name}")
            for name in ("hits_total", "misses_total", "capacity")}


def test_a_verified_token_is_remembered_but_a_copy_with_other_claims_is_not(rsa_service, db, rsa_key):
    """The cache is keyed by the whole token text: the genuine token's signature on claims it
    never signed is verified in full, and refused, even while the genuine token is cached."""
    token = rsa_key.sign(claims(sub=unique("cached-"), roles=["reporting"]))
    assert_forbidden(send(rsa_service, "GET", "/teams", token=token))  # verified, remembered
    before = token_cache_metrics(rsa_service)
    assert_forbidden(send(rsa_service, "GET", "/teams", token=token))
    after = token_cache_metrics(rsa_service)
    assert after["hits_total"] >= before["hits_total"] + 1, (before, after)
    header, _, signature = token.split(".")
    forged = unsigned_token(claims(roles=["manager"]), alg="RS256").split(".")[1]
    assert_rejected(rsa_service, db, f"{header}.{forged}.{signature}")
    assert_rejected(rsa_service, db, f"{token}x")


def test_a_remembered_token_is_refused_once_it_expires(service_factory, db, rsa_pem_file, rsa_key):
    svc = service_factory.start(
        env=key_config_env(public_key_file=rsa_pem_file, CARECOORD_JWT_LEEWAY_S="0")
    )
    token = rsa_key.sign(claims(roles=["manager"], exp=now() + 3))
    assert_accepted(svc, token)
    assert_accepted(svc, token)
    assert token_cache_metrics(svc)["hits_total"] >= 1
    wait_until(lambda: send(svc, "GET", "/teams", token=token).status_code == 401, 15,
               "the remembered token to be refused after its exp")
    assert_rejected(svc, db, token)
    svc.stop()


def test_the_token_cache_can_be_turned_off(service_factory, rsa_pem_file, rsa_key):
    svc = service_factory.start(
        env=key_config_env(public_key_file=rsa_pem_file, CARECOORD_JWT_CACHE_SIZE="0")
    )
    token = rsa_key.sign(claims(roles=["manager"]))
    assert_accepted(svc, token)
    assert_accepted(svc, token)
    assert token_cache_metrics(svc) == {"hits_total": 0, "misses_total": 0, "capacity": 0}
    svc.stop()
