"""The benchmark (scripts/bench, tests/bench/) in miniature, so that it keeps working at every
commit: a small data set, one-second runs, a private cluster. Only correctness is asserted (it
ran, every request and transaction succeeded, the SQL trace matches the service's round trips);
the timings it reports decide nothing here."""

import json
import os
import subprocess
import sys

import psycopg2

from carecoord import tail

USERS, EVENTS, KEEPALIVE = 400, 4000, 50


def test_the_benchmark_runs_end_to_end_without_a_failed_request(private_cluster, test_env, tmp_path):
    cluster = private_cluster
    cluster.init()
    cluster.start()
    conn = psycopg2.connect(cluster.url("postgres", "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE ROLE carecoord_owner LOGIN PASSWORD %s", (cluster.owner_password,))
        cur.execute("CREATE ROLE carecoord_app LOGIN PASSWORD %s", (cluster.app_password,))
    conn.close()
    work = tmp_path / "bench"
    work.mkdir()
    output = tmp_path / "results.json"
    env = {
        **os.environ,
        "CARECOORD_BIN": test_env.bin,
        "CARECOORD_BENCH_WORK": str(work),
        "CARECOORD_BENCH_PGPORT": str(cluster.port),
        "CARECOORD_BENCH_PGLOG": os.path.join(cluster.cluster_dir, "postgresql.log"),
        "CARECOORD_BENCH_SUPERUSER_PASSWORD": cluster.superuser_password,
        "CARECOORD_BENCH_OWNER_PASSWORD": cluster.owner_password,
        "CARECOORD_BENCH_APP_PASSWORD": cluster.app_password,
        "CARECOORD_BENCH_PRIVATE_KEY": test_env.private_key_file,
        "CARECOORD_BENCH_PUBLIC_KEY": test_env.public_key_file,
    }
    done = subprocess.run(
        [sys.executable, os.path.join(test_env.repo, "tests", "bench", "bench.py"), "--users", str(USERS),
         # Three seconds a run: a loaded machine (other tests run alongside) can take the
         # first second to connect, leaving a one-second window empty.
         "--events", str(EVENTS), "--duration", "3", "--warmup", "1", "--connections", "8",
         "--keepalive", str(KEEPALIVE), "--soak", "2", "--soak-slice", "1", "--cold-starts", "1",
         "--latency-duration", "1", "--output", str(output)],
        env=env, capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"bench.py exited {done.returncode}:\n{tail(done.stdout)}\n{tail(done.stderr)}"
    results = json.loads(output.read_text())

    assert results["data"]["users"] == USERS
    assert results["sealing"]["events"] >= EVENTS
    assert set(results["paths"]) == {"read_person", "read_episode", "create_referral", "update_person"}
    for path, r in results["paths"].items():
        assert r["service"]["requests"] > 0 and r["service"]["errors"] == 0, (path, r["service"])
        for variant in ("plain", "pipelined", "pool"):
            assert r[variant]["transactions"] > 0 and r[variant]["errors"] == 0, (path, variant, r[variant])
    # The pgbench scripts run what the service ran: the same statements, grouped as it sent them.
    read = results["sql"]["read_person"]
    assert read["round_trips"] == [["BEGIN", "policy_relationship", "service_users_select"],
                                   ["audit_insert", "COMMIT"]], read
    assert read["statements"][0] == "BEGIN" and read["statements"][-1] == "COMMIT", read
    assert any(s.startswith("INSERT INTO audit_events") for s in read["statements"]), read
    reports = {f"report_{m}_{who}" for m in ("cpa_review_compliance",
               "assessment_and_care_plan_timeliness", "risk_review_compliance", "carers",
               "follow_up_after_discharge", "referrals", "caseloads", "data_quality")
               for who in ("team", "all")}
    lists = {"worklist", "worklist_received", "caseload", "search", "access_log", "audit_denials",
             "my_worklist", "team_worklist", "team_caseloads"} | reports
    assert set(results["unqueued"]) == {"read_person"} | lists
    for kind, r in results["unqueued"].items():
        assert r["requests"] > 0 and r["errors"] == 0, (kind, r)
    # Each list's costliest statement was explained (the plans it prints are the proof of index
    # use at full scale; this small data set proves only that the step works).
    assert set(results["plans"]) == lists
    for kind, plan in results["plans"].items():
        assert plan and plan["ms"] >= 0 and isinstance(plan["indexes"], list), (kind, plan)
    assert "plans (EXPLAIN ANALYZE" in done.stdout, tail(done.stdout)
    assert results["memory"]["connections"] == KEEPALIVE
    assert results["soak"]["errors"] == 0 and results["soak"]["requests"] > 0, results["soak"]
    assert results["cold_start"]["runs_ms"], results["cold_start"]
    assert "targets:" in done.stdout, tail(done.stdout)
