"""Security misconfiguration (OWASP API8:2023, issue 11 item 11), on every route of
`carecoord routes`.

  * Hostile input (ids that are not ids, query values built to break a parser or a query, bodies
    of the wrong types, huge or hostile strings, broken JSON) is refused with a 4xx problem, or
    accepted; never a 5xx. No error body carries SQL, PostgreSQL's messages, file paths, a stack
    trace or a library's name (abuse.LEAK_PATTERNS).
  * Methods a path does not serve (TRACE, CONNECT, OPTIONS, WebDAV, made-up ones, and the
    ordinary methods the route table lacks) are 405 problems whose `Allow` is exactly the route
    table's methods for the path, before any token is looked at.
  * Every response, success or failure, 5xx included, carries `Cache-Control: no-store`,
    `X-Content-Type-Options: nosniff` and an `X-Request-Id`.

Callers are the world's (tests/support/abuse.py): someone whose role and relationship let them
in, with real ids, so that hostile input reaches the handlers rather than the access checks."""


import psycopg2
import pytest

from abuse import (PUBLIC_ROUTES, authorised, fill, ids_for, leaks, operation, placeholders,
                   query_parameters, resolve, valid_request, x_roles)
from abuse import routes, service, spec, world  # noqa: F401 (module fixtures)
from carecoord import PROBLEM_CONTENT_TYPE, assert_security_headers, raw_request, unique

BAD_IDS = ["nope", "'; DROP TABLE teams;--", "0" * 300, "%00", "..%2F..%2Fetc%2Fpasswd",
           "%FF%FE", "00000000-0000-0000-0000-00000000000g"]
BAD_NUMBERS = ["0", "-1", "99999999999999999999", "1.5", "one", "%00"]
# Already percent-encoded: sent as they are.
BAD_QUERY_VALUES = ["'%20OR%201=1--", "%27%3B%20SELECT%20pg_sleep(10)%3B--", "%FF%FE", "x" * 4000,
                    "-1", "99999999999999999999", "%00", "", "%25s%25n%25x"]
HOSTILE_TEXT = "'); DROP TABLE teams; -- %s%n%x \u202e <script>alert(1)</script> ${jndi:x}"
UNUSED_METHODS = ["TRACE", "CONNECT", "OPTIONS", "PROPFIND", "MKCOL", "FOO"]
STANDARD_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class Checker:
    """Collects what is wrong with each response instead of stopping at the first."""

    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, r, what, allowed=lambda status: status < 500):
        self.count += 1
        problems = []
        if not allowed(r.status_code):
            problems.append(f"status {r.status_code}")
        try:
            assert_security_headers(r)
        except AssertionError as exc:
            problems.append(f"headers: {exc}")
        if r.status_code >= 400:
            ctype = r.headers.get("Content-Type", "").split(";")[0]
            if ctype != PROBLEM_CONTENT_TYPE:
                problems.append(f"Content-Type {ctype!r}")
            found = leaks(r.text)
            if found:
                problems.append("body gives away " + ", ".join(found))
        if problems:
            self.failures.append(f"{what}: {'; '.join(problems)}: {r.text[:300]}")

    def assert_clean(self, minimum):
        print(f"{self.count} responses checked")
        assert self.count >= minimum, f"only {self.count} requests were checked"
        assert not self.failures, f"{len(self.failures)} of {self.count} responses:\n" + \
            "\n".join(self.failures[:40])


def caller_and_request(w, spec, method, path):
    """(session, ids, request kwargs): someone the route lets in, the world's ids for its path,
    and a request it would accept."""
    ids = ids_for(method, path, w) or {}
    session = authorised(w, x_roles(spec, method, path))
    return session, ids, valid_request(method, path, w, ids)


def test_every_get_route_answers_with_the_security_headers(routes, spec, world):
    """The successes too: every GET of the route table, by someone it lets in, with the world's
    ids, is 200 with the headers (the extracts stream theirs)."""
    c = Checker()
    for method, path in routes:
        if method != "GET":
            continue
        if (method, path) in PUBLIC_ROUTES:
            session = world.holder.api
            ids, kw = {}, {}
        else:
            session, ids, kw = caller_and_request(world, spec, method, path)
        # (a partner without a webhook is told so: 404)
        expected = 404 if path == "/partners/me/webhook" else 200
        c.check(session.get(fill(path, ids), **kw), f"GET {fill(path, ids)}",
                allowed=lambda status: status == expected)
    c.assert_clean(40)


def test_ids_that_are_not_ids_are_4xx_on_every_route(routes, spec, world):
    c = Checker()
    for method, path in routes:
        names = placeholders(path)
        if not names:
            continue
        session, ids, kw = caller_and_request(world, spec, method, path)
        for name in names:
            if name in ("measure", "table"):
                values = BAD_IDS[:4]  # names, not ids
            else:
                values = BAD_NUMBERS if name == "number" else BAD_IDS
            for bad in values:
                concrete = fill(path, {**ids, name: bad})
                r = session.request(method, concrete, **kw)
                c.check(r, f"{method} {concrete}",
                        allowed=lambda status: 400 <= status < 500 and status not in (401, 405))
    c.assert_clean(400)


def test_hostile_query_values_are_4xx_or_answered_on_every_route(routes, spec, world):
    c = Checker()
    for method, path in routes:
        if (method, path) in PUBLIC_ROUTES:
            continue
        names = list(query_parameters(spec, method, path))
        if not names:
            continue
        session, ids, kw = caller_and_request(world, spec, method, path)
        kw.pop("params", None)
        base = fill(path, ids)
        for name in names + ["limit&limit"]:  # a parameter given twice, too
            for bad in BAD_QUERY_VALUES:
                query = f"{name}={bad}" if "&" not in name else f"limit=1&limit={bad}"
                c.check(session.request(method, f"{base}?{query}", **kw), f"{method} {base}?{query[:80]}")
    c.assert_clean(300)


def wrong_type(spec, schema):
    """A value of another JSON type than schema allows."""
    schema = resolve(spec, schema)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            schema = resolve(spec, schema[key][0])
            break
    types = schema.get("type", "string")
    types = types if isinstance(types, list) else [types]
    for candidate, value in (("object", [1, 2]), ("array", {"a": 1}), ("boolean", "yes"),
                             ("integer", "seven"), ("number", "seven"), ("string", 12345)):
        if candidate in types:
            return value
    return {"unexpected": True}


def body_schema(spec, method, path):
    body = operation(spec, method, path).get("requestBody")
    if not body:
        return None
    content = resolve(spec, body)["content"]
    return resolve(spec, content.get("application/json", next(iter(content.values())))["schema"])


def properties(spec, schema):
    schema = resolve(spec, schema)
    props = dict(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        props.update(properties(spec, sub))
    return props


def hostile_bodies(spec, method, path):
    schema = body_schema(spec, method, path)
    props = properties(spec, schema) if schema else {"name": {"type": "string"}}
    yield "wrong types", {name: wrong_type(spec, s) for name, s in props.items()}
    share = max(1000, 200_000 // max(1, len(props)))
    yield "huge strings", {name: "x" * share for name in props}
    yield "hostile text", {name: HOSTILE_TEXT for name in props}
    yield "nulls", {name: None for name in props}
    yield "unknown members", {"__proto__": {"admin": True}, "constructor": 1, "$where": "1"}
    yield "broken JSON", b'{"a": [1, 2'
    yield "not UTF-8", b'{"name": "\xff\xfe"}'
    yield "NUL escape", b'{"name": "a\\u0000b"}'
    yield "a number too big", b'{"name": 1e99999, "version": 123456789012345678901234567890}'


def test_hostile_bodies_are_4xx_or_answered_on_every_route(routes, spec, world, db):
    c = Checker()
    for method, path in routes:
        if method not in ("POST", "PUT", "PATCH") or body_schema(spec, method, path) is None:
            continue
        session, ids, kw = caller_and_request(world, spec, method, path)
        for what, body in hostile_bodies(spec, method, path):
            send = dict(kw)
            send.pop("json", None)
            if isinstance(body, bytes):
                send["data"] = body
                send["headers"] = {**kw["headers"], "Content-Type": "application/json"}
            else:
                send["json"] = body
            r = session.request(method, fill(path, ids), **send)
            c.check(r, f"{what} → {method} {fill(path, ids)}")
    c.assert_clean(200)
    assert db.scalar("SELECT to_regclass('teams') IS NOT NULL")


def allowed_methods(routes):
    """{path template: set of methods} from the route table."""
    out = {}
    for method, path in routes:
        out.setdefault(path, set()).add(method)
    return out


def test_methods_a_path_does_not_serve_are_405_with_its_allow_before_any_token(routes, service):
    c = Checker()
    wrong_allow = []
    with service.api(token=None) as anonymous:
        for path, methods in allowed_methods(routes).items():
            concrete = fill(path)
            for method in UNUSED_METHODS + [m for m in STANDARD_METHODS if m not in methods]:
                r = anonymous.request(method, concrete, headers={"Content-Type": "application/json"},
                                      data=b"{}" if method in ("POST", "PUT", "PATCH") else None)
                c.check(r, f"{method} {concrete}", allowed=lambda status: status == 405)
                allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
                if allow != methods:
                    wrong_allow.append(f"{method} {concrete}: Allow {sorted(allow)}, the route "
                                       f"table has {sorted(methods)}")
    c.assert_clean(300)
    assert not wrong_allow, "\n".join(wrong_allow[:40])


def test_unknown_paths_are_404_problems_whatever_the_method(service):
    c = Checker()
    with service.api(token=None) as anonymous:
        for path in ("/", "/admin", "/.env", "/teams/", "//teams", "/teams/x/y/z/w",
                     "/api/v1/teams", "/%2e%2e/etc/passwd", "/teams%2F",
                     "/" + "a/" * 40 + "b"):
            for method in ("GET", "POST", "TRACE", "OPTIONS"):
                r = anonymous.request(method, path)
                c.check(r, f"{method} {path}", allowed=lambda status: status == 404)
    c.assert_clean(40)


@pytest.fixture
def slow_service(service_factory):
    """A service whose statements give up after 300 ms, so that a held lock makes it fail."""
    svc = service_factory.start(env={"CARECOORD_DB_STATEMENT_TIMEOUT_MS": "300"})
    yield svc
    svc.stop()


def test_a_database_failure_is_a_5xx_problem_with_the_headers_and_no_internals(slow_service, world,
                                                                               database):
    """While another session holds the tables, every statement times out: the service answers
    5xx problems that name nothing of PostgreSQL, the statement or the code behind it."""
    tables = "teams, service_users, episodes, referrals, audit_events, audit_chain"
    blocker = psycopg2.connect(database.superuser_url, connect_timeout=10)
    c = Checker()
    try:
        with blocker.cursor() as cur:
            cur.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
        person, episode = world.person["id"], world.episode
        with slow_service.api() as s:
            for method, path, body in (
                    ("GET", "/teams", None), ("POST", "/teams", {"name": unique("T "), "type": "other"}),
                    ("GET", f"/service-users/{person}", None),
                    ("GET", f"/episodes/{episode}", None), ("GET", "/referrals", None),
                    ("GET", "/audit-events", None), ("GET", "/audit-events/verify", None)):
                r = s.request(method, path, json=body)
                c.check(r, f"{method} {path}", allowed=lambda status: status in (500, 503))
    finally:
        blocker.rollback()
        blocker.close()
    c.assert_clean(7)


def test_responses_the_http_library_makes_itself_give_nothing_away(service):
    """Requests too malformed to reach the service (a header or URL beyond the connection's
    memory, an HTTP version it does not speak) are answered by libmicrohttpd with its own short
    HTML page, before any code of ours runs: they cannot carry our headers, so this checks that
    they echo nothing of the request and name no software or version."""
    marker = "MARKER" + unique("")
    for request, status in (
            (f"GET /teams HTTP/1.1\r\nHost: x\r\nX-Big: {marker}{'a' * 20000}\r\n"
             "Connection: close\r\n\r\n", 431),
            (f"GET /teams?{marker}={'a' * 20000} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414),
            (f"GET /teams/{marker} HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n", 505)):
        r = raw_request(service.port, request.encode())
        assert r.status == status, (r.status, r.body[:200])
        text = r.body.decode("latin-1")
        assert marker not in text and not leaks(text), text
        assert not r.header("Server"), r.headers
        for name, value in r.headers:
            assert marker not in value and not leaks(value), (name, value)
