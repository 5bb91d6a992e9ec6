"""Support code for the carecoord API tests.

The API tests drive the real binary over HTTP against a real PostgreSQL. Each test module (one
file, run as its own pytest process by ctest, possibly in parallel with another) gets:

  * its own database, copied from the migrated template database (`database` fixture), and
  * its own service process on a free port (`service` fixture), or several (`service_factory`).

Everything here reads the environment that scripts/test exports (see `TestEnv`). No sleeps are
used to paper over races: readiness, exits and lock waits are polled against a deadline.
"""

import base64
import json
import os
import random
import re
import shutil
import ctypes
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import psycopg2
import psycopg2.extras
import pytest
import requests

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:carecoord:problem:"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

READY_DEADLINE_S = 30.0  # the sanitizer build starts slowly
STOP_DEADLINE_S = 30.0
HTTP_TIMEOUT_S = 15.0


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------


class TestEnv:
    """The variables scripts/test exports (the contract's "test environment interface")."""

    __test__ = False  # not a test class

    REQUIRED = (
        "CARECOORD_BIN",
        "CARECOORD_REPO",
        "CARECOORD_TEST_PGHOST",
        "CARECOORD_TEST_PGPORT",
        "CARECOORD_TEST_SUPERUSER_PASSWORD",
        "CARECOORD_TEST_OWNER_PASSWORD",
        "CARECOORD_TEST_APP_PASSWORD",
        "CARECOORD_TEST_TEMPLATE_DB",
        "CARECOORD_TEST_KEYS_DIR",
    )

    def __init__(self, environ):
        missing = [name for name in self.REQUIRED if not environ.get(name)]
        if missing:
            pytest.fail(
                "API tests need the environment exported by scripts/test; missing: "
                + ", ".join(missing),
                pytrace=False,
            )
        self.bin = environ["CARECOORD_BIN"]
        self.repo = environ["CARECOORD_REPO"]
        self.pghost = environ["CARECOORD_TEST_PGHOST"]
        self.pgport = int(environ["CARECOORD_TEST_PGPORT"])
        self.superuser_password = environ["CARECOORD_TEST_SUPERUSER_PASSWORD"]
        self.owner_password = environ["CARECOORD_TEST_OWNER_PASSWORD"]
        self.app_password = environ["CARECOORD_TEST_APP_PASSWORD"]
        self.template_db = environ["CARECOORD_TEST_TEMPLATE_DB"]
        self.keys_dir = environ["CARECOORD_TEST_KEYS_DIR"]

    @property
    def public_key_file(self):
        return os.path.join(self.keys_dir, "dev-public.pem")

    @property
    def private_key_file(self):
        return os.path.join(self.keys_dir, "dev-private.pem")

    def pg_url(self, role, dbname):
        password = {
            "postgres": self.superuser_password,
            "carecoord_owner": self.owner_password,
            "carecoord_app": self.app_password,
        }[role]
        return pg_url(role, password, self.pghost, self.pgport, dbname)

    def migration_count(self):
        """The highest NNNN of db/migrations/NNNN_name.sql: the schema version the binary wants."""
        names = os.listdir(os.path.join(self.repo, "db", "migrations"))
        versions = [int(m.group(1)) for m in (re.match(r"^(\d{4})_.*\.sql$", n) for n in names) if m]
        return max(versions)


def pg_url(user, password, host, port, dbname):
    quote = lambda s: urllib.parse.quote(str(s), safe="")
    return f"postgresql://{quote(user)}:{quote(password)}@{host}:{port}/{quote(dbname)}"


def base_env():
    """The inherited environment minus every CARECOORD_* variable (the harness's own variables
    must not leak into the service's configuration); sanitizer options etc. stay."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CARECOORD_")}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix="t"):
    """A short unique token for names that must not collide between tests."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def wait_until(predicate, deadline_s, what, interval_s=0.05):
    """Poll predicate() until it returns a truthy value or the deadline passes (then fail)."""
    end = time.monotonic() + deadline_s
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - we report the last one
            last_exc = exc
        if time.monotonic() >= end:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            pytest.fail(f"timed out after {deadline_s}s waiting for {what}{detail}", pytrace=False)
        time.sleep(interval_s)


# --------------------------------------------------------------------------------------------
# NHS numbers
# --------------------------------------------------------------------------------------------

_nhs_used = set()
_nhs_lock = threading.Lock()
_rng = random.SystemRandom()


def nhs_check_digit(first9):
    """Modulus 11 check digit for a 9-digit string: weights 10..2; 11 -> 0; returns 10 when the
    prefix cannot form a valid number."""
    total = sum(int(d) * w for d, w in zip(first9, range(10, 1, -1)))
    check = 11 - (total % 11)
    return 0 if check == 11 else check


def nhs_number():
    """A valid NHS number never returned before in this process."""
    while True:
        first9 = "".join(str(_rng.randint(0, 9)) for _ in range(9))
        check = nhs_check_digit(first9)
        if check == 10:
            continue
        number = first9 + str(check)
        with _nhs_lock:
            if number in _nhs_used:
                continue
            _nhs_used.add(number)
        return number


def nhs_number_wrong_check_digit():
    valid = nhs_number()
    return valid[:9] + str((int(valid[9]) + 1) % 10)


def nhs_number_check_digit_ten():
    """Ten digits whose first nine give check value 10: no valid NHS number has this prefix."""
    while True:
        first9 = "".join(str(_rng.randint(0, 9)) for _ in range(9))
        if nhs_check_digit(first9) == 10:
            return first9 + "0"


# --------------------------------------------------------------------------------------------
# Database helpers
# --------------------------------------------------------------------------------------------


class Db:
    """Direct access to one test database as the superuser, for checks the API cannot make
    (row counts, audit rows) and for set-up the API does not offer yet (episodes)."""

    def __init__(self, url, name):
        self.url = url
        self.name = name
        self._conn = None

    def connect(self, autocommit=True):
        """A new connection (caller closes): use it for transactions that hold locks."""
        conn = psycopg2.connect(self.url, connect_timeout=10)
        conn.autocommit = autocommit
        return conn

    @property
    def conn(self):
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
        return self._conn

    def rows(self, sql, params=()):
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return [dict(r) for r in cur.fetchall()] if cur.description else []

    def one(self, sql, params=()):
        rows = self.rows(sql, params)
        assert len(rows) == 1, f"expected one row from {sql!r}, got {len(rows)}"
        return rows[0]

    def scalar(self, sql, params=()):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]

    def execute(self, sql, params=()):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)

    def count(self, table, where="TRUE", params=()):
        # table names come from test code, never from input
        return self.scalar(f"SELECT count(*) FROM {table} WHERE {where}", params)

    def counts(self, *tables):
        return {t: self.count(t) for t in tables}

    def close(self):
        if self._conn is not None and not self._conn.closed:
            self._conn.close()


def create_database(superuser_url, name, template=None, owner="carecoord_owner", deadline_s=20.0):
    """CREATE DATABASE, retrying while the template is briefly in use by another session
    (two test modules may copy the template at the same moment)."""
    conn = psycopg2.connect(superuser_url, connect_timeout=10)
    conn.autocommit = True
    try:
        sql = f'CREATE DATABASE "{name}" OWNER "{owner}"'
        if template:
            sql += f' TEMPLATE "{template}"'
        end = time.monotonic() + deadline_s
        while True:
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                return
            except psycopg2.errors.ObjectInUse:
                if time.monotonic() >= end:
                    raise
                time.sleep(0.1)
    finally:
        conn.close()


def drop_database(superuser_url, name):
    conn = psycopg2.connect(superuser_url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


class TestDatabase:
    __test__ = False

    def __init__(self, env, name):
        self.env = env
        self.name = name

    @property
    def app_url(self):
        return self.env.pg_url("carecoord_app", self.name)

    @property
    def owner_url(self):
        return self.env.pg_url("carecoord_owner", self.name)

    @property
    def superuser_url(self):
        return self.env.pg_url("postgres", self.name)


def _database_name(request, tag):
    module = re.sub(r"[^a-z0-9]+", "_", request.module.__name__.lower())[-24:]
    return f"cc_{tag}_{module}_{os.getpid()}_{uuid.uuid4().hex[:6]}"[:63]


# --------------------------------------------------------------------------------------------
# Running the binary
# --------------------------------------------------------------------------------------------


def run_binary(env, args, extra_env=None, timeout=120, input_text=None):
    """Run `$CARECOORD_BIN args...` to completion with a clean CARECOORD_* environment.
    Fails on any sanitizer report, whatever the exit status: a test expecting a command to fail
    would otherwise take a sanitizer's abort (or a leak found at exit) for the refusal."""
    child_env = base_env()
    for k, v in (extra_env or {}).items():
        if v is None:
            child_env.pop(k, None)
        else:
            child_env[k] = str(v)
    done = subprocess.run(
        [env.bin, *args],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
    )
    assert_no_sanitizer_report(done.stderr + done.stdout, f"carecoord {' '.join(args[:1])}")
    return done


def assert_no_sanitizer_report(text, what="the service"):
    hits = [m for m in SANITIZER_MARKERS if m in text]
    assert not hits, f"{what} reported {hits} on stderr:\n{tail(text)}"


def signal_consumed(pid, signum):
    """True once `signum` is no longer pending for the process (it has been delivered to a
    handler or taken by sigwait/signalfd), read from /proc/<pid>/status."""
    bit = 1 << (signum - 1)
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("ShdPnd:", "SigPnd:")) and int(line.split()[1], 16) & bit:
                return False
    return True


def tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


_token_cache = {}


def mint_token(env, sub="carecoord-api-tests", roles=("manager",), org=None):
    """A dev JWT from `carecoord token`, or None when the binary cannot mint one (tokens are
    sent along so that the suite keeps working once routes require authentication)."""
    key = (sub, tuple(roles), org)
    if key in _token_cache:
        return _token_cache[key]
    args = ["token", "--sub", sub, "--ttl", "7200"]
    for role in roles:
        args += ["--role", role]
    if org is not None:
        args += ["--org", org]
    token = None
    try:
        done = run_binary(
            env,
            args,
            {
                "CARECOORD_DEV_SIGNING_KEY_FILE": env.private_key_file,
                "CARECOORD_JWT_ISSUER": "carecoord-dev",
                "CARECOORD_JWT_AUDIENCE": "carecoord",
            },
            timeout=30,
        )
        out = done.stdout.strip()
        if done.returncode == 0 and out.count(".") == 2 and "\n" not in out:
            token = out
    except (OSError, subprocess.TimeoutExpired):
        token = None
    _token_cache[key] = token
    return token


_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child before exec: SIGTERM it if the test process dies (e.g. killed by a ctest
    timeout), so that no service outlives its test run."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Service:
    """One `carecoord serve` process. With scheme="https" (the service given a certificate by
    CARECOORD_TLS_*), ca_file is the CA that verifies it, for readiness and api()."""

    def __init__(self, env, child_env, port, stderr_path, token, scheme="http", ca_file=None):
        self.env = env
        self.child_env = child_env
        self.port = port
        self.stderr_path = stderr_path
        self.token = token
        self.scheme = scheme
        self.verify = ca_file if ca_file else True
        self.base_url = f"{scheme}://127.0.0.1:{port}"
        self.exit_checked = False
        self._stderr_file = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            [env.bin, "serve"],
            env=child_env,
            preexec_fn=_die_with_parent,
            stdin=subprocess.DEVNULL,
            stdout=self._stderr_file,  # stdout is the log too; keep both for diagnosis
            stderr=subprocess.STDOUT,
        )

    # -- state --------------------------------------------------------------------------------

    def alive(self):
        return self.proc.poll() is None

    def stderr_text(self):
        if not self._stderr_file.closed:
            self._stderr_file.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def api(self, **kw):
        """An Api session for this service, sending the service's default token unless another
        one (or token=None for no Authorization header) is passed."""
        kw.setdefault("token", self.token)
        kw.setdefault("verify", self.verify)
        return Api(self.base_url, **kw)

    # -- life cycle -----------------------------------------------------------------------------

    def wait_ready(self, deadline_s=READY_DEADLINE_S):
        """Poll GET /readyz until 200. Returns False if the process exited first."""
        end = time.monotonic() + deadline_s
        with requests.Session() as s:
            while time.monotonic() < end:
                if not self.alive():
                    return False
                try:
                    r = s.get(self.base_url + "/readyz", timeout=2, verify=self.verify)
                    if r.status_code == 200:
                        return True
                except requests.RequestException:
                    pass
                time.sleep(0.05)
        pytest.fail(
            f"service on port {self.port} not ready within {deadline_s}s; log:\n"
            + tail(self.stderr_text()),
            pytrace=False,
        )

    def wait_exit(self, deadline_s=STOP_DEADLINE_S):
        """Wait for the process to exit by itself; return its exit code (fails on timeout)."""
        try:
            rc = self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._stderr_file.close()
            pytest.fail(
                f"service did not exit within {deadline_s}s; log:\n" + tail(self.stderr_text()),
                pytrace=False,
            )
        self._stderr_file.close()
        self.exit_checked = True
        return rc

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, deadline_s=STOP_DEADLINE_S):
        """SIGTERM, then assert a clean exit (0, no sanitizer report)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(deadline_s)
        text = self.stderr_text()
        assert rc == 0, f"service exited with {rc} after SIGTERM; log:\n{tail(text)}"
        assert_no_sanitizer_report(text)
        return rc


class ServiceFactory:
    """Starts services with the test defaults plus per-test environment overrides, and checks
    every one of them at teardown (clean exit, no sanitizer report)."""

    def __init__(self, env, database, log_dir):
        self.env = env
        self.database = database
        self.log_dir = log_dir
        self.services = []

    def default_env(self, database_url, port):
        return {
            "CARECOORD_DATABASE_URL": database_url,
            "CARECOORD_LISTEN_ADDRESS": "127.0.0.1",
            "CARECOORD_PORT": str(port),
            "CARECOORD_DB_POOL_SIZE": "4",
            "CARECOORD_DB_POOL_WAIT_MS": "2000",
            "CARECOORD_DB_STATEMENT_TIMEOUT_MS": "5000",
            "CARECOORD_CONNECTION_TIMEOUT_S": "10",
            "CARECOORD_DRAIN_TIMEOUT_S": "10",
            "CARECOORD_JWT_ISSUER": "carecoord-dev",
            "CARECOORD_JWT_AUDIENCE": "carecoord",
            "CARECOORD_JWT_PUBLIC_KEY_FILE": self.env.public_key_file,
            "CARECOORD_LOG_LEVEL": "info",
        }

    def start(self, env=None, database_url=None, wait=True, attempts=3, scheme="http",
              ca_file=None):
        """Start `carecoord serve`. env overrides the defaults (None removes a variable).
        With wait=True, returns once GET /readyz is 200 (retrying on another port if the chosen
        one was taken by someone else between choosing and binding). scheme="https" with the
        CA file that verifies the service's certificate when env configures CARECOORD_TLS_*."""
        for attempt in range(attempts):
            port = free_port()
            child_env = base_env()
            child_env.update(self.default_env(database_url or self.database.app_url, port))
            for k, v in (env or {}).items():
                if v is None:
                    child_env.pop(k, None)
                else:
                    child_env[k] = str(v)
            if "CARECOORD_PORT" in (env or {}) and env["CARECOORD_PORT"] is not None:
                port = child_env["CARECOORD_PORT"]
            path = os.path.join(self.log_dir, f"service-{len(self.services)}-{port}.log")
            svc = Service(self.env, child_env, port, path, mint_token(self.env), scheme, ca_file)
            self.services.append(svc)
            if not wait:
                return svc
            if svc.wait_ready():
                return svc
            rc = svc.wait_exit(5)
            text = svc.stderr_text()
            if attempt + 1 < attempts and re.search(r"in use|bind", text, re.I):
                continue
            pytest.fail(f"service exited with {rc} before it was ready; log:\n{tail(text)}", pytrace=False)
        raise AssertionError("unreachable")

    def teardown(self):
        problems = []
        for svc in self.services:
            try:
                if svc.alive():
                    svc.proc.send_signal(signal.SIGTERM)
                    try:
                        rc = svc.proc.wait(timeout=STOP_DEADLINE_S)
                    except subprocess.TimeoutExpired:
                        svc.proc.kill()
                        svc.proc.wait()
                        problems.append(f"port {svc.port}: no exit within {STOP_DEADLINE_S}s of SIGTERM")
                        continue
                    if rc != 0:
                        problems.append(f"port {svc.port}: exit {rc} after SIGTERM:\n{tail(svc.stderr_text())}")
                elif not svc.exit_checked and svc.proc.returncode != 0:
                    problems.append(
                        f"port {svc.port}: exited unexpectedly with {svc.proc.returncode}:\n"
                        + tail(svc.stderr_text())
                    )
                text = svc.stderr_text()
                hits = [m for m in SANITIZER_MARKERS if m in text]
                if hits:
                    problems.append(f"port {svc.port}: sanitizer report {hits}:\n{tail(text, 120)}")
            finally:
                if not svc._stderr_file.closed:
                    svc._stderr_file.close()
        if problems:
            pytest.fail("service teardown problems:\n" + "\n\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------------------------


class Api(requests.Session):
    """requests.Session with a base URL, a default timeout and (when available) a bearer token.
    Paths starting with '/' are joined to base_url."""

    def __init__(self, base_url, token=None, timeout=HTTP_TIMEOUT_S, verify=True):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.default_timeout = timeout
        # For https: True (the system's CAs) or a CA file. Passed with every request, because
        # requests prefers REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment to a
        # session's own setting.
        self.verify = verify
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", self.default_timeout)
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)

    def url(self, path):
        return self.base_url + path


class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), names as received
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def raw_request(port, data, timeout=HTTP_TIMEOUT_S, host="127.0.0.1", chunks=None):
    """Send raw bytes (a whole HTTP request, or its head followed by `chunks`) and parse one
    response. Sending errors after the head are tolerated: a server may answer (e.g. 413) and
    close before it has read the whole body; the answer is still read and returned."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        try:
            sock.sendall(data)
            for chunk in chunks or ():
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _read_response(sock)
    finally:
        sock.close()


def _read_response(sock):
    f = sock.makefile("rb")
    try:
        status_line = f.readline(65537).decode("latin-1")
    except ConnectionResetError:
        status_line = ""
    if not status_line:
        raise ConnectionError("connection closed without a response")
    parts = status_line.rstrip("\r\n").split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    while True:
        line = f.readline(65537).decode("latin-1")
        if line in ("\r\n", "\n", ""):
            break
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    hmap = {k.lower(): v for k, v in headers}
    body = b""
    try:
        if "chunked" in hmap.get("transfer-encoding", "").lower():
            while True:
                size = int(f.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while f.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += f.read(size)
                f.readline()
        elif "content-length" in hmap:
            body = f.read(int(hmap["content-length"]))
        else:
            body = f.read()
    except ConnectionResetError:
        pass
    return RawResponse(status, reason, headers, body)


def assert_problem(resp, status, slug=None, path=None):
    """Assert resp is an RFC 7807 problem as the contract defines it; return its body."""
    ctype = resp.headers.get("Content-Type", "")
    assert resp.status_code == status, (
        f"expected {status}, got {resp.status_code}: {resp.headers.get('Content-Type')} {resp.text[:500]}"
    )
    assert ctype.split(";")[0].strip() == PROBLEM_CONTENT_TYPE, f"Content-Type {ctype!r}: {resp.text[:300]}"
    body = resp.json()
    for key in ("type", "title", "status", "detail"):
        assert key in body, f"problem lacks {key!r}: {body}"
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert body["status"] == status, body
    assert body["type"].startswith(PROBLEM_TYPE_PREFIX), body
    if slug is not None:
        assert body["type"] == PROBLEM_TYPE_PREFIX + slug, body
    if "request_id" in body:
        assert body["request_id"] == resp.headers.get("X-Request-Id"), (body, resp.headers)
    if path is None and resp.request is not None:
        path = urllib.parse.urlsplit(resp.request.url).path
    if path is not None and "instance" in body:
        assert body["instance"] == path, body
    return body


def error_fields(problem):
    """The JSON pointers in a validation problem's `errors` list."""
    errors = problem.get("errors")
    assert isinstance(errors, list) and errors, f"validation problem without errors: {problem}"
    for e in errors:
        assert isinstance(e, dict) and isinstance(e.get("field"), str), problem
        assert isinstance(e.get("reason"), str) and e["reason"], problem
    return [e["field"] for e in errors]


def assert_validation(resp, *fields):
    """422 validation-failed listing (at least) each of `fields` as a JSON pointer."""
    body = assert_problem(resp, 422, "validation-failed")
    listed = error_fields(body)
    for field in fields:
        assert field in listed, f"{field} not among the listed errors {listed}: {body}"
    return body


def assert_security_headers(resp):
    get = resp.header if isinstance(resp, RawResponse) else resp.headers.get
    cache = get("Cache-Control") or ""
    assert "no-store" in cache.lower(), f"Cache-Control {cache!r}"
    assert (get("X-Content-Type-Options") or "").lower() == "nosniff"
    rid = get("X-Request-Id") or ""
    assert REQUEST_ID_RE.match(rid), f"X-Request-Id {rid!r}"


def etag_of(version):
    return f'"{version}"'


def paginate(api, path, params=None, via="cursor", limit=2, max_pages=1000):
    """Walk every page of a list endpoint. via='cursor' follows next_cursor, via='link' follows
    the Link rel="next" header. Returns (items, pages)."""
    params = dict(params or {})
    params["limit"] = limit
    items, pages = [], []
    r = api.get(path, params=params)
    while True:
        assert r.status_code == 200, f"{r.status_code} {r.text[:300]}"
        body = r.json()
        assert set(body) >= {"items", "next_cursor"}, body
        assert len(body["items"]) <= limit
        pages.append(body)
        items.extend(body["items"])
        link_next = r.links.get("next")
        if body["next_cursor"] is None:
            assert link_next is None, f"last page still has Link next: {r.headers.get('Link')}"
            break
        assert link_next is not None, f"page with next_cursor lacks Link rel=next: {r.headers}"
        assert len(pages) < max_pages, "pagination does not terminate"
        if via == "cursor":
            r = api.get(path, params={**params, "cursor": body["next_cursor"]})
        else:
            url = urllib.parse.urljoin(api.base_url + "/", link_next["url"])
            r = api.get(url)
    return items, pages


def walk_json_strings(value):
    """Every string anywhere inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from walk_json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_json_strings(v)


# --------------------------------------------------------------------------------------------
# Prometheus text parsing
# --------------------------------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def parse_metrics(text):
    """[(name, {label: value}, float)] for every sample line."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line.strip())
        assert m, f"unparseable metrics line: {line!r}"
        labels = {}
        if m.group(3):
            pos = 0
            raw = m.group(3)
            while pos < len(raw):
                lm = _LABEL_RE.match(raw, pos)
                assert lm, f"bad labels in {line!r}"
                labels[lm.group(1)] = lm.group(2).encode().decode("unicode_escape")
                pos = lm.end()
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def metric_value(samples, name, **labels):
    """Sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items()))


# --------------------------------------------------------------------------------------------
# A private PostgreSQL cluster (for tests that stop and start PostgreSQL)
# --------------------------------------------------------------------------------------------


class PrivateCluster:
    """A throwaway cluster run through scripts/pg-cluster, on its own port, used by tests that
    must stop PostgreSQL under a running service without disturbing other test modules."""

    def __init__(self, env):
        self.env = env
        self.script = os.path.join(env.repo, "scripts", "pg-cluster")
        self.base = tempfile.mkdtemp(prefix="carecoord-private-pg-")
        # the postgres OS user must be able to reach the data directory below this one
        os.chmod(self.base, 0o711)
        self.cluster_dir = os.path.join(self.base, "pg")  # scripts/pg-cluster creates it
        self.port = free_port()
        self.superuser_password = uuid.uuid4().hex
        self.owner_password = uuid.uuid4().hex
        self.app_password = uuid.uuid4().hex
        self.pwfile = os.path.join(self.base, "superuser.pw")
        with open(self.pwfile, "w") as f:
            f.write(self.superuser_password + "\n")
        os.chmod(self.pwfile, 0o600)
        self.started = False

    def run(self, *args, check=True, timeout=180):
        done = subprocess.run(
            [self.script, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "CARECOORD_PG_FAST": "1"},  # throwaway: durability not needed
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"scripts/pg-cluster {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}",
                pytrace=False,
            )
        return done

    def init(self):
        self.run("init", self.cluster_dir, str(self.port), self.pwfile)

    def start(self):
        self.run("start", self.cluster_dir)
        self.started = True

    def stop(self):
        self.run("stop", self.cluster_dir)
        self.started = False

    def running(self):
        return self.run("status", self.cluster_dir, check=False).returncode == 0

    def url(self, role, dbname):
        password = {
            "postgres": self.superuser_password,
            "carecoord_owner": self.owner_password,
            "carecoord_app": self.app_password,
        }[role]
        return pg_url(role, password, "127.0.0.1", self.port, dbname)

    def create_carecoord_database(self, dbname="carecoord"):
        """The roles and database the contract describes, in this cluster; not yet migrated."""
        conn = psycopg2.connect(self.url("postgres", "postgres"), connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE ROLE carecoord_owner LOGIN PASSWORD %s", (self.owner_password,))
                cur.execute("CREATE ROLE carecoord_app LOGIN PASSWORD %s", (self.app_password,))
                cur.execute(f'CREATE DATABASE "{dbname}" OWNER carecoord_owner')
        finally:
            conn.close()

    def start_migrated(self, dbname="carecoord"):
        """Initialise and start the cluster, create the roles and database, and migrate it with
        the binary under test. Returns the app role's URL for a service."""
        self.init()
        self.start()
        self.create_carecoord_database(dbname)
        done = run_binary(
            self.env,
            ["migrate"],
            {
                "CARECOORD_MIGRATION_DATABASE_URL": self.url("carecoord_owner", dbname),
                "CARECOORD_APP_ROLE": "carecoord_app",
            },
        )
        assert done.returncode == 0, done.stderr
        return self.url("carecoord_app", dbname)

    def destroy(self):
        try:
            if os.path.isdir(self.cluster_dir) and self.running():
                self.run("stop", self.cluster_dir, check=False)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Fixtures (imported by tests/api/conftest.py)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_env():
    return TestEnv(os.environ)


@pytest.fixture(scope="module")
def database(request, test_env):
    """A database of this module's own, copied from the migrated template; dropped at the end."""
    name = _database_name(request, "t")
    admin_url = test_env.pg_url("postgres", "postgres")
    create_database(admin_url, name, template=test_env.template_db)
    try:
        yield TestDatabase(test_env, name)
    finally:
        drop_database(admin_url, name)


@pytest.fixture(scope="module")
def db(database):
    """Superuser access to the module's database (autocommit)."""
    helper = Db(database.superuser_url, database.name)
    try:
        yield helper
    finally:
        helper.close()


@pytest.fixture(scope="module")
def service_factory(test_env, database, tmp_path_factory):
    factory = ServiceFactory(test_env, database, str(tmp_path_factory.mktemp("service-logs")))
    try:
        yield factory
    finally:
        factory.teardown()


@pytest.fixture(scope="module")
def service(service_factory):
    """The module's service, ready; stopped at the end with SIGTERM and checked for exit 0 and
    the absence of sanitizer reports (by the factory's teardown)."""
    return service_factory.start()


@pytest.fixture(scope="module")
def api(service):
    with service.api() as session:
        yield session


@pytest.fixture
def private_cluster(test_env):
    cluster = PrivateCluster(test_env)
    if not os.access(cluster.script, os.X_OK):
        cluster.destroy()
        pytest.fail("scripts/pg-cluster is missing or not executable", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def scratch_database(request, test_env):
    """An EMPTY database (not from the template) owned by carecoord_owner; dropped afterwards."""
    name = _database_name(request, "e")
    admin_url = test_env.pg_url("postgres", "postgres")
    create_database(admin_url, name, template="template0")
    try:
        yield TestDatabase(test_env, name)
    finally:
        drop_database(admin_url, name)


# --------------------------------------------------------------------------------------------
# Resource payloads
# --------------------------------------------------------------------------------------------


def service_user_payload(**overrides):
    body = {
        "nhs_number": nhs_number(),
        "given_name": "Alex",
        "family_name": unique("Fam"),
        "date_of_birth": "1980-05-17",
        "gender": "unknown",
    }
    body.update(overrides)
    return body


def full_service_user_payload(**overrides):
    body = service_user_payload(
        address={"lines": ["1 High Street", "Little Town"], "postcode": "AB1 2CD"},
        gp_practice={"ods_code": "A81001", "name": "The Surgery"},
        preferred_language="Welsh",
        interpreter_required=True,
        cultural_religious_needs="Halal diet",
        communication_needs="Large print",
    )
    body.update(overrides)
    return body


def team_payload(**overrides):
    body = {"name": unique("Team "), "type": "community_mental_health"}
    body.update(overrides)
    return body


def staff_payload(team_id, **overrides):
    body = {
        "subject": unique("sub-"),
        "name": unique("Staff "),
        "professional_role": "nurse",
        "team_id": team_id,
        "gender": "female",
    }
    body.update(overrides)
    return body


def create(api, collection, payload, **kw):
    r = api.post(collection, json=payload, **kw)
    assert r.status_code == 201, f"create {collection}: {r.status_code} {r.text[:500]}"
    return r.json()


# --------------------------------------------------------------------------------------------
# Signing keys and tokens minted by the tests themselves
# --------------------------------------------------------------------------------------------
#
# Keys are generated at test time (never stored in the repository). A `SigningKey` pairs a
# private key with its JWS algorithm and can write the public half as the service expects it
# (PEM file or JWKS file); `key_config_env` turns such a file into the service's key settings
# for ServiceFactory.start(env=...).

JWT_KEY_VARS = (
    "CARECOORD_JWT_PUBLIC_KEY_FILE",
    "CARECOORD_JWT_JWKS_FILE",
    "CARECOORD_JWT_DEV_HS256_SECRET_FILE",
)


def b64url(data):
    """Unpadded base64url of bytes (or of a str's UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8 or 1, "big"))


def key_config_env(public_key_file=None, jwks_file=None, hs256_secret_file=None, **extra):
    """The service's key configuration: exactly the given source(s) set, the others removed
    (ServiceFactory.start treats None as "unset"). Extra CARECOORD_* settings may be added."""
    env = {
        "CARECOORD_JWT_PUBLIC_KEY_FILE": public_key_file,
        "CARECOORD_JWT_JWKS_FILE": jwks_file,
        "CARECOORD_JWT_DEV_HS256_SECRET_FILE": hs256_secret_file,
    }
    env.update(extra)
    return env


class SigningKey:
    """A freshly generated RSA 2048 (RS256) or EC P-256 (ES256) key pair."""

    def __init__(self, kind="RSA", kid=None):
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if kind == "RSA":
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
        elif kind == "EC":
            self.private_key = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
        else:
            raise ValueError(kind)
        self.kind = kind
        self.kid = kid

    @property
    def public_pem(self):
        from cryptography.hazmat.primitives import serialization

        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def private_pem(self):
        """PKCS#8 PEM, unencrypted (what jose's importPKCS8 reads)."""
        from cryptography.hazmat.primitives import serialization

        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self, kid=None, alg=None):
        numbers = self.private_key.public_key().public_numbers()
        if self.kind == "RSA":
            jwk = {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
        else:
            jwk = {
                "kty": "EC",
                "crv": "P-256",
                "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big")),
            }
        kid = kid or self.kid
        if kid:
            jwk["kid"] = kid
        if alg:
            jwk["alg"] = alg
        jwk["use"] = "sig"
        return jwk

    def write_public_pem(self, path):
        with open(path, "wb") as f:
            f.write(self.public_pem)
        return path

    def write_private_pem(self, path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.private_pem)
        return path

    def sign(self, claims, headers=None, alg=None):
        """A compact JWS made by PyJWT with this key (alg defaults to the key's own)."""
        import jwt as pyjwt

        headers = dict(headers or {})
        if self.kid and "kid" not in headers:
            headers["kid"] = self.kid
        return _as_text(pyjwt.encode(claims, self.private_key, algorithm=alg or self.alg, headers=headers))


def _as_text(token):
    return token.decode("ascii") if isinstance(token, bytes) else token


def write_jwks(path, jwks):
    """Write {"keys": [...]} (a list of JWKs, or a whole JWKS dict) to path."""
    doc = jwks if isinstance(jwks, dict) else {"keys": list(jwks)}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return path


def write_secret(path, secret):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret if isinstance(secret, bytes) else secret.encode("utf-8"))
    return path


def claims(sub=None, roles=("manager",), ttl=600, issuer="carecoord-dev", audience="carecoord",
           now=None, roles_claim="roles", **overrides):
    """Standard claims for a test token: iss, aud, sub, iat, exp and the roles claim.
    overrides replace (or with value None, remove) individual claims."""
    now = int(time.time()) if now is None else now
    body = {
        "iss": issuer,
        "aud": audience,
        "sub": sub if sub is not None else unique("sub-"),
        "iat": now,
        "exp": now + ttl,
    }
    if roles is not None:
        body[roles_claim] = list(roles) if isinstance(roles, (list, tuple)) else roles
    for k, v in overrides.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


def hs256_token(secret, claims_body, headers=None):
    """A compact HS256 JWS made by hand (PyJWT refuses PEM-looking HMAC secrets, which is
    exactly what the key-confusion test needs)."""
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", **(headers or {})}
    signing_input = b64url(json.dumps(header, separators=(",", ":"))) + "." + b64url(
        json.dumps(claims_body, separators=(",", ":"))
    )
    key = secret if isinstance(secret, bytes) else secret.encode("utf-8")
    sig = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def unsigned_token(claims_body, alg="none", signature=""):
    """A JWS with the given header alg (default "none") and the given signature segment."""
    header = {"alg": alg, "typ": "JWT"}
    return (
        b64url(json.dumps(header, separators=(",", ":")))
        + "."
        + b64url(json.dumps(claims_body, separators=(",", ":")))
        + "."
        + signature
    )


def jose_token(env, key, claims_body, alg=None, kid=None, timeout=60):
    """A token minted by the `jose` npm package (tests/support/mint_jose.mjs) with key's
    private half, passed on stdin. Fails the test when node or jose is unavailable."""
    script = os.path.join(env.repo, "tests", "support", "mint_jose.mjs")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (needed for the jose interoperability tests)", pytrace=False)
    args = [node, script, "--alg", alg or key.alg, "--claims", json.dumps(claims_body)]
    kid = kid or key.kid
    if kid:
        args += ["--kid", kid]
    done = subprocess.run(
        args,
        input=key.private_pem.decode("ascii"),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=env.repo,
    )
    if done.returncode != 0:
        pytest.fail(
            f"mint_jose.mjs exited {done.returncode} (is node_modules installed? run `npm ci`):\n"
            f"{done.stderr}",
            pytrace=False,
        )
    token = done.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token, f"mint_jose.mjs printed {done.stdout!r}"
    return token


def parse_challenge(value):
    """('Bearer', {param: value}) from a WWW-Authenticate value with one challenge."""
    value = (value or "").strip()
    scheme, _, rest = value.partition(" ")
    params = {}
    for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', rest):
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return scheme, params


def log_lines(text):
    """The JSON objects among the lines of a service log (other lines are skipped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


@pytest.fixture
def app_conn(database):
    """A connection as the application role, to prove what its privileges refuse."""
    conn = psycopg2.connect(database.app_url, connect_timeout=10)
    conn.autocommit = True
    yield conn
    conn.close()
