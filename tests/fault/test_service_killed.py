"""Issue 11, item 2: the service killed with SIGKILL under a write load, then restarted on the
same database, five times over.

No half-written records (every record has its create event, every accepted referral its episode,
every episode its care-level history and facts, no Idempotency-Key claimed but never answered);
every acknowledged write present with its audit event; creates left in doubt by the kill retried
with their Idempotency-Key give exactly one record each; the audit chain verifies once the sealer
has caught up."""

import signal

from carecoord import create, tail, team_payload, wait_until
from faults import (Load, Outcomes, check_ledger, check_no_half_writes, report,
                    wait_chain_sealed_and_valid)

ROUNDS = 5


def test_service_killed_under_write_load_and_restarted(service_factory, db):
    svc = service_factory.start()
    with svc.api() as api:
        team = create(api, "/teams", team_payload())
    outcomes = Outcomes(answer_deadline_s=15, allow_lost=True, allow_refused=True)
    killed_in_flight = 0
    settled = 0
    for round_ in range(ROUNDS):
        load = Load(svc.base_url, svc.token, outcomes, team["id"], people=3, intakes=3).start()
        try:
            load.wait_acknowledged(40, 120, since=len(outcomes.ledger))
            in_flight = db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                  " AND application_name = 'carecoord' AND state <> 'idle'")
            killed_in_flight += in_flight
            svc.signal(signal.SIGKILL)
            rc = svc.wait_exit(10)
            assert rc == -signal.SIGKILL, f"exit {rc}"
        finally:
            load.stop()
        # the killed process's sessions end (their transactions roll back) on their own
        wait_until(lambda: db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                     " AND application_name = 'carecoord'") == 0, 30,
                   "the killed service's database sessions to end")
        check_no_half_writes(db)
        svc = service_factory.start()
        with svc.api() as api:
            settled += load.settle_in_doubt(api, db)
            check_ledger(db, outcomes)
            check_no_half_writes(db)
    with svc.api() as api:
        chain = wait_chain_sealed_and_valid(api)
    assert not outcomes.faults, f"{len(outcomes.faults)} faults, e.g. {outcomes.faults[:10]}"
    report("service-killed-under-load", {
        **outcomes.summary(), "rounds": ROUNDS, "sessions_busy_at_kill": killed_in_flight,
        "ledger_checked": len(outcomes.ledger), "in_doubt_settled": settled,
        "chain_checked": chain["checked"]})
    svc.stop()
    assert "runtime error" not in tail(svc.stderr_text())
