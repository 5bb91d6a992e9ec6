"""Unrestricted resource consumption (OWASP API4:2023, issue 11 item 9), on every route it
applies to, found from `carecoord routes` and api/openapi.yaml:

  * every list's `limit` is 1..200: anything else is 400, and a page never holds more;
  * a body over the configured limit is 413 on every route (before the token is looked at),
    and one at the limit is not;
  * every array a request may hold has a bound (`maxItems`), and the service keeps it: one item
    too many, or 10,000, is a 422 naming the array;
  * nesting deeper than 32 levels is 400, and an object of 50,000 members is refused, on every
    route that takes a body;
  * a report covers at most 12 months, whatever the measure.

The extracts' own bound (a few at once, the others 503 with Retry-After, each streamed in flat
memory) is tests/api/test_extracts_memory.py."""

import json

import pytest

from abuse import (authorised, fill, ids_for, operation, query_parameters, resolve,
                   valid_request, x_roles)
from abuse import routes, service, spec, world  # noqa: F401 (module fixtures)
from carecoord import PROBLEM_CONTENT_TYPE, assert_problem, assert_security_headers, error_fields

BODY_LIMIT = 4096


def takes_body(spec, method, path):
    return method in ("POST", "PUT", "PATCH") and "requestBody" in operation(spec, method, path)


def call(world, spec, method, path, **override):
    """The route called by someone it lets in, with the world's ids and a valid request, with
    override replacing its parts."""
    ids = ids_for(method, path, world) or {}
    session = authorised(world, x_roles(spec, method, path))
    kw = valid_request(method, path, world, ids)
    headers = {**kw.get("headers", {}), **override.pop("headers", {})}
    kw.update(override, headers=headers)
    return session.request(method, fill(path, ids), **kw)


def test_limit_is_1_to_200_on_every_list(spec, routes, world):
    lists = [(m, p) for m, p in routes if "limit" in query_parameters(spec, m, p)]
    assert len(lists) >= 15, lists
    failures = []
    for method, path in lists:
        for bad in ("201", "0", "-1", "1000000", "99999999999999999999", "1e2", "", "ten", "200.0"):
            r = call(world, spec, method, path, params={"limit": bad})
            if r.status_code != 400:
                failures.append(f"{method} {path}?limit={bad}: {r.status_code} {r.text[:200]}")
        r = call(world, spec, method, path, params={"limit": "200"})
        if r.status_code != 200:
            failures.append(f"{method} {path}?limit=200: {r.status_code} {r.text[:200]}")
        else:
            items = r.json().get("items", r.json().get("events"))
            if not isinstance(items, list) or len(items) > 200:
                failures.append(f"{method} {path}: a page of {items if not isinstance(items, list) else len(items)}")
        r = call(world, spec, method, path, params={"limit": "1"})
        if r.status_code == 200 and len(r.json().get("items", r.json().get("events", []))) > 1:
            failures.append(f"{method} {path}?limit=1: more than one item")
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def small_body_service(service_factory):
    svc = service_factory.start(env={"CARECOORD_MAX_BODY_BYTES": str(BODY_LIMIT)})
    yield svc
    svc.stop()


def padded(size):
    """A JSON object of exactly size bytes."""
    head, foot = b'{"padding":"', b'"}'
    return head + b"a" * (size - len(head) - len(foot)) + foot


def test_a_body_over_the_limit_is_413_on_every_route(small_body_service, routes):
    failures = []
    with small_body_service.api(token=None) as anonymous, small_body_service.api() as manager:
        for method, path in routes:
            for session in (anonymous, manager):
                r = session.request(method, fill(path), data=padded(BODY_LIMIT + 1),
                                    headers={"Content-Type": "application/json"})
                try:
                    assert_problem(r, 413, "payload-too-large")
                    assert_security_headers(r)
                except AssertionError as exc:
                    failures.append(f"{method} {path}: {exc}")
            r = manager.request(method, fill(path), data=padded(BODY_LIMIT),
                                headers={"Content-Type": "application/json"})
            if r.status_code == 413:
                failures.append(f"{method} {path}: 413 at the limit")
    assert not failures, "\n".join(failures)


def arrays(spec, schema, where=""):
    """[(JSON pointer, maxItems, item schema)] of every array a request body may hold."""
    schema = resolve(spec, schema)
    out = []
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "array" in kinds or "items" in schema:
        out.append((where, schema.get("maxItems"), schema.get("items", {})))
    for name, sub in (schema.get("properties") or {}).items():
        out += arrays(spec, sub, f"{where}/{name}")
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            out += [a for a in arrays(spec, sub, where) if a not in out]
    return out


def request_schema(spec, method, path):
    content = resolve(spec, operation(spec, method, path)["requestBody"])["content"]
    return (content.get("application/json") or next(iter(content.values())))["schema"]


def place(body, pointer, value):
    """body with value at the JSON pointer (objects made on the way)."""
    body = json.loads(json.dumps(body))
    parts = pointer.strip("/").split("/")
    node = body
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return body


def test_every_array_in_a_request_is_bounded_and_the_bound_is_kept(spec, routes, world):
    failures, checked = [], 0
    for method, path in routes:
        if not takes_body(spec, method, path):
            continue
        for pointer, bound, item in arrays(spec, request_schema(spec, method, path)):
            if bound is None:
                failures.append(f"{method} {path}: {pointer} has no maxItems in api/openapi.yaml")
                continue
            item = resolve(spec, item)
            element = "x" if item.get("type") == "string" or "enum" in item else {}
            for count in (bound + 1, 10_000):
                base = valid_request(method, path, world, ids_for(method, path, world) or {})
                r = call(world, spec, method, path, json=place(base.get("json", {}), pointer,
                                                               [element] * count))
                checked += 1
                ok = r.status_code == 422 and pointer in error_fields(r.json())
                if not ok:
                    failures.append(f"{method} {path}: {count} items in {pointer}: "
                                    f"{r.status_code} {r.text[:200]}")
    assert checked >= 20, checked
    assert not failures, "\n".join(failures)


def members(count):
    return ("{" + ",".join(f'"k{i}":0' for i in range(count)) + "}").encode()


def test_deep_and_wide_bodies_are_refused_on_every_route_that_takes_one(spec, routes, world):
    failures = []
    for method, path in routes:
        if not takes_body(spec, method, path):
            continue
        for what, data, expected in (
                ("33 levels", b'{"a":' + b"[" * 32 + b"]" * 32 + b"}", (400,)),
                ("100,000 levels", b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", (400,)),
                ("2,000 members", members(2_000), (422,))):
            r = call(world, spec, method, path, data=data, json=None,
                     headers={"Content-Type": "application/json"})
            ctype = r.headers.get("Content-Type", "").split(";")[0]
            if r.status_code not in expected or ctype != PROBLEM_CONTENT_TYPE:
                failures.append(f"{method} {path}: {what}: {r.status_code} {r.text[:160]}")
    assert not failures, "\n".join(failures)


def test_an_object_of_50000_members_is_refused_in_bounded_time(world):
    """Every unknown member is an error, but the list of errors is bounded (64)."""
    r = world.manager.api.post("/teams", data=members(50_000),
                               headers={"Content-Type": "application/json"})
    problem = assert_problem(r, 422, "validation-failed")
    assert 1 <= len(problem["errors"]) <= 64, len(problem["errors"])
    assert len(r.content) < 16_384


def test_a_report_covers_at_most_12_months_whatever_the_measure(world):
    s = world.reporting
    listing = s.get("/reports")
    assert listing.status_code == 200, listing.text
    measures = [m["measure"] for m in listing.json()["measures"]]
    assert measures
    failures = []
    for measure in measures:
        for params in ({"from": "2025-01", "to": "2026-01"}, {"from": "2009-01", "to": "2025-08"},
                       {"from": "0001-01", "to": "9999-12"}, {"from": "2999-01"},
                       {"from": "2026-05", "to": "2026-04"}):
            r = s.get(f"/reports/{measure}", params=params)
            if r.status_code != 400:
                failures.append(f"{measure} {params}: {r.status_code} {r.text[:160]}")
    assert not failures, "\n".join(failures)
