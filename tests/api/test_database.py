"""The service and its database: schema checks at start-up, database outages, pool exhaustion,
graceful shutdown, role privileges, migrations and configuration validation."""

import os
import re
import signal
import socket
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from carecoord import (
    Db,
    assert_no_sanitizer_report,
    assert_problem,
    create,
    create_database,
    drop_database,
    free_port,
    log_lines,
    metric_value,
    parse_metrics,
    run_binary,
    service_user_payload,
    signal_consumed,
    tail,
    team_payload,
    unique,
    wait_until,
)


def assert_unavailable(resp):
    body = assert_problem(resp, 503, "service-unavailable")
    retry_after = resp.headers.get("Retry-After", "")
    assert re.fullmatch(r"\d+", retry_after) and int(retry_after) >= 1, f"Retry-After {retry_after!r}"
    return body


def lock_waiters(db, dbname):
    return db.scalar(
        """SELECT count(*) FROM pg_stat_activity
           WHERE datname = %s AND usename = 'carecoord_app' AND wait_event_type = 'Lock'""",
        (dbname,),
    )


class RowLock:
    """Holds a row lock in a superuser transaction so that the service's UPDATE of that row
    blocks (holding its pooled connection) until release()."""

    def __init__(self, db, table, row_id):
        self.conn = db.connect(autocommit=False)
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", (row_id,))
            assert cur.fetchone() == (1,)

    def release(self):
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def in_background(fn):
    """Run fn() in a thread; returns (thread, result dict with 'value' or 'error')."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            result["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


# -- schema version at start-up ---------------------------------------------------------------------


def test_serve_refuses_to_start_when_schema_is_behind(service_factory, scratch_database):
    """An empty database (no migrations applied) is behind the binary: exit 1 with a message."""
    svc = service_factory.start(database_url=scratch_database.app_url, wait=False)
    rc = svc.wait_exit(30)
    text = svc.stderr_text()
    assert rc == 1, f"exit {rc}; log:\n{tail(text)}"
    assert re.search(r"schema|migrat", text, re.I), f"no schema message on stderr:\n{tail(text)}"
    assert_no_sanitizer_report(text)


def test_serve_refuses_to_start_when_schema_is_ahead(service_factory, test_env, request):
    """A database migrated past the binary's newest migration: exit 1 with a message."""
    name = f"cc_ahead_{os.getpid()}_{unique('')}"[:63]
    admin = test_env.pg_url("postgres", "postgres")
    create_database(admin, name, template=test_env.template_db)
    request.addfinalizer(lambda: drop_database(admin, name))
    db = Db(test_env.pg_url("postgres", name), name)
    try:
        cols = {
            r["column_name"]: r
            for r in db.rows(
                """SELECT column_name, data_type, column_default, is_nullable
                   FROM information_schema.columns WHERE table_name = 'schema_migrations'"""
            )
        }
        assert "version" in cols, f"schema_migrations has no version column: {list(cols)}"
        latest = db.rows("SELECT * FROM schema_migrations ORDER BY version DESC LIMIT 1")[0]
        future = dict(latest)
        future["version"] = type(latest["version"])(int(latest["version"]) + 1)
        for col, meta in cols.items():
            if col == "version":
                continue
            if meta["data_type"] in ("text", "character varying"):
                future[col] = f"{int(future['version']):04d}_from_the_future"
            elif meta["column_default"] is not None and meta["data_type"].startswith("timestamp"):
                future.pop(col)
        names = list(future)
        db.execute(
            "INSERT INTO schema_migrations (%s) VALUES (%s)" % (", ".join(names), ", ".join(["%s"] * len(names))),
            [future[n] for n in names],
        )
    finally:
        db.close()
    svc = service_factory.start(database_url=test_env.pg_url("carecoord_app", name), wait=False)
    rc = svc.wait_exit(30)
    text = svc.stderr_text()
    assert rc == 1, f"exit {rc}; log:\n{tail(text)}"
    assert re.search(r"schema|migrat", text, re.I), tail(text)


# -- the database goes away and comes back ------------------------------------------------------------


def test_readyz_503_while_database_is_down_and_recovers_without_restart(
    service_factory, private_cluster, test_env
):
    cluster = private_cluster
    database_url = cluster.start_migrated()
    pool_wait_ms = 500
    svc = service_factory.start(
        database_url=database_url,
        env={"CARECOORD_DB_POOL_WAIT_MS": str(pool_wait_ms), "CARECOORD_DB_POOL_SIZE": "2"},
    )
    with svc.api() as api:
        team = create(api, "/teams", team_payload())
        assert api.get("/readyz").status_code == 200

        cluster.stop()
        assert not cluster.running()
        for path in ("/readyz", "/teams", f"/teams/{team['id']}", "/teams", "/readyz"):
            started = time.monotonic()
            r = api.get(path)
            elapsed = time.monotonic() - started
            assert_unavailable(r)
            assert elapsed < pool_wait_ms / 1000 + 5, f"{path} took {elapsed:.1f}s"
            assert svc.alive(), "service died while the database was down"
        r = api.post("/teams", json=team_payload())
        assert_unavailable(r)

        cluster.start()
        wait_until(lambda: api.get("/teams").status_code == 200, 20, "requests to succeed after restart")
        assert api.get("/readyz").status_code == 200
        again = create(api, "/teams", team_payload())
        assert api.get(f"/teams/{again['id']}").status_code == 200
        assert api.get(f"/teams/{team['id']}").json()["name"] == team["name"]
    svc.stop()


# -- pool exhaustion -----------------------------------------------------------------------------------


def test_pool_exhaustion_gives_503_with_retry_after(service_factory, db, database):
    """With one pooled connection held by a request blocked on a row lock, another request waits
    CARECOORD_DB_POOL_WAIT_MS for a connection and then gets 503 + Retry-After."""
    svc = service_factory.start(
        env={
            "CARECOORD_DB_POOL_SIZE": "1",
            "CARECOORD_DB_POOL_WAIT_MS": "200",
            "CARECOORD_DB_STATEMENT_TIMEOUT_MS": "30000",
        }
    )
    with svc.api() as api, svc.api() as api2:
        su = create(api, "/service-users", service_user_payload())
        lock = RowLock(db, "service_users", su["id"])
        try:
            thread, result = in_background(
                lambda: api.patch(f"/service-users/{su['id']}", json={"given_name": "Blocked"}, headers={"If-Match": '"1"'})
            )
            wait_until(lambda: lock_waiters(db, database.name) >= 1, 10, "the PATCH to wait on the row lock")
            samples = parse_metrics(api2.get("/metrics").text)
            assert metric_value(samples, "carecoord_db_pool_size") == 1
            assert metric_value(samples, "carecoord_db_pool_in_use") == 1
            started = time.monotonic()
            r = api2.get(f"/service-users/{su['id']}")
            elapsed = time.monotonic() - started
            assert_unavailable(r)
            assert 0.15 <= elapsed < 5, f"503 after {elapsed:.2f}s; expected about the 200 ms pool wait"
            assert thread.is_alive(), "the blocked PATCH finished while the lock was held"
        finally:
            lock.release()
        thread.join(30)
        assert not thread.is_alive()
        assert "error" not in result, result.get("error")
        assert result["value"].status_code == 200, result["value"].text
        assert result["value"].json()["given_name"] == "Blocked"
        assert api2.get(f"/service-users/{su['id']}").status_code == 200
    svc.stop()


# -- sessions, statement timeout and round trips ------------------------------------------------------


def test_statement_timeout_cancels_a_statement_waiting_too_long_with_503(service_factory, db, database):
    """CARECOORD_DB_STATEMENT_TIMEOUT_MS is a setting of every pooled session: a change blocked on
    a row lock past it is cancelled (503, nothing changed) and the session serves the next
    request."""
    svc = service_factory.start(env={"CARECOORD_DB_STATEMENT_TIMEOUT_MS": "300",
                                     "CARECOORD_DB_POOL_SIZE": "1"})
    with svc.api() as api:
        su = create(api, "/service-users", service_user_payload())
        lock = RowLock(db, "service_users", su["id"])
        try:
            started = time.monotonic()
            r = api.patch(f"/service-users/{su['id']}", json={"given_name": "Blocked"},
                          headers={"If-Match": '"1"'})
            elapsed = time.monotonic() - started
        finally:
            lock.release()
        assert_unavailable(r)
        assert 0.25 <= elapsed < 5, f"cancelled after {elapsed:.2f}s; the timeout is 300 ms"
        again = api.get(f"/service-users/{su['id']}")
        assert again.status_code == 200, again.text
        assert again.json()["given_name"] == su["given_name"]
        assert again.json()["version"] == 1
    svc.stop()


def test_sessions_closed_by_the_server_are_replaced_before_the_next_request(service_factory, db, database):
    """A pooled session that PostgreSQL ended while it was idle (a restart, an administrator) is
    noticed before anything is sent on it: the next request succeeds rather than failing."""
    svc = service_factory.start(env={"CARECOORD_DB_POOL_SIZE": "2"})
    with svc.api() as api:
        su = create(api, "/service-users", service_user_payload())
        assert api.get(f"/service-users/{su['id']}").status_code == 200
        ended = db.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = 'carecoord'", (database.name,))
        assert ended >= 1
        wait_until(lambda: db.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = 'carecoord'", (database.name,)) == 0, 10,
            "the terminated sessions to be gone")
        for _ in range(4):
            r = api.get(f"/service-users/{su['id']}")
            assert r.status_code == 200, r.text
    svc.stop()


def round_trips_of_each_request(text):
    """The statements of each round trip (debug log), grouped by the request whose log line
    follows them; requests must have been sent one at a time."""
    grouped, pending = {}, []
    for line in log_lines(text):
        if line.get("msg") == "database round trip":
            pending.append(line["statements"])
        elif line.get("msg") == "request":
            grouped[line["request_id"]] = pending
            pending = []
    return grouped


def test_a_read_of_a_person_costs_two_round_trips_and_a_change_three(service_factory, db):
    """BEGIN, the access check and the record travel together; the read event travels with the
    COMMIT (R-AUD-1: same transaction). Counted from the debug log, not timed."""
    svc = service_factory.start(env={"CARECOORD_LOG_LEVEL": "debug"})
    with svc.api() as api:
        su = create(api, "/service-users", service_user_payload())
        read_id, change_id = unique("read-"), unique("change-")
        assert api.get(f"/service-users/{su['id']}", headers={"X-Request-Id": read_id}).status_code == 200
        r = api.patch(f"/service-users/{su['id']}", json={"preferred_language": "Welsh"},
                      headers={"If-Match": '"1"', "X-Request-Id": change_id})
        assert r.status_code == 200, r.text
    trips = wait_until(lambda: (lambda g: g if change_id in g else None)(
        round_trips_of_each_request(svc.stderr_text())), 10, "the request log lines")
    assert trips[read_id] == [["BEGIN", "policy_relationship", "service_users_select"],
                              ["audit_insert", "COMMIT"]], trips[read_id]
    assert trips[change_id] == [["BEGIN", "policy_relationship", "service_users_lock"],
                                ["service_users_update"], ["audit_insert", "COMMIT"]], trips[change_id]
    events = db.rows("SELECT action FROM audit_events WHERE request_id IN (%s, %s) ORDER BY id",
                     (read_id, change_id))
    assert [e["action"] for e in events] == ["read", "update"]
    svc.stop()


def test_a_change_whose_audit_event_fails_is_rolled_back_R_AUD_1(service_factory, db, database):
    """The audit event travels with the COMMIT: if it cannot be written, nothing is committed
    and the caller gets a 500, never the record."""
    marker = unique("audit-fails-")
    db.execute(
        "CREATE FUNCTION carecoord_test_refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN IF NEW.request_id LIKE 'audit-fails-%%' THEN RAISE EXCEPTION 'refused'; END IF;"
        " RETURN NEW; END $$")
    db.execute("CREATE TRIGGER refuse_marked_events BEFORE INSERT ON audit_events"
               " FOR EACH ROW EXECUTE FUNCTION carecoord_test_refuse_event()")
    try:
        svc = service_factory.start()
        with svc.api() as api:
            su = create(api, "/service-users", service_user_payload())
            r = api.patch(f"/service-users/{su['id']}", json={"given_name": "Unaudited"},
                          headers={"If-Match": '"1"', "X-Request-Id": marker})
            assert_problem(r, 500)
            r = api.get(f"/service-users/{su['id']}", headers={"X-Request-Id": marker + "-read"})
            assert_problem(r, 500)
            assert su["nhs_number"] not in r.text
            row = db.one("SELECT given_name, version FROM service_users WHERE id = %s", (su["id"],))
            assert (row["given_name"], row["version"]) == (su["given_name"], 1)
            assert db.count("audit_events", "request_id LIKE %s", (marker + "%",)) == 0
            assert api.get(f"/service-users/{su['id']}").status_code == 200
        svc.stop()
    finally:
        db.execute("DROP TRIGGER refuse_marked_events ON audit_events")
        db.execute("DROP FUNCTION carecoord_test_refuse_event()")


# -- threading: connections outnumber the worker threads -------------------------------------------


def test_idle_keep_alive_connections_beyond_the_worker_threads_are_all_served(service_factory):
    """With 2 worker threads, 40 keep-alive connections stay open and each is answered in turn:
    a connection costs no thread."""
    svc = service_factory.start(env={"CARECOORD_HTTP_THREADS": "2"})
    sockets = []
    try:
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
            sockets.append(sock)
        for rnd in range(2):
            for sock in sockets:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                response = raw_response(sock)
                assert response.startswith(b"HTTP/1.1 200"), response[:200]
        with open(f"/proc/{svc.proc.pid}/status") as f:
            threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
        assert threads < 20, f"{threads} threads for 40 connections"
    finally:
        for sock in sockets:
            sock.close()
    svc.stop()


def raw_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


# -- graceful shutdown ---------------------------------------------------------------------------------


def test_sigterm_lets_in_flight_request_finish_and_exits_0(service_factory, db, database):
    svc = service_factory.start(env={"CARECOORD_DRAIN_TIMEOUT_S": "20", "CARECOORD_DB_STATEMENT_TIMEOUT_MS": "30000"})
    with svc.api() as api:
        su = create(api, "/service-users", service_user_payload())
        lock = RowLock(db, "service_users", su["id"])
        try:
            thread, result = in_background(
                lambda: api.patch(f"/service-users/{su['id']}", json={"given_name": "Drained"}, headers={"If-Match": '"1"'})
            )
            wait_until(lambda: lock_waiters(db, database.name) >= 1, 10, "the PATCH to wait on the row lock")
            svc.signal(signal.SIGTERM)
            wait_until(lambda: signal_consumed(svc.proc.pid, signal.SIGTERM), 10, "SIGTERM to be taken by the service")
            assert svc.alive(), "service exited while a request was in flight"
            assert thread.is_alive()
        finally:
            lock.release()
        thread.join(30)
        assert "error" not in result, f"in-flight request failed: {result.get('error')!r}"
        assert result["value"].status_code == 200, result["value"].text
    rc = svc.wait_exit(30)
    text = svc.stderr_text()
    assert rc == 0, f"exit {rc}; log:\n{tail(text)}"
    assert_no_sanitizer_report(text)
    assert db.one("SELECT given_name, version FROM service_users WHERE id = %s", (su["id"],)) == {
        "given_name": "Drained",
        "version": 2,
    }


def test_sigterm_when_idle_exits_0(service_factory):
    svc = service_factory.start()
    with svc.api() as api:
        assert api.get("/healthz").status_code == 200
    svc.stop()  # asserts exit 0 and no sanitizer report


# -- role privileges -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE sneaky (id int)",
        "ALTER TABLE service_users ADD COLUMN sneaky text",
        "DROP TABLE teams",
        "CREATE INDEX sneaky_idx ON teams (name)",
    ],
)
def test_app_role_cannot_run_ddl(app_conn, sql):
    with app_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM teams")  # the role works at all
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET actor = 'tamperer'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
def test_app_role_cannot_change_or_remove_audit_events_R_AUD_2(app_conn, db, api, sql):
    """R-AUD-2 (append-only part; tamper-evidence comes later): the service's own role can add
    audit events but never change or remove them."""
    create(api, "/service-users", service_user_payload())  # at least one event exists
    before = db.count("audit_events")
    assert before >= 1
    with app_conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(sql)
    assert db.count("audit_events") == before
    assert db.count("audit_events", "actor = 'tamperer'") == 0


# -- migrations ------------------------------------------------------------------------------------------


def migrate(test_env, dbname):
    return run_binary(
        test_env,
        ["migrate"],
        {
            "CARECOORD_MIGRATION_DATABASE_URL": test_env.pg_url("carecoord_owner", dbname),
            "CARECOORD_APP_ROLE": "carecoord_app",
        },
    )


def test_migrate_on_current_database_applies_nothing(test_env, database, db):
    before = db.rows("SELECT * FROM schema_migrations ORDER BY 1")
    done = migrate(test_env, database.name)
    assert done.returncode == 0, done.stderr
    assert_no_sanitizer_report(done.stderr, "migrate")
    assert db.rows("SELECT * FROM schema_migrations ORDER BY 1") == before


def test_migrate_empty_database_then_again_is_idempotent(test_env, scratch_database, service_factory):
    db = Db(scratch_database.superuser_url, scratch_database.name)
    try:
        first = migrate(test_env, scratch_database.name)
        assert first.returncode == 0, first.stderr
        assert_no_sanitizer_report(first.stderr, "migrate")
        applied = db.rows("SELECT * FROM schema_migrations ORDER BY 1")
        # every migration file, by its number (numbers need not be contiguous)
        files = sorted(int(n[:4]) for n in os.listdir(os.path.join(test_env.repo, "db", "migrations"))
                       if re.match(r"^\d{4}_.*\.sql$", n))
        assert [r["version"] for r in applied] == files
        assert files[-1] == test_env.migration_count()
        second = migrate(test_env, scratch_database.name)
        assert second.returncode == 0, second.stderr
        assert db.rows("SELECT * FROM schema_migrations ORDER BY 1") == applied
        assert db.scalar("SELECT tableowner FROM pg_tables WHERE tablename = 'service_users'") == "carecoord_owner"
    finally:
        db.close()
    # the freshly migrated database is usable by the app role through the service
    svc = service_factory.start(database_url=scratch_database.app_url)
    with svc.api() as api:
        create(api, "/service-users", service_user_payload())
        assert api.get("/readyz").json()["schema_version"] == test_env.migration_count()
    svc.stop()


def test_migrate_refuses_a_migration_older_than_the_newest_applied(test_env, scratch_database):
    """A migration that arrives (e.g. from a merged branch) numbered below one already applied
    would be skipped silently; migrate refuses and names it instead."""
    db = Db(scratch_database.superuser_url, scratch_database.name)
    try:
        assert migrate(test_env, scratch_database.name).returncode == 0
        db.execute("DELETE FROM schema_migrations WHERE version = 2")
        done = migrate(test_env, scratch_database.name)
        assert done.returncode != 0
        assert "0002_" in done.stderr and "never applied" in done.stderr, done.stderr
        assert_no_sanitizer_report(done.stderr, "migrate")
        assert 2 not in [r["version"] for r in db.rows("SELECT version FROM schema_migrations")]
    finally:
        db.close()


def test_migrate_without_database_url_is_usage_error(test_env):
    done = run_binary(test_env, ["migrate"], {}, timeout=30)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "CARECOORD_MIGRATION_DATABASE_URL" in done.stderr


# -- configuration validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "var,value",
    [
        ("CARECOORD_PORT", "abc"),
        ("CARECOORD_PORT", "0"),
        ("CARECOORD_PORT", "65536"),
        ("CARECOORD_PORT", "80x"),
        ("CARECOORD_DB_POOL_SIZE", "0"),
        ("CARECOORD_DB_POOL_SIZE", "257"),
        ("CARECOORD_DB_POOL_SIZE", "many"),
        ("CARECOORD_MAX_BODY_BYTES", "1023"),
        ("CARECOORD_MAX_BODY_BYTES", "67108865"),
        ("CARECOORD_LISTEN_ADDRESS", "localhost"),
        ("CARECOORD_LOG_LEVEL", "verbose"),
        ("CARECOORD_JWT_LEEWAY_S", "601"),
        ("CARECOORD_DB_POOL_WAIT_MS", "-5"),
        ("CARECOORD_HTTP_THREADS", "0"),
        ("CARECOORD_HTTP_THREADS", "257"),
        ("CARECOORD_JWT_CACHE_SIZE", "-1"),
        ("CARECOORD_JWT_CACHE_SIZE", "1000001"),
        ("CARECOORD_DATABASE_URL", None),
    ],
)
def test_invalid_configuration_exits_2_naming_the_variable(test_env, database, var, value):
    env = {
        "CARECOORD_DATABASE_URL": database.app_url,
        "CARECOORD_PORT": str(free_port()),
        "CARECOORD_JWT_PUBLIC_KEY_FILE": test_env.public_key_file,
        var: value,
    }
    done = run_binary(test_env, ["serve"], env, timeout=30)
    assert done.returncode == 2, f"exit {done.returncode}; stderr:\n{tail(done.stderr)}"
    assert var in done.stderr, f"stderr does not name {var}:\n{tail(done.stderr)}"
    assert_no_sanitizer_report(done.stderr)


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["serve", "--no-such-flag"]])
def test_bad_command_line_exits_2(test_env, args):
    done = run_binary(test_env, args, {}, timeout=30)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.strip(), "usage error without a message"
