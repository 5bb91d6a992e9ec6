"""Extracts stream: a large extract is sent while the service's memory stays flat, at most a few
extracts hold a database connection at once, and a client that goes away mid-stream gives its
connection and its slot back."""

import json
import os
import time

import psycopg2
import pytest

from care_setup import new_team
from carecoord import assert_problem, metric_value, mint_token, parse_metrics, wait_until

ROWS = 150_000
PEOPLE = 2_000
MIN_OUTPUT_BYTES = 50 * 1024 * 1024
MAX_GROWTH_KIB = 16 * 1024


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.fixture(scope="module")
def service(service_factory, test_env):
    # AddressSanitizer keeps freed memory in quarantine (256 MB by default) to catch use after
    # free, so that a stream of short-lived batches would look like growth; a small quarantine
    # measures what the service actually holds.
    asan = os.environ.get("ASAN_OPTIONS", "")
    return service_factory.start(env={
        "CARECOORD_PSEUDONYM_KEY_FILE": os.path.join(test_env.keys_dir, "pseudonym.key"),
        "ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4",
    })


@pytest.fixture(scope="module")
def reporting(service):
    with service.api(token=mint_token(service.env, sub="bulk-reporting", roles=("reporting",)),
                     timeout=120) as s:
        yield s


@pytest.fixture(scope="module")
def bulk(api, database):
    """ROWS referrals of PEOPLE made-up people, inserted as the owner role."""
    team = new_team(api)["id"]
    conn = psycopg2.connect(database.owner_url, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""
                INSERT INTO service_users (nhs_number, given_name, family_name, date_of_birth, gender)
                SELECT (9000000000 + g)::text, 'Bulk', 'Person' || g, date '1960-01-01' + g, 'unknown'
                FROM generate_series(1, %s) g""", (PEOPLE,))
            cur.execute("""
                INSERT INTO referrals (service_user_id, source_type, reason, urgency, received_at,
                  response_due_at, status, triaged_urgency, responding_team_id, triaged_at,
                  created_by, updated_at)
                SELECT p.id, 'gp', 'bulk', 'routine', t, t + interval '28 days', 'triaged',
                  'routine', %s, t, 'bulk', t
                FROM generate_series(1, %s) g
                JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM service_users
                      WHERE given_name = 'Bulk') p ON p.n = g %% %s,
                LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second') AS s(t)
                """, (team, ROWS, PEOPLE))
            cur.execute("ANALYZE referrals")
    finally:
        conn.close()
    return team


def pool_in_use(service):
    with service.api() as s:
        return metric_value(parse_metrics(s.get("/metrics").text), "carecoord_db_pool_in_use")


def test_a_large_extract_streams_without_memory_growth(service, reporting, bulk):
    pid = service.proc.pid
    # Warm up every path of an extract (cursor, pseudonyms, rendering) on a small one.
    assert reporting.get("/extracts/referrals", params={"since": "2026-01-02T00:00:00Z"}).ok
    rss_before, hwm_before = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
    rows = size = 0
    peak = rss_before
    started = time.monotonic()
    with reporting.get("/extracts/referrals", stream=True) as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-ndjson"
        next_sample = 0
        for chunk in r.iter_content(chunk_size=256 * 1024):
            size += len(chunk)
            rows += chunk.count(b"\n")
            if size >= next_sample:
                peak = max(peak, status_kib(pid, "VmRSS"))
                next_sample += 4 * 1024 * 1024
    seconds = time.monotonic() - started
    rss_after, hwm_after = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
    report = (f"rows {rows}, bytes {size}, {seconds:.1f} s; VmRSS {rss_before} -> {rss_after} KiB "
              f"(peak sampled {peak}), VmHWM {hwm_before} -> {hwm_after} KiB")
    print(report)
    assert rows >= ROWS and size >= MIN_OUTPUT_BYTES, report
    assert hwm_after - hwm_before <= MAX_GROWTH_KIB, report
    assert peak - rss_before <= MAX_GROWTH_KIB, report
    wait_until(lambda: pool_in_use(service) == 0, 10, "the extract's connection to be released")


def test_extracts_are_bounded_and_a_client_leaving_gives_its_slot_back(service, reporting, bulk):
    token = mint_token(service.env, sub="bulk-reporting", roles=("reporting",))
    held = []
    try:
        # Two extracts whose clients read one chunk and stop: both hold a connection.
        for _ in range(2):
            s = service.api(token=token, timeout=60)
            r = s.get("/extracts/referrals", stream=True)
            assert r.status_code == 200
            # Keep the iterator: dropping it would close the connection at once.
            chunks = r.iter_content(chunk_size=1024)
            next(chunks)
            held.append((s, r, chunks))
        assert pool_in_use(service) == 2
        busy = reporting.get("/extracts/referrals")
        assert_problem(busy, 503, "service-unavailable")
        assert busy.headers["Retry-After"] == "5"
        # Clinical work still finds a connection.
        with service.api() as manager:
            assert manager.get("/teams").status_code == 200
    finally:
        for s, r, _ in held:
            r.close()
            s.close()
    # The service notices the clients are gone: connections and slots come back.
    wait_until(lambda: pool_in_use(service) == 0, 30, "abandoned extracts to release their connections")
    finished = [json.loads(line) for line in service.stderr_text().splitlines()
                if '"extract finished"' in line]
    assert [e["complete"] for e in finished[-2:]] == [False, False]
    wait_until(lambda: reporting.get("/extracts/referrals",
                                     params={"since": "2030-01-01T00:00:00Z"}).status_code == 200,
               10, "an extract slot to be free again")
