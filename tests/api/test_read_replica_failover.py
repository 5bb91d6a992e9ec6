"""A failover under a running service: a pg_auto_failover formation (scripts/pg-ha: a monitor,
node1 the primary, node2 its standby), the service writing through a read-write URL that lists
both nodes and reading reports through a prefer-standby one. After `pg_autoctl perform failover`
the service, never restarted, writes to node2 (the new primary) and counts reports on node1 (the
new standby), and what was written before the failover is still there."""

import os
import shlex
import shutil
import socket
import subprocess
import tempfile

import psycopg2
import pytest

from carecoord import (free_port, metric_value, mint_token, parse_metrics, run_binary, unique,
                       wait_until)

SCRIPT_TIMEOUT_S = 300


def three_free_ports():
    """A port P with P+1 and P+2 free too (the monitor and the two nodes)."""
    for _ in range(50):
        base = free_port()
        if base > 65530:
            continue
        try:
            for port in (base + 1, base + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    pytest.fail("no three consecutive free ports", pytrace=False)


class Formation:
    def __init__(self, env):
        self.script = os.path.join(env.repo, "scripts", "pg-ha")
        self.base = tempfile.mkdtemp(prefix="carecoord-ha-")
        os.chmod(self.base, 0o711)  # the postgres OS user works below it
        self.dir = os.path.join(self.base, "ha")
        self.port = three_free_ports()

    def run(self, *args):
        done = subprocess.run([self.script, *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=SCRIPT_TIMEOUT_S)
        if done.returncode != 0:
            pytest.fail(f"scripts/pg-ha {' '.join(args)} exited {done.returncode}:\n"
                        f"{done.stdout}\n{done.stderr}", pytrace=False)
        return done.stdout

    def settings(self):
        """The service's settings that `scripts/pg-ha env` prints."""
        out = {}
        for line in self.run("env", self.dir).splitlines():
            if line.startswith("CARECOORD_") and "=" in line:
                name, _, value = line.partition("=")
                out[name] = shlex.split(value)[0]
        return out

    def node_port(self, name):
        return self.port + {"node1": 1, "node2": 2}[name]

    def superuser(self, name, sql):
        """A value from a node, as the postgres superuser over TCP (trusted by pg_auto_failover
        for the database it manages)."""
        conn = psycopg2.connect(host="127.0.0.1", port=self.node_port(name), user="postgres",
                                dbname="carecoord", connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchone()[0]
        finally:
            conn.close()

    def read_sessions(self, name):
        return self.superuser(name, "SELECT count(*) FROM pg_stat_activity"
                                    " WHERE application_name = 'carecoord read'")

    def in_recovery(self, name):
        return self.superuser(name, "SELECT pg_is_in_recovery()")

    def destroy(self):
        try:
            if os.path.isdir(os.path.join(self.dir, "pg")):
                subprocess.run([self.script, "down", self.dir], capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=120)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def formation(test_env):
    if shutil.which("pg_autoctl") is None:
        pytest.fail("pg_autoctl is not installed (scripts/deps-test.txt: pg-auto-failover-cli,"
                    " postgresql-15-auto-failover)", pytrace=False)
    f = Formation(test_env)
    try:
        f.run("up", f.dir, str(f.port))
        yield f
    finally:
        f.destroy()


def test_after_a_failover_writes_go_to_the_new_primary_and_reports_to_the_new_standby(
        formation, service_factory, test_env):
    settings = formation.settings()
    done = run_binary(test_env, ["migrate"], {
        "CARECOORD_MIGRATION_DATABASE_URL": settings["CARECOORD_MIGRATION_DATABASE_URL"]})
    assert done.returncode == 0, done.stderr
    svc = service_factory.start(
        database_url=settings["CARECOORD_DATABASE_URL"],
        env={"CARECOORD_READ_DATABASE_URL": settings["CARECOORD_READ_DATABASE_URL"],
             "CARECOORD_READ_PRIMARY_RECHECK_S": "1",
             "CARECOORD_WEBHOOK_THREADS": "0"})
    reporting = svc.api(token=mint_token(test_env, sub="bi-tool", roles=("reporting",)))
    with svc.api() as api, reporting:
        assert not formation.in_recovery("node1") and formation.in_recovery("node2")
        team = api.post("/teams", json={"name": unique("Team "), "type": "crisis_home_treatment"})
        assert team.status_code == 201, team.text
        assert reporting.get("/reports/caseloads").status_code == 200
        assert formation.read_sessions("node2") >= 1 and formation.read_sessions("node1") == 0

        formation.run("failover", formation.dir)
        assert formation.in_recovery("node1") and not formation.in_recovery("node2")

        # The main pool's sessions on node1 ended with its demotion: new ones find node2.
        def written():
            r = api.post("/teams", json={"name": unique("Team "), "type": "crisis_home_treatment"})
            assert r.status_code in (201, 503), r.text
            return r.status_code == 201

        wait_until(written, 60, "a write to succeed after the failover", interval_s=0.5)
        assert api.get(f"/teams/{team.json()['id']}").json()["name"] == team.json()["name"]

        # The read pool's sessions on node2, now a primary, move to node1, the new standby.
        def counted_on_node1():
            r = reporting.get("/reports/caseloads")
            assert r.status_code in (200, 503), r.text
            return r.status_code == 200 and formation.read_sessions("node1") >= 1

        wait_until(counted_on_node1, 60, "reports to be counted on node1", interval_s=0.5)
        samples = parse_metrics(api.get("/metrics").text)
        assert metric_value(samples, "carecoord_db_read_pool_on_standby") >= 1
        assert api.get("/readyz").status_code == 200
    svc.stop()
