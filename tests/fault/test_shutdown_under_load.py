"""Issue 11, item 3: SIGTERM under a write load.

Requests in flight when the signal arrives complete with 2xx (three of them are held in flight
by row locks until after the signal, so that this is certain, not a matter of timing; requests
waiting behind them on the same worker thread had not started and may be refused); requests
arriving afterwards are refused cleanly: 503 problem+json with Retry-After and `Connection:
close` on a connection that was already open, or the connection refused once the listener has
closed; the process exits 0 without a sanitizer report. Every acknowledged write is in the
database with its audit event, and creates left in doubt are retried with their key against a
new process, giving one record each."""

import signal
import threading
import time

from carecoord import (assert_no_sanitizer_report, create, etag_of, service_user_payload,
                       signal_consumed, tail, team_payload, wait_until)
from faults import Load, Outcomes, check_ledger, check_no_half_writes, report

HELD = 3


def lock_waiters(db):
    return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND usename = 'carecoord_app' AND wait_event_type = 'Lock'")


def test_sigterm_under_write_load(service_factory, db):
    svc = service_factory.start(env={"CARECOORD_DRAIN_TIMEOUT_S": "30", "CARECOORD_HTTP_THREADS": "8",
                                     "CARECOORD_DB_POOL_SIZE": "6", "CARECOORD_DB_STATEMENT_TIMEOUT_MS": "60000"})
    with svc.api() as api:
        team = create(api, "/teams", team_payload())
        people = [create(api, "/service-users", service_user_payload()) for _ in range(HELD)]
    outcomes = Outcomes(answer_deadline_s=40, allow_lost=True, allow_refused=True)
    load = Load(svc.base_url, svc.token, outcomes, team["id"], people=4, intakes=4,
                retry_creates=False).start()
    held = {}
    lock = db.connect(autocommit=False)
    try:
        with lock.cursor() as cur:
            cur.execute("SELECT 1 FROM service_users WHERE id = ANY(%s::uuid[]) FOR UPDATE",
                        ([p["id"] for p in people],))
        load.wait_acknowledged(40, 120)

        def change(person):
            with svc.api() as s:
                held[person["id"]] = s.patch(f"/service-users/{person['id']}", json={"given_name": "Drained"},
                                             headers={"If-Match": etag_of(1)})

        # One after the other: a worker thread blocked in a request serves none of its other
        # connections (README "Threading model"), so each held request must find a free one.
        threads = []
        for person in people:
            threads.append(threading.Thread(target=change, args=(person,), daemon=True))
            threads[-1].start()
            wait_until(lambda: lock_waiters(db) >= len(threads), 20,
                       "the held request to wait on its row lock")
        acked_before = len(outcomes.ledger)
        svc.signal(signal.SIGTERM)
        signalled = time.monotonic()
        wait_until(lambda: signal_consumed(svc.proc.pid, signal.SIGTERM), 10, "SIGTERM to be taken")
        assert svc.alive(), "exited with requests in flight"
        lock.rollback()  # the held requests may now finish
        for t in threads:
            t.join(30)
        rc = svc.wait_exit(40)
        exit_s = time.monotonic() - signalled
    finally:
        lock.close()
        load.stop()
    text = svc.stderr_text()
    assert rc == 0, f"exit {rc}; log:\n{tail(text)}"
    assert_no_sanitizer_report(text)
    statuses = {pid: r.status_code for pid, r in held.items()}
    assert statuses == {p["id"]: 200 for p in people}, f"in-flight requests: {statuses}"
    assert db.count("service_users", "given_name = 'Drained'") == HELD
    assert not outcomes.faults, f"{len(outcomes.faults)} faults, e.g. {outcomes.faults[:10]}"
    check_ledger(db, outcomes)
    check_no_half_writes(db)
    after = len(outcomes.ledger) - acked_before
    svc = service_factory.start()
    with svc.api() as api:
        settled = load.settle_in_doubt(api, db)
    check_no_half_writes(db)
    report("sigterm-under-load", {**outcomes.summary(), "held_in_flight": HELD,
                                  "acknowledged_after_signal": after, "in_doubt_settled": settled,
                                  "exit_s": round(exit_s, 2)})
    svc.stop()
