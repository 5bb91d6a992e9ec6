"""The HTTP layer: routing errors, body limits, JSON parsing, the problem+json error model,
request ids, security headers, health/readiness and metrics."""

import json
import re
import socket
import uuid

import pytest

from carecoord import (
    REQUEST_ID_RE,
    assert_problem,
    assert_security_headers,
    assert_validation,
    metric_value,
    mint_token,
    parse_metrics,
    raw_request,
    team_payload,
    unique,
)

ONE_MIB = 1048576


def json_body_of_size(size, field="name"):
    """A syntactically valid JSON object of exactly `size` bytes: {"name":"aaa…"}."""
    head, foot = f'{{"{field}":"'.encode(), b'"}'
    body = head + b"a" * (size - len(head) - len(foot)) + foot
    assert len(body) == size
    return body


# -- routing --------------------------------------------------------------------------------


def test_unknown_route_is_404_problem(api):
    r = api.get("/no-such-route")
    assert_problem(r, 404, "not-found")
    assert_security_headers(r)


def test_unknown_nested_route_is_404_problem(api):
    r = api.get("/service-users/" + str(uuid.uuid4()) + "/nonexistent")
    assert_problem(r, 404, "not-found")


@pytest.mark.parametrize(
    "method,path,allowed",
    [
        ("DELETE", "/teams", {"GET", "POST"}),
        ("PUT", "/service-users", {"GET", "POST"}),
        ("DELETE", "/service-users/00000000-0000-4000-8000-000000000000", {"GET", "PATCH"}),
        ("POST", "/staff/00000000-0000-4000-8000-000000000000", {"GET", "PATCH"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
def test_wrong_method_on_known_path_is_405_with_allow(api, method, path, allowed):
    r = api.request(method, path, json={} if method in ("POST", "PUT") else None)
    assert_problem(r, 405, "method-not-allowed")
    allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert allowed <= allow, f"Allow {r.headers.get('Allow')!r} lacks {allowed - allow}"
    assert method not in allow
    assert_security_headers(r)


@pytest.mark.parametrize("path", ["/teams", "/healthz", "/service-users"])
def test_trace_is_405_with_allow(api, path):
    r = api.request("TRACE", path)
    assert_problem(r, 405, "method-not-allowed")
    assert "TRACE" not in r.headers.get("Allow", "").upper()
    assert r.headers.get("Allow"), "405 without Allow"


# -- request bodies -----------------------------------------------------------------------------


def test_post_with_text_plain_is_415_and_writes_nothing(api, db):
    before = db.count("teams")
    r = api.post(
        "/teams",
        data=json.dumps(team_payload()).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert_problem(r, 415, "unsupported-media-type")
    assert db.count("teams") == before


@pytest.mark.parametrize("method,path", [("GET", "/teams"), ("DELETE", "/partners/me/webhook")])
def test_a_body_sent_where_none_is_taken_is_400(service, method, path):
    """Anything in it could only be ignored, and the caller would believe it applied."""
    token = mint_token(service.env, sub=unique("partner-"), roles=("partner", "manager"), org="ORG-1")
    with service.api(token=token) as s:
        r = s.request(method, path, json={"status": "deleted"})
        body = assert_problem(r, 400, "bad-request")
        assert "no body" in body["detail"], body
        assert s.request(method, path).status_code != 400


def test_post_without_content_type_is_415(api):
    r = api.post("/teams", data=json.dumps(team_payload()).encode(), headers={"Content-Type": None})
    assert "Content-Type" not in r.request.headers
    assert_problem(r, 415, "unsupported-media-type")


def test_json_with_charset_parameter_is_accepted(api):
    r = api.post(
        "/teams",
        data=json.dumps(team_payload()).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


def test_body_one_byte_over_default_limit_is_413(service, db):
    """Default CARECOORD_MAX_BODY_BYTES is 1 MiB: 1048577 bytes must be refused with 413."""
    body = json_body_of_size(ONE_MIB + 1)
    assert len(body) == 1048577
    before = db.count("teams")
    head = (
        f"POST /teams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Request-Id: too-big-1\r\nConnection: close\r\n\r\n"
    ).encode()
    r = raw_request(service.port, head, chunks=[body])
    assert r.status == 413, (r.status, r.body[:300])
    assert r.header("Content-Type").split(";")[0] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "urn:carecoord:problem:payload-too-large"
    assert problem["status"] == 413
    assert r.header("X-Request-Id") == "too-big-1"
    assert_security_headers(r)
    assert db.count("teams") == before


def test_body_exactly_at_default_limit_is_not_413(api):
    """1048576 bytes is allowed: the request reaches validation (name too long → 422)."""
    body = json_body_of_size(ONE_MIB)
    r = api.post("/teams", data=body, headers={"Content-Type": "application/json"})
    assert_validation(r, "/name")


def test_chunked_body_over_limit_is_413(service):
    """Without Content-Length the limit must still hold while the body streams in."""
    body = json_body_of_size(ONE_MIB + 4096)
    head = (
        "POST /teams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    chunks = []
    step = 64 * 1024
    for i in range(0, len(body), step):
        part = body[i : i + step]
        chunks.append(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    chunks.append(b"0\r\n\r\n")
    r = raw_request(service.port, head, chunks=chunks)
    assert r.status == 413, (r.status, r.body[:300])
    assert r.json()["type"] == "urn:carecoord:problem:payload-too-large"


def test_configured_body_limit_is_enforced_at_limit_plus_one(service_factory):
    svc = service_factory.start(env={"CARECOORD_MAX_BODY_BYTES": "2048"})
    with svc.api() as api:
        at_limit = api.post("/teams", data=json_body_of_size(2048), headers={"Content-Type": "application/json"})
        assert_validation(at_limit, "/name")
        over = api.post("/teams", data=json_body_of_size(2049), headers={"Content-Type": "application/json"})
        assert_problem(over, 413, "payload-too-large")
        # the service is still healthy afterwards
        assert api.get("/healthz").status_code == 200
    svc.stop()


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "x",',
        b'{"name": "x"} trailing',
        b"{name: 'x'}",
        b"",
        b'{"name": "x", }',
        b'{"name": "\\u12"}',
    ],
    ids=["truncated", "trailing-garbage", "not-json", "empty", "trailing-comma", "bad-escape"],
)
def test_malformed_json_is_400(api, db, body):
    before = db.count("teams")
    r = api.post("/teams", data=body, headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "malformed-json")
    assert db.count("teams") == before


@pytest.mark.parametrize("body", [b"[1, 2]", b'"a string"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_rejected(api, db, body):
    before = db.count("teams")
    r = api.post("/teams", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert_problem(r, r.status_code)
    assert db.count("teams") == before


@pytest.mark.parametrize("depth", [64, 100000])
def test_deeply_nested_json_is_400(api, service, depth):
    body = ('{"name":' + "[" * depth + "]" * depth + ',"type":"other"}').encode()
    r = api.post("/teams", data=body, headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    assert service.alive()


def test_moderate_nesting_reaches_validation(api):
    """Nesting well within the limit is parsed: the error is about the field, not the depth."""
    body = ('{"name":' + "[" * 10 + "]" * 10 + ',"type":"other"}').encode()
    assert_validation(api.post("/teams", data=body, headers={"Content-Type": "application/json"}), "/name")


@pytest.mark.parametrize(
    "raw_name",
    [b"\xff\xfe", b"\xc0\xaf", b"abc\xed\xa0\x80", b"\xe2\x82"],
    ids=["invalid-bytes", "overlong", "encoded-surrogate", "truncated-sequence"],
)
def test_invalid_utf8_in_body_is_400(api, db, raw_name):
    before = db.count("teams")
    body = b'{"name":"' + raw_name + b'","type":"other"}'
    r = api.post("/teams", data=body, headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    assert db.count("teams") == before


def test_nul_escape_is_400_in_the_services_words(api, db):
    """The parser's message for \\u0000 names its own option flag; the service says it plainly."""
    before = db.count("teams")
    r = api.post("/teams", data=b'{"name":"a\\u0000b","type":"other"}',
                 headers={"Content-Type": "application/json"})
    body = assert_problem(r, 400, "malformed-json")
    assert "\\u0000 is not allowed in a string" in body["detail"], body
    assert "JSON_" not in r.text, body
    assert db.count("teams") == before


def test_lone_surrogate_escape_is_400(api):
    r = api.post("/teams", data=b'{"name":"\\ud800","type":"other"}', headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


def read_all(sock, deadline_s=5.0):
    """Everything the server sends until it closes the connection (fails if it does not)."""
    sock.settimeout(deadline_s)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("framing", ["two-content-lengths", "content-length-and-chunked"])
def test_ambiguous_body_length_is_400_and_closes_the_connection(service, db, framing):
    """A request whose length is stated twice could carry a second, smuggled request past a proxy
    that reads the other length: it is refused, and nothing after it on the connection is
    read as a request."""
    token = service.token.encode()
    smuggled = (b"POST /teams HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + token + b"\r\nX-Request-Id: smuggled\r\n"
                b"Content-Length: %d\r\n\r\n" % len(json.dumps(team_payload()))
                + json.dumps(team_payload()).encode())
    if framing == "two-content-lengths":
        body = b"{}" + smuggled
        head = b"Content-Length: 2\r\nContent-Length: %d\r\n" % len(body)
    else:
        body = b"2\r\n{}\r\n0\r\n\r\n" + smuggled
        head = b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body)
    before = db.count("teams")
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=5)
    try:
        sock.sendall(b"POST /teams HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + token + b"\r\n" + head + b"\r\n" + body)
        answer = read_all(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert answer.count(b"HTTP/1.1 ") == 1, f"a second request was answered:\n{answer.decode()}"
    assert b"urn:carecoord:problem:bad-request" in answer and b"smuggled" not in answer
    assert re.search(rb"(?im)^connection:\s*close", answer), answer[:400]
    assert re.search(rb"(?im)^x-content-type-options:\s*nosniff", answer)
    assert db.count("teams") == before


# -- request ids and headers ------------------------------------------------------------------


def test_valid_request_id_is_echoed(api):
    rid = "req-" + uuid.uuid4().hex + "_A.b"
    r = api.get("/healthz", headers={"X-Request-Id": rid})
    assert r.headers["X-Request-Id"] == rid


def test_request_id_of_128_chars_is_echoed(api):
    rid = "a" * 128
    assert api.get("/healthz", headers={"X-Request-Id": rid}).headers["X-Request-Id"] == rid


def test_request_id_is_echoed_on_errors_and_in_problem_body(api):
    rid = unique("err-")
    r = api.get("/no-such-route", headers={"X-Request-Id": rid})
    assert r.headers["X-Request-Id"] == rid
    assert assert_problem(r, 404).get("request_id") == rid


def test_request_id_is_generated_when_absent(api):
    a = api.get("/healthz").headers.get("X-Request-Id", "")
    b = api.get("/healthz").headers.get("X-Request-Id", "")
    assert REQUEST_ID_RE.match(a) and REQUEST_ID_RE.match(b), (a, b)
    assert a != b


@pytest.mark.parametrize(
    "bad",
    ["has space", "a" * 129, "slash/inside", "semi;colon", "quote\"d", "ünïcode"],
    ids=["space", "too-long", "slash", "semicolon", "quote", "non-ascii"],
)
def test_invalid_request_id_is_replaced(service, bad):
    # raw socket: requests refuses to send some of these header values
    head = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + b"X-Request-Id: "
        + bad.encode("utf-8")
        + b"\r\n\r\n"
    )
    r = raw_request(service.port, head)
    assert r.status == 200
    got = r.header("X-Request-Id")
    assert got and got != bad and REQUEST_ID_RE.match(got), got


def test_empty_request_id_is_replaced(service):
    r = raw_request(service.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id:\r\n\r\n")
    assert r.status == 200
    assert REQUEST_ID_RE.match(r.header("X-Request-Id") or "")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/teams", "/no-such-route"])
def test_security_headers_on_every_response(api, path):
    assert_security_headers(api.get(path))


def test_security_headers_on_405_and_415(api):
    assert_security_headers(api.request("TRACE", "/teams"))
    assert_security_headers(api.post("/teams", data=b"x", headers={"Content-Type": "text/plain"}))


# -- health, readiness, metrics ---------------------------------------------------------------


def test_healthz_is_200_ok(api):
    r = api.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json() == {"status": "ok"}


def test_readyz_reports_schema_version(api, test_env, db):
    r = api.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert isinstance(body["schema_version"], int)
    assert body["schema_version"] == test_env.migration_count()


def test_metrics_exposes_contract_metric_names(api):
    r = api.get("/metrics")
    assert r.status_code == 200
    ctype = r.headers["Content-Type"].replace(" ", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    names = {n for n, _, _ in parse_metrics(r.text)}
    for expected in (
        "carecoord_http_requests_total",
        "carecoord_http_request_duration_seconds_bucket",
        "carecoord_http_request_duration_seconds_sum",
        "carecoord_http_request_duration_seconds_count",
        "carecoord_db_pool_size",
        "carecoord_db_pool_in_use",
        "carecoord_db_pool_waiting",
    ):
        assert expected in names, f"{expected} missing from /metrics"
    assert re.search(r"^# TYPE carecoord_http_requests_total counter$", r.text, re.M)
    assert re.search(r"^# TYPE carecoord_http_request_duration_seconds histogram$", r.text, re.M)


def test_metrics_pool_size_gauge_matches_configuration(api, service):
    samples = parse_metrics(api.get("/metrics").text)
    assert metric_value(samples, "carecoord_db_pool_size") == int(service.child_env["CARECOORD_DB_POOL_SIZE"])


def test_metrics_count_requests_by_route_template(api):
    route = "/service-users/{id}"
    before = parse_metrics(api.get("/metrics").text)
    raw_id = str(uuid.uuid4())
    r = api.get("/service-users/" + raw_id)
    assert r.status_code == 404
    after_text = api.get("/metrics").text
    after = parse_metrics(after_text)
    key = dict(method="GET", route=route, status="404")
    assert metric_value(after, "carecoord_http_requests_total", **key) == (
        metric_value(before, "carecoord_http_requests_total", **key) + 1
    )
    assert metric_value(after, "carecoord_http_request_duration_seconds_count", route=route) == (
        metric_value(before, "carecoord_http_request_duration_seconds_count", route=route) + 1
    )
    assert raw_id not in after_text, "a raw path leaked into metric labels"


def test_metrics_do_not_label_unknown_paths_verbatim(api):
    """Unmatched paths must not create a label value per path (unbounded cardinality)."""
    token = unique("nowhere")
    assert api.get("/" + token).status_code == 404
    text = api.get("/metrics").text
    assert token not in text
    samples = parse_metrics(text)
    assert any(
        n == "carecoord_http_requests_total" and l.get("status") == "404" for n, l, _ in samples
    ), "404 on an unknown path not counted at all"
