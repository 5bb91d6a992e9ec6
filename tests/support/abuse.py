"""Shared by the abuse tests (tests/api/test_abuse_*.py, OWASP API Security Top 10 2023): the
route table as the binary prints it, the OpenAPI document, and checks that an error body gives
nothing away.

The tests that walk every route read `carecoord routes`, never a list of their own, so a route
added to service/http/routes.c is covered (or makes a test fail) without editing them."""

import os
import re
import uuid

import yaml

from carecoord import run_binary

PUBLIC_ROUTES = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

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


def fill(path, ids=None, default=None):
    """path with each {name} replaced by ids[name], else default(name), else a random UUID
    (a number for a care plan's version {number}, a name for {measure} and {table})."""
    ids = ids or {}

    def value(m):
        name = m.group(1)
        if name in ids:
            return str(ids[name])
        if default is not None:
            return str(default(name))
        return {"number": "1", "measure": "caseload", "table": "episodes"}.get(name, str(uuid.uuid4()))

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
