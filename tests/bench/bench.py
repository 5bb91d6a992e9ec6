#!/usr/bin/env python3
"""The carecoord benchmark (README "Performance"), run by scripts/bench.

In one run, on one machine, against one PostgreSQL cluster that scripts/bench has started:

 1. loads the data set of tests/bench/generate.sql into a freshly migrated database;
 2. starts the service and times its audit sealer chaining every generated event;
 3. measures the cold start of `carecoord serve` (exec to the first 200 from /readyz);
 4. traces one request of each hot path: the statements PostgreSQL logs for it, in order, with
    their parameters, and how the service grouped them into round trips (its debug log); from
    that trace it writes two pgbench scripts running the same SQL: one statement at a time, and
    pipelined in the service's own round trips;
 5. per path, drives the service with wrk and PostgreSQL with both pgbench scripts, side by side
    at the same concurrency, and notes the CPU each spent per request;
 6. measures the service's latency at low concurrency, its resident memory with 1,000 open
    keep-alive connections, and its memory over a soak of mixed traffic;
 7. prints a report (and writes it as JSON) with each target and the figure measured.

Nothing here passes or fails on a timing: the report is for people to read.
"""

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import re
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zoneinfo

import jwt
import psycopg2
from cryptography.hazmat.primitives import serialization

HERE = os.path.dirname(os.path.abspath(__file__))
TEAMS, PER_TEAM = 60, 40  # as in generate.sql
CLINICIANS = TEAMS * PER_TEAM
ISSUER, AUDIENCE = "carecoord-bench", "carecoord"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The hot paths, each a wrk script of the same name (tests/bench/wrk).
PATHS = {
    "read_person": "GET /service-users/{id}",
    "read_episode": "GET /episodes/{id}",
    "create_referral": "POST /referrals",
    "update_person": "PATCH /service-users/{id} (If-Match)",
}

# Lists and reports, each asked about a random person n: what it is, and (path, token).
NAMES = ("shah", "begum", "nowak", "chen", "smith", "hughes")
LISTS = {
    "worklist": ("GET /referrals (a manager's intake worklist)",
                 lambda t, n: ("/referrals", t.manager(n))),
    "worklist_received": ("GET /referrals?status=received (manager)",
                          lambda t, n: ("/referrals?status=received", t.manager(n))),
    "caseload": ("GET /service-users (a co-ordinator's people)",
                 lambda t, n: ("/service-users", t.holder(n))),
    "search": ("GET /service-users?name=... (co-ordinator)",
               lambda t, n: (f"/service-users?name={NAMES[n % len(NAMES)]}", t.holder(n))),
    "access_log": ("GET /service-users/{id}/access-log (manager)",
                   lambda t, n: (f"/service-users/{bench_id('service_user', n)}/access-log",
                                 t.manager(n))),
    "audit_denials": ("GET /audit-events?action=deny (manager)",
                      lambda t, n: ("/audit-events?action=deny", t.manager(n))),
    "my_worklist": ("GET /me/worklist (a co-ordinator's)",
                    lambda t, n: ("/me/worklist", t.holder(n))),
    "team_worklist": ("GET /teams/{id}/worklist (a manager's team)",
                      lambda t, n: (f"/teams/{bench_id('team', team_of(n))}/worklist", t.manager(n))),
    "team_caseloads": ("GET /teams/{id}/caseloads (a manager's team)",
                       lambda t, n: (f"/teams/{bench_id('team', team_of(n))}/caseloads", t.manager(n))),
}
REPORTS = ["cpa-review-compliance", "assessment-and-care-plan-timeliness", "risk-review-compliance",
           "carers", "follow-up-after-discharge", "referrals", "caseloads", "data-quality"]


def report_months():
    """(the month 11 months ago, the previous month, the current month), YYYY-MM, in London."""
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date()
    index = today.year * 12 + today.month - 1
    month = lambda i: f"{i // 12:04d}-{i % 12 + 1:02d}"
    return month(index - 11), month(index - 1), month(index)


def report_lists():
    """Each report as a manager reads it (their team, the last 12 months) and as the reporting
    role does (every team, the last complete month; the current one for data quality)."""
    first, previous, current = report_months()
    lists = {}
    for measure in REPORTS:
        key = "report_" + measure.replace("-", "_")
        team = f"?from={current}" if measure == "data-quality" else f"?from={first}&to={current}"
        region = f"?from={current}" if measure == "data-quality" else f"?from={previous}"
        lists[key + "_team"] = (f"GET /reports/{measure}{team} (manager)",
                                lambda t, n, m=measure, q=team: (f"/reports/{m}{q}", t.manager(n)))
        lists[key + "_all"] = (f"GET /reports/{measure}{region} (reporting)",
                               lambda t, n, m=measure, q=region: (f"/reports/{m}{q}", t.reporting))
    return lists


LISTS.update(report_lists())

# The issue's targets for this 2-core machine.
TARGET_RATIO = 0.70
TARGET_P99_MS = 10.0
TARGET_RSS_MIB = 64.0
TARGET_COLD_START_MS = 200.0
TARGET_LIST_MS = 100.0
# The soak (README "Reliability"): resident memory grows by less than this from the soak's start
# to its end, with no failed request. The service is warm at the start: after the benchmark's
# other measurements, or with --soak-only after a warm-up of the same traffic (a fresh service's
# memory rises for the first minutes of connections coming and going, then levels off).
TARGET_SOAK_GROWTH_PCT = 5.0


def bench_id(kind, n):
    """The id generate.sql gives row n of a kind: md5('carecoord-bench/<kind>/<n>')::uuid."""
    return str(uuid.UUID(hashlib.md5(f"carecoord-bench/{kind}/{n}".encode()).hexdigest()))


def clinician_of(n):
    return (n - 1) % CLINICIANS + 1


def team_of(n):
    """The team of person n's co-ordinator, which holds their open episode."""
    return (clinician_of(n) - 1) // PER_TEAM + 1


def log(message):
    print(f"bench: {message}", flush=True)


class Env:
    """What scripts/bench exports."""

    def __init__(self):
        e = os.environ
        self.bin = e["CARECOORD_BIN"]
        self.work = e["CARECOORD_BENCH_WORK"]
        self.port = int(e["CARECOORD_BENCH_PGPORT"])
        self.pg_log = e["CARECOORD_BENCH_PGLOG"]
        self.passwords = {
            "postgres": e["CARECOORD_BENCH_SUPERUSER_PASSWORD"],
            "carecoord_owner": e["CARECOORD_BENCH_OWNER_PASSWORD"],
            "carecoord_app": e["CARECOORD_BENCH_APP_PASSWORD"],
        }
        self.private_key = e["CARECOORD_BENCH_PRIVATE_KEY"]
        self.public_key = e["CARECOORD_BENCH_PUBLIC_KEY"]
        self.database = "carecoord_bench"

    def url(self, role, database=None):
        return (f"postgresql://{role}:{self.passwords[role]}@127.0.0.1:{self.port}/"
                f"{database or self.database}")

    def connect(self, role="postgres", database=None):
        """An autocommit connection, closed at the end of the with block."""
        conn = psycopg2.connect(self.url(role, database))
        conn.autocommit = True
        return contextlib.closing(conn)


def scalar(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def run(argv, extra=None, capture=False):
    environ = dict(os.environ, **(extra or {}))
    done = subprocess.run(argv, env=environ, text=True, capture_output=capture)
    if done.returncode != 0:
        if capture:
            sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bench: {argv[0]} failed with exit status {done.returncode}")
    return done.stdout if capture else None


# -- data ---------------------------------------------------------------------------------------


def load_data(env, args):
    with env.connect("postgres", "postgres") as conn:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {env.database}")
            cur.execute(f"CREATE DATABASE {env.database} OWNER carecoord_owner TEMPLATE template0"
                        " ENCODING 'UTF8'")
    run([env.bin, "migrate"], extra={"CARECOORD_MIGRATION_DATABASE_URL": env.url("carecoord_owner")})
    log(f"generating {args.users} service users and {args.events} audit events")
    started = time.monotonic()
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"users={args.users}", "-v",
         f"events={args.events}", "-f", os.path.join(HERE, "generate.sql"),
         env.url("carecoord_owner")])
    seconds = time.monotonic() - started
    with env.connect("carecoord_owner") as conn:
        size = scalar(conn, "SELECT pg_size_pretty(pg_database_size(current_database()))")
    log(f"data set loaded in {seconds:.0f} s ({size})")
    return {"users": args.users, "events": args.events, "seconds": round(seconds, 1),
            "database_size": size}


def open_people(args):
    """Person numbers with an open episode (generate.sql: the first 80%)."""
    return range(1, int(args.users * 0.80) + 1)


def mint(key, subject, role="coordinator", ttl=6 * 3600):
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "roles": [role],
                       "iat": now, "nbf": now - 60, "exp": now + ttl}, key, algorithm="RS256")


class Tokens:
    """Real RS256 tokens: one for every clinician (also in tokens.tsv, for the wrk scripts), one
    for every team's manager and one for a reporting tool."""

    def __init__(self, env, data_dir):
        with open(env.private_key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)  # parsed once
        self.clinicians = {c: mint(key, f"bench-staff-{c}") for c in range(1, CLINICIANS + 1)}
        self.managers = {m: mint(key, f"bench-manager-{m}", "manager") for m in range(1, TEAMS + 1)}
        self.reporting = mint(key, "bench-reporting", "reporting")
        with open(os.path.join(data_dir, "tokens.tsv"), "w") as out:
            for c, token in self.clinicians.items():
                out.write(f"{c}\t{token}\n")

    def holder(self, n):
        """The token of person n's co-ordinator."""
        return self.clinicians[clinician_of(n)]

    def manager(self, n):
        """The token of the manager of person n's team."""
        return self.managers[team_of(n)]


def write_people(env, args, data_dir):
    """people.tsv with each person's current record version (the update scripts' If-Match)."""
    with env.connect("carecoord_owner") as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT id::text, version FROM service_users")
            versions = dict(cur.fetchall())
    with open(os.path.join(data_dir, "people.tsv"), "w") as out:
        for n in open_people(args):
            person = bench_id("service_user", n)
            out.write(f"{n}\t{clinician_of(n)}\t{person}\t{bench_id('episode', n)}\t"
                      f"{versions[person]}\n")


# -- the service --------------------------------------------------------------------------------


class Service:
    def __init__(self, env, args, log_path, pool_size=None, extra=None):
        self.port = free_port()
        self.log_path = log_path
        self.log = open(log_path, "ab")
        environ = dict(os.environ)
        environ.update({
            "CARECOORD_DATABASE_URL": env.url("carecoord_app"),
            "CARECOORD_PORT": str(self.port),
            "CARECOORD_JWT_PUBLIC_KEY_FILE": env.public_key,
            "CARECOORD_JWT_ISSUER": ISSUER,
            "CARECOORD_JWT_AUDIENCE": AUDIENCE,
            "CARECOORD_DB_POOL_SIZE": str(pool_size or args.pool),
        })
        if args.http_threads:
            environ["CARECOORD_HTTP_THREADS"] = str(args.http_threads)
        environ.update(extra or {})
        self.started = time.monotonic()
        self.proc = subprocess.Popen([env.bin, "serve"], env=environ, stdout=self.log,
                                     stderr=self.log)

    def wait_ready(self, deadline_s=30.0):
        """Seconds from exec to the first 200 from /readyz (polled every half millisecond)."""
        deadline = self.started + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: the service exited with {self.proc.returncode}")
            try:
                status, _, _ = http_once(self.port, "GET", "/readyz")
                if status == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.0005)
        raise SystemExit("bench: the service did not become ready")

    def status_field(self, name):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        return 0

    def rss_mib(self):
        return self.status_field("VmRSS") / 1024

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def wait_idle(self, deadline_s=30.0):
        """Waits until no request is in flight but the metrics scrape asking: requests a load
        generator sent just before it stopped are still finishing, and a change among them must
        be committed before the next run reads the record versions."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            _, _, body = http_once(self.port, "GET", "/metrics")
            found = re.search(rb"^carecoord_http_requests_in_flight (\d+)$", body, re.M)
            if found and int(found.group(1)) <= 1:
                return
            time.sleep(0.01)
        raise SystemExit("bench: the service still has requests in flight")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def http_request(sock, method, path, headers=None, body=None):
    """One HTTP/1.1 request on an open keep-alive socket; returns (status, headers, body)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    payload = body.encode() if body else b""
    if body:
        lines.append(f"Content-Length: {len(payload)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    head_lines = head.decode("latin-1").split("\r\n")
    status = int(head_lines[0].split()[1])
    got = {}
    for line in head_lines[1:]:
        name, _, value = line.partition(":")
        got[name.strip().lower()] = value.strip()
    length = int(got.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        rest += chunk
    return status, got, rest[:length]


def http_once(port, method, path, headers=None, body=None):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        return http_request(sock, method, path, headers, body)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cpu:
    """CPU seconds spent between two points: the whole machine, the service process, and this
    driver's finished children (wrk, pgbench)."""

    def __init__(self, service):
        self.service = service
        self.start = self._now()

    def _now(self):
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
        # user, nice, system, irq, softirq, steal: everything but idle and iowait
        busy = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7)) / CLOCK_TICKS
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (busy, self.service.cpu_seconds(), children.ru_utime + children.ru_stime)

    def per_operation_us(self, operations, client_share=1.0):
        """Microseconds per operation: machine, service, client (the share of the client's CPU
        that fell inside the window), and the rest (PostgreSQL, mostly)."""
        end = self._now()
        machine, service, client = (end[i] - self.start[i] for i in range(3))
        client *= client_share
        per = (lambda seconds: round(seconds * 1e6 / operations)) if operations else (lambda _: None)
        return {"machine": per(machine), "service": per(service), "client": per(client),
                "database": per(machine - service - client)}


# -- measurements -------------------------------------------------------------------------------


def wait_sealed(env, service):
    """Waits until the sealer has chained every event; returns the time it took and the rate."""
    started = time.monotonic()
    with env.connect("carecoord_owner") as conn:
        total = scalar(conn, "SELECT count(*) FROM audit_events")
        sealed = 0
        while sealed < total:
            if service.proc.poll() is not None:
                raise SystemExit("bench: the service exited while sealing")
            time.sleep(0.2)
            sealed = scalar(conn, "SELECT coalesce(max(seq), 0) FROM audit_chain")
    seconds = time.monotonic() - started
    log(f"audit sealer chained {total} events in {seconds:.1f} s")
    return {"events": total, "seconds": round(seconds, 1),
            "events_per_second": round(total / seconds) if seconds else None}


def cold_start(env, args):
    times = []
    for _ in range(args.cold_starts):
        service = Service(env, args, os.path.join(env.work, "cold-start.log"))
        try:
            times.append(service.wait_ready() * 1000)
        finally:
            service.stop()
    log("cold start to ready: " + ", ".join(f"{t:.1f}" for t in times) + " ms")
    return {"runs_ms": [round(t, 1) for t in times], "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1)}


# -- tracing a request's SQL --------------------------------------------------------------------

LOG_PREFIX = "carecoord-trace|%a|"
LINE_RE = re.compile(r"^carecoord-trace\|([^|]*)\|(LOG|DETAIL):  (.*)$")
STATEMENT_RE = re.compile(r"^(?:statement: (.*)|execute ([^:]+): (.*))$")
PARAM_RE = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')(?:, |$)")


def set_tracing(env, on):
    settings = {"log_statement": "'all'", "log_line_prefix": f"'{LOG_PREFIX}'",
                "log_parameter_max_length": "-1"}
    with env.connect("postgres", "postgres") as conn:
        with conn.cursor() as cur:
            for name, value in settings.items():
                cur.execute(f"ALTER SYSTEM SET {name} = {value}" if on else f"ALTER SYSTEM RESET {name}")
            cur.execute("SELECT pg_reload_conf()")


def parse_pg_trace(text):
    """The statements the service's pool sessions ran, in order: [sql, params or None]."""
    statements = []
    for line in text.splitlines():
        m = LINE_RE.match(line)
        if not m or m.group(1) != "carecoord":
            continue
        kind, message = m.group(2), m.group(3)
        if kind == "LOG":
            s = STATEMENT_RE.match(message)
            if s:
                statements.append([s.group(1) or s.group(3), None])
        elif kind == "DETAIL" and message.startswith("parameters: ") and statements:
            params = {}
            for p in PARAM_RE.finditer(message[len("parameters: "):]):
                value = p.group(2)
                params[int(p.group(1))] = None if value == "NULL" else value[1:-1].replace("''", "'")
            statements[-1][1] = params
    return statements


def parse_round_trips(text):
    """The service's debug lines: the statement names of each round trip, in order."""
    trips = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("msg") == "database round trip":
            trips.append(event["statements"])
    return trips


def tail_from(path, offset):
    with open(path, errors="replace") as f:
        f.seek(offset)
        return f.read()


def trace_paths(env, args, data_dir, tokens):
    """One request of each path through a service started after statement logging was turned
    on (so that every one of its sessions logs), with its own round trips at debug level."""
    set_tracing(env, True)
    service = Service(env, args, os.path.join(env.work, "trace.log"), pool_size=1,
                      extra={"CARECOORD_LOG_LEVEL": "debug"})
    n = 1
    person = {"id": bench_id("service_user", n), "episode": bench_id("episode", n),
              "subject": f"bench-staff-{clinician_of(n)}"}
    traces, list_traces = {}, {}
    try:
        service.wait_ready()
        for path in PATHS:
            request = path_request(service.port, path, person, tokens.holder(n))
            pg_before = os.path.getsize(env.pg_log)
            service_before = os.path.getsize(service.log_path)
            status, _, _ = http_once(service.port, *request)
            if status >= 300:
                raise SystemExit(f"bench: tracing {path}: HTTP {status}")
            statements = parse_pg_trace(tail_from(env.pg_log, pg_before))
            trips = parse_round_trips(tail_from(service.log_path, service_before))
            if sum(len(t) for t in trips) != len(statements):
                raise SystemExit(f"bench: tracing {path}: the service's round trips name"
                                 f" {sum(len(t) for t in trips)} statements, PostgreSQL logged"
                                 f" {len(statements)}")
            traces[path] = {"statements": statements, "round_trips": trips}
        for kind, (_, request_of) in LISTS.items():
            target, token = request_of(tokens, n)
            pg_before = os.path.getsize(env.pg_log)
            status, _, _ = http_once(service.port, "GET", target, {"Authorization": f"Bearer {token}"})
            if status >= 300:
                raise SystemExit(f"bench: tracing {kind}: HTTP {status}")
            list_traces[kind] = parse_pg_trace(tail_from(env.pg_log, pg_before))
    finally:
        service.stop()
        set_tracing(env, False)
    summary = {}
    for path, trace in traces.items():
        for variant, pipelined in (("plain", False), ("pipelined", True)):
            script = trace_to_pgbench(trace["statements"], trace["round_trips"], person, pipelined)
            with open(os.path.join(data_dir, f"{path}.{variant}.pgbench"), "w") as f:
                f.write(script)
        log(f"{path}: {len(trace['statements'])} statements in {len(trace['round_trips'])}"
            f" round trips: {trace['round_trips']}")
        summary[path] = {"statements": [sql for sql, _ in trace["statements"]],
                         "round_trips": trace["round_trips"]}
    return summary, list_traces


def plan_of(cur, sql, params):
    """EXPLAIN ANALYZE of one traced statement with its parameters, in a session set up as the
    service's are: its execution time, and the indexes and the tables read whole."""
    cur.execute("SET jit = off; SET max_parallel_workers_per_gather = 0;"
                " SET plan_cache_mode = force_custom_plan")
    cur.execute("DEALLOCATE ALL")
    cur.execute(f"PREPARE traced AS {sql}")
    values = [params[i] for i in sorted(params or {})]
    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE traced"
                + (f"({', '.join(['%s'] * len(values))})" if values else ""), values)
    plan = cur.fetchone()[0][0]
    indexes, scanned = set(), set()

    def walk(node):
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        if node.get("Node Type") == "Seq Scan":
            scanned.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return {"ms": round(plan["Execution Time"], 1), "indexes": sorted(indexes),
            "seq_scans": sorted(scanned)}


def explain_lists(env, list_traces):
    """The plan of the costliest statement of each list and report, as proof of the indexes it
    uses at this scale (the issue asks for EXPLAIN in the benchmark's output)."""
    plans = {}
    with env.connect("carecoord_owner") as conn, conn.cursor() as cur:
        for kind, statements in list_traces.items():
            found = []
            for sql, params in statements:
                if not re.match(r"(?is)^\s*(SELECT|WITH)\b", sql) or "audit_events (" in sql:
                    continue
                found.append({"statement": " ".join(sql.split())[:60], **plan_of(cur, sql, params)})
            plans[kind] = max(found, key=lambda p: p["ms"]) if found else None
    return plans


def path_request(port, path, person, token):
    """(method, target, headers, body) of one request of path about person."""
    auth = {"Authorization": f"Bearer {token}"}
    if path == "read_person":
        return "GET", f"/service-users/{person['id']}", auth, None
    if path == "read_episode":
        return "GET", f"/episodes/{person['episode']}", auth, None
    if path == "create_referral":
        body = json.dumps({"service_user_id": person["id"], "source_type": "gp",
                           "referrer_name": "Dr Bench", "reason": "Low mood.", "urgency": "routine"})
        return "POST", "/referrals", dict(auth, **{"Content-Type": "application/json"}), body
    _, headers, _ = http_once(port, "GET", f"/service-users/{person['id']}", auth)
    return ("PATCH", f"/service-users/{person['id']}",
            dict(auth, **{"Content-Type": "application/merge-patch+json",
                          "If-Match": headers["etag"]}),
            json.dumps({"preferred_language": "Welsh"}))


def trace_to_pgbench(statements, round_trips, person, pipelined):
    """A pgbench script running the traced statements for a random person n: the request's own
    person, episode and clinician become expressions of n; every other parameter is bound
    exactly as the service bound it (a -D variable named in the script's header). Pipelined,
    each of the service's round trips is one pgbench pipeline."""
    by_value = {
        person["id"]: "md5('carecoord-bench/service_user/' || :n)::uuid",
        person["episode"]: "md5('carecoord-bench/episode/' || :n)::uuid",
        person["subject"]: "('bench-staff-' || :c)",
    }
    commands, defines = [], []
    for i, (sql, params) in enumerate(statements):
        for number in sorted(params or {}, reverse=True):  # $12 before $1
            value = params[number]
            if value is None:
                replacement = "NULL"
            elif value in by_value:
                replacement = by_value[value]
            else:
                name = f"p{i}_{number}"
                defines.append((name, value))
                replacement = f":{name}"
            sql = re.sub(rf"\${number}(?!\d)", lambda _, r=replacement: r, sql)
        commands.append(sql + ";")
    lines = [f"-- define {name}={value}" for name, value in defines]
    lines += ["\\set n random(1, :open_people)", "\\set c (:n - 1) % :clinicians + 1"]
    position = 0
    for trip in round_trips:
        group = commands[position:position + len(trip)]
        position += len(trip)
        if pipelined and len(group) > 1:
            lines += ["\\startpipeline"] + group + ["\\endpipeline"]
        else:
            lines += group
    return "\n".join(lines) + "\n"


def pgbench_defines(script):
    defines = []
    for line in script.splitlines():
        if line.startswith("-- define "):
            defines += ["-D", line[len("-- define "):]]
    return defines


# -- load ---------------------------------------------------------------------------------------


def wrk(args, service, script, seconds, data_dir, connections=None, cpu=False, extra=None):
    environ = {"CARECOORD_BENCH_WRK": os.path.join(HERE, "wrk"), "CARECOORD_BENCH_DATA": data_dir,
               "CARECOORD_BENCH_THREADS": str(args.threads), **(extra or {})}
    connections = connections or args.connections
    meter = Cpu(service) if cpu else None
    out = run(["wrk", "-t", str(min(args.threads, connections)), "-c", str(connections), "-d",
               f"{seconds}s", "--timeout", "10s", "-s", os.path.join(HERE, "wrk", f"{script}.lua"),
               f"http://127.0.0.1:{service.port}"], extra=environ, capture=True)
    service.wait_idle()
    for line in out.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT "):])
            elapsed = result["duration_us"] / 1e6
            measured = {"rps": round(result["requests"] / elapsed, 1),
                        "requests": result["requests"], "errors": sum(result["errors"].values()),
                        "error_detail": result["errors"],
                        "p50_ms": result["latency_us"]["p50"] / 1000,
                        "p99_ms": result["latency_us"]["p99"] / 1000,
                        "max_ms": result["latency_us"]["max"] / 1000}
            if meter:
                measured["cpu_us"] = meter.per_operation_us(result["requests"])
            return measured
    raise SystemExit("bench: wrk printed no result:\n" + out)


def pgbench(env, args, service, script_path, log_dir, clients):
    """pgbench for warm-up + duration seconds; figures from the transactions that finished after
    the warm-up (every run opens new connections, whose first transactions plan and cache)."""
    with open(script_path) as f:
        script = f.read()
    for name in os.listdir(log_dir):
        os.unlink(os.path.join(log_dir, name))
    total = args.warmup + args.duration
    argv = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j",
            str(min(args.threads, clients)), "-T", str(total), "-f", script_path, "-D",
            f"open_people={len(open_people(args))}", "-D", f"clinicians={CLINICIANS}", "-l",
            "--log-prefix", os.path.join(log_dir, "pgbench")] + pgbench_defines(script)
    proc = subprocess.Popen(argv + [env.url("carecoord_app")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    time.sleep(args.warmup)
    meter = Cpu(service)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        sys.stderr.write(out)
        raise SystemExit(f"bench: pgbench failed with exit status {proc.returncode}")
    finished = []  # (completion time in µs since the epoch, latency µs)
    for name in os.listdir(log_dir):
        with open(os.path.join(log_dir, name)) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and fields[2].isdigit():
                    finished.append((int(fields[4]) * 1_000_000 + int(fields[5]), int(fields[2])))
    finished.sort()
    if not finished:
        raise SystemExit("bench: pgbench logged no transactions:\n" + out)
    window_start = finished[0][0] + args.warmup * 1_000_000
    window = sorted(lat for at, lat in finished if at >= window_start)
    seconds = (finished[-1][0] - window_start) / 1e6
    if not window or seconds <= 0:
        raise SystemExit(f"bench: no pgbench transaction finished after the {args.warmup} s"
                         f" warm-up; give --duration a few seconds more")
    failed = re.search(r"number of failed transactions: (\d+)", out)

    def pct(p):
        return window[min(len(window) - 1, int(len(window) * p / 100))] / 1000 if window else None

    return {"tps": round(len(window) / seconds, 1) if seconds > 0 else None,
            "transactions": len(window), "errors": int(failed.group(1)) if failed else 0,
            "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": window[-1] / 1000 if window else None,
            "cpu_us": meter.per_operation_us(len(window), args.duration / total)}


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def measure_path(env, args, service, path, data_dir):
    log(f"{path}: wrk, {args.warmup} s warm-up then {args.duration} s at {args.connections}"
        " connections")
    write_people(env, args, data_dir)
    wrk(args, service, path, args.warmup, data_dir)
    write_people(env, args, data_dir)
    result = {"route": PATHS[path], "service": wrk(args, service, path, args.duration, data_dir,
                                                   cpu=True)}
    log_dir = tempfile.mkdtemp(dir=env.work, prefix="pgbench-")
    # At the same concurrency, one statement at a time and in the service's round trips; then in
    # the service's round trips through as many connections as its pool: the service's own cost.
    for name, script, clients in (("plain", "plain", args.connections),
                                  ("pipelined", "pipelined", args.connections),
                                  ("pool", "pipelined", args.pool)):
        log(f"{path}: pgbench ({script}), {args.warmup} s warm-up then {args.duration} s at"
            f" {clients} clients")
        result[name] = pgbench(env, args, service,
                               os.path.join(data_dir, f"{path}.{script}.pgbench"), log_dir, clients)
        result[f"ratio_{name}"] = ratio(result["service"]["rps"], result[name]["tps"])
    s, p = result["service"], result["plain"]
    log(f"{path}: service {s['rps']:.0f} req/s, p99 {s['p99_ms']:.1f} ms; pgbench"
        f" {p['tps']:.0f} tps, p99 {p['p99_ms']:.1f} ms; ratio {result['ratio_plain']}")
    return result


def one_at_a_time(args, service, tokens, request_of):
    """Requests about random people, one at a time on one keep-alive connection, for
    args.latency_duration seconds: their latency when nothing queues. A plain client on purpose:
    wrk running a Lua script that builds each request adds a latency tail of its own here (p99
    near 100 ms where this client and the service's own log agree on 5 ms)."""
    latencies, errors = [], 0
    people = open_people(args)
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.monotonic() + args.latency_duration
        while time.monotonic() < deadline:
            path, token = request_of(tokens, random.choice(people))
            started = time.monotonic()
            status, _, _ = http_request(sock, "GET", path, {"Authorization": f"Bearer {token}"})
            latencies.append((time.monotonic() - started) * 1000)
            errors += status >= 400
    latencies.sort()
    return {"requests": len(latencies), "errors": errors,
            "rps": round(len(latencies) / args.latency_duration, 1),
            "p50_ms": round(latencies[len(latencies) // 2], 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)], 2),
            "max_ms": round(latencies[-1], 2)}


def unqueued_latency(args, service, tokens):
    """A record read by its co-ordinator, and each kind of list or report."""
    found = {"read_person": {"route": PATHS["read_person"], **one_at_a_time(
        args, service, tokens, lambda t, n: (f"/service-users/{bench_id('service_user', n)}",
                                             t.holder(n)))}}
    for kind, (what, request_of) in LISTS.items():
        found[kind] = {"route": what, **one_at_a_time(args, service, tokens, request_of)}
    for r in found.values():
        log(f"{r['route']}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max"
            f" {r['max_ms']:.1f} ms, {r['errors']} errors")
    return found


def keepalive_memory(args, service, tokens):
    """RSS with args.keepalive connections open, each having made one authenticated read as a
    different clinician (so the token cache holds as many tokens)."""
    before = service.rss_mib()
    socks = []
    try:
        for n in range(1, args.keepalive + 1):
            sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)
            socks.append(sock)
            status, _, _ = http_request(sock, "GET", f"/service-users/{bench_id('service_user', n)}",
                                        {"Authorization": f"Bearer {tokens.holder(n)}"})
            if status != 200:
                raise SystemExit(f"bench: keep-alive read answered {status}")
        during = service.rss_mib()
        threads = service.status_field("Threads")
    finally:
        for sock in socks:
            sock.close()
    log(f"resident memory: {before:.1f} MiB idle, {during:.1f} MiB with {len(socks)} keep-alive"
        f" connections ({threads} threads)")
    return {"connections": len(socks), "rss_idle_mib": round(before, 1),
            "rss_open_mib": round(during, 1), "threads": threads}


def soak(env, args, service, data_dir):
    """Mixed traffic for args.soak seconds in slices, with the RSS at the start and after each
    slice; first args.soak_warmup seconds of the same traffic, not measured, in the same slices.
    Each slice is a wrk run with new connections: after a warm-up on the same connections
    throughout, memory still rose over the soak as in a fresh service."""
    for _ in range(args.soak_warmup // args.soak_slice):
        write_people(env, args, data_dir)
        wrk(args, service, "mixed", args.soak_slice, data_dir)
    if args.soak_warmup:
        log(f"soak: warmed up for {args.soak_warmup} s, RSS {service.rss_mib():.1f} MiB")
    samples, results = [round(service.rss_mib(), 1)], []
    slices = max(1, args.soak // args.soak_slice)
    for _ in range(slices):
        write_people(env, args, data_dir)
        results.append(wrk(args, service, "mixed", args.soak_slice, data_dir))
        samples.append(round(service.rss_mib(), 1))
        log(f"soak: {len(results) * args.soak_slice} s, {results[-1]['rps']:.0f} req/s,"
            f" RSS {samples[-1]} MiB")
    # Growth that goes on shows in the second half.
    errors = {}
    for r in results:
        for kind, count in r["error_detail"].items():
            errors[kind] = errors.get(kind, 0) + count
    return {"seconds": slices * args.soak_slice, "warmup_seconds": args.soak_warmup,
            "requests": sum(r["requests"] for r in results),
            "errors": sum(r["errors"] for r in results), "error_detail": errors,
            "rss_mib": samples,
            "growth_mib": round(samples[-1] - samples[0], 1),
            "growth_pct": round(100 * (samples[-1] - samples[0]) / samples[0], 1),
            "second_half_growth_mib": round(samples[-1] - samples[(len(samples) - 1) // 2], 1)}


# -- report -------------------------------------------------------------------------------------


def verdict(ok):
    return "met" if ok else "MISSED"


def report(results):
    out = ["", f"carecoord benchmark, {results['started']}, {results['machine']['cpus']} CPUs", ""]
    d = results["data"]
    out.append(f"data set: {d['users']} service users, {d['events']} audit events"
               f" ({d['database_size']}, generated in {d['seconds']} s)")
    out.append(f"load: {results['settings']['connections']} connections, wrk and pgbench with"
               f" {results['settings']['threads']} threads, {results['settings']['duration']} s"
               " per run after a warm-up")
    conns, pool = results["settings"]["connections"], results["settings"]["pool"]
    if results.get("paths"):
        out += ["", "requests (transactions) per second, p99 latency in ms, and the ratio service / pgbench."
                f" pgbench runs the service's SQL", f"one statement at a time with {conns} clients"
                f" (plain), in the service's round trips with {conns} clients (piped), and in its"
                f" round trips", f"with {pool} clients like the service's pool (pool):"]
        out.append(f"{'path':<38}{'service':>8}{'p99':>7}{'err':>4} |{'plain':>6}{'p99':>7}{'ratio':>6} |"
                   f"{'piped':>6}{'p99':>7}{'ratio':>6} |{'pool':>6}{'p99':>7}{'ratio':>6}")
        for r in results.get("paths", {}).values():
            row = f"{r['route']:<38}{r['service']['rps']:>8.0f}{r['service']['p99_ms']:>7.1f}"
            row += f"{r['service']['errors']:>4}"
            for name in ("plain", "pipelined", "pool"):
                row += f" |{r[name]['tps']:>6.0f}{r[name]['p99_ms']:>7.1f}{r['ratio_' + name]:>6.2f}"
            out.append(row)
        out += ["", "CPU per request in µs: the whole machine; of it the service process and"
                " PostgreSQL with the kernel's work for it (the rest is the load generator):"]
        out.append(f"{'path':<38}{'service':>8}{'itself':>7}{'db':>6} |{'plain':>6}{'db':>7} |"
                   f"{'piped':>6}{'db':>7} |{'pool':>6}{'db':>7}")
        for r in results.get("paths", {}).values():
            s = r["service"]["cpu_us"]
            row = f"{r['route']:<38}{s['machine']:>8}{s['service']:>7}{s['database']:>6}"
            for name in ("plain", "pipelined", "pool"):
                row += f" |{r[name]['cpu_us']['machine']:>6}{r[name]['cpu_us']['database']:>7}"
            out.append(row)
    unqueued = results.get("unqueued")
    if unqueued:
        out += ["", "one request at a time (nothing queues), latency in ms:"]
        out.append(f"{'request':<56}{'p50':>7}{'p99':>7}{'max':>7}{'err':>5}")
        for r in unqueued.values():
            out.append(f"{r['route']:<56}{r['p50_ms']:>7.1f}{r['p99_ms']:>7.1f}{r['max_ms']:>7.1f}"
                       f"{r['errors']:>5}")
    plans = results.get("plans")
    if plans:
        out += ["", "plans (EXPLAIN ANALYZE of each list's costliest statement, at this scale):"]
        for kind, p in plans.items():
            if p:
                out.append(f"  {kind}: {p['ms']} ms, indexes: {', '.join(p['indexes']) or 'none'};"
                           f" whole tables: {', '.join(p['seq_scans']) or 'none'}")
    a = results.get("sealing")
    if a:
        out.append(f"audit sealing: {a['events']} events chained in {a['seconds']} s"
                   f" ({a['events_per_second']}/s)")
    out += ["", "targets:"]
    for r in results.get("paths", {}).values():
        out.append(f"  {r['route']}: service/pgbench {r['ratio_plain']} (pipelined"
                   f" {r['ratio_pipelined']}, through {pool} connections {r['ratio_pool']}) >="
                   f" {TARGET_RATIO}: {verdict(r['ratio_plain'] >= TARGET_RATIO)};"
                   f" p99 {r['service']['p99_ms']:.1f} ms <= {TARGET_P99_MS:.0f} ms:"
                   f" {verdict(r['service']['p99_ms'] <= TARGET_P99_MS)}"
                   f" (pgbench p99 {r['plain']['p99_ms']:.1f} ms)")
    for kind, r in (results.get("unqueued") or {}).items():
        if kind not in LISTS:
            continue
        out.append(f"  {r['route']}: p99 {r['p99_ms']:.1f} ms <= {TARGET_LIST_MS:.0f} ms:"
                   f" {verdict(r['p99_ms'] <= TARGET_LIST_MS and not r['errors'])}"
                   f" (p50 {r['p50_ms']:.1f} ms, {r['errors']} errors)")
    m = results.get("memory")
    if m:
        out.append(f"  resident memory with {m['connections']} keep-alive connections:"
                   f" {m['rss_open_mib']} MiB <= {TARGET_RSS_MIB:.0f} MiB:"
                   f" {verdict(m['rss_open_mib'] <= TARGET_RSS_MIB)} ({m['rss_idle_mib']} MiB idle)")
    s = results.get("soak")
    if s:
        warmup = f", after {s['warmup_seconds']} s of warm-up" if s.get("warmup_seconds") else ""
        out.append(f"  soak of {s['seconds']} s{warmup} ({s['requests']} requests):"
                   f" RSS {s['rss_mib'][0]} -> {s['rss_mib'][-1]} MiB, {s['growth_pct']:+.1f} % <"
                   f" {TARGET_SOAK_GROWTH_PCT:.0f} %: {verdict(s['growth_pct'] < TARGET_SOAK_GROWTH_PCT)};"
                   f" {s['errors']} errors: {verdict(s['errors'] == 0)}"
                   f" (max {max(s['rss_mib'])} MiB; over its second half"
                   f" {s['second_half_growth_mib']:+.1f} MiB)")
    c = results.get("cold_start")
    if c:
        out.append(f"  cold start to ready: median {c['median_ms']} ms, max {c['max_ms']} ms <="
                   f" {TARGET_COLD_START_MS:.0f} ms: {verdict(c['max_ms'] <= TARGET_COLD_START_MS)}")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100000)
    parser.add_argument("--events", type=int, default=1000000)
    parser.add_argument("--duration", type=int, default=30, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk and pgbench threads")
    parser.add_argument("--pool", type=int, default=8, help="CARECOORD_DB_POOL_SIZE")
    parser.add_argument("--http-threads", type=int, help="CARECOORD_HTTP_THREADS")
    parser.add_argument("--keepalive", type=int, default=1000)
    parser.add_argument("--latency-duration", type=int, default=10,
                        help="seconds of requests one at a time, for a read and for each list"
                             " and report (0: none)")
    parser.add_argument("--soak", type=int, default=600, help="seconds of mixed traffic (0: none)")
    parser.add_argument("--soak-slice", type=int, default=60)
    parser.add_argument("--soak-only", action="store_true",
                        help="load the data and run only the soak (README \"Reliability\")")
    parser.add_argument("--soak-warmup", type=int,
                        help="seconds of the soak's traffic before it, not measured (default: 300"
                             " with --soak-only, else 0: the other measurements warm the service)")
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args()
    env = Env()
    results = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "settings": vars(args), "machine": {"cpus": os.cpu_count()}}
    data_dir = os.path.join(env.work, "data")
    os.makedirs(data_dir, exist_ok=True)

    results["data"] = load_data(env, args)
    tokens = Tokens(env, data_dir)
    write_people(env, args, data_dir)
    service = Service(env, args, os.path.join(env.work, "service.log"))
    try:
        service.wait_ready()
        results["sealing"] = wait_sealed(env, service)
        if args.soak_warmup is None:
            args.soak_warmup = 300 if args.soak_only else 0
        if args.soak_only:
            args.cold_starts = args.latency_duration = args.keepalive = 0
            args.paths = ""
        if args.cold_starts:
            results["cold_start"] = cold_start(env, args)
        if args.paths:
            results["sql"], list_traces = trace_paths(env, args, data_dir, tokens)
            results["plans"] = explain_lists(env, list_traces)
            results["paths"] = {}
            for path in args.paths.split(","):
                results["paths"][path] = measure_path(env, args, service, path, data_dir)
        if args.latency_duration:
            results["unqueued"] = unqueued_latency(args, service, tokens)
        if args.keepalive:
            results["memory"] = keepalive_memory(args, service, tokens)
        if args.soak:
            results["soak"] = soak(env, args, service, data_dir)
    finally:
        service.stop()
    print(report(results))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)
        log(f"results written to {args.output}")


if __name__ == "__main__":
    main()
