"""What the container image and the compose file rely on, proved against the real binary and a
real PostgreSQL (there is no Docker engine here to run the image itself):

- `carecoord health`, the image's HEALTHCHECK, exits 0 only when the service configured alike
  answers GET /healthz, and asks 127.0.0.1 when the service listens on every address;
- the service writes nothing to the filesystem while it starts, serves (reads, writes, audit
  sealing, extracts, metrics) and drains, so a read-only root filesystem holds: every file
  system call that could write is traced (strace) and none is allowed but on /dev;
- docker/initdb/10-carecoord.sh makes the roles and the database as the postgres image would
  run it, with passwords from docker/make-secrets, and the libpq connection service files
  make-secrets writes carry `carecoord migrate` and `carecoord serve` (its sealer and webhook
  threads included) to that database with no password in any setting.
"""

import copy
import os
import re
import signal
import stat
import subprocess
import time

import pytest

from carecoord import (
    ServiceFactory,
    assert_no_sanitizer_report,
    create,
    free_port,
    mint_token,
    run_binary,
    service_user_payload,
    team_payload,
    wait_until,
)

# System calls that create, change or remove files or their metadata.
WRITE_CALLS = ("open,openat,openat2,creat,truncate,mkdir,mkdirat,rmdir,rename,renameat,renameat2,"
               "unlink,unlinkat,link,linkat,symlink,symlinkat,chmod,fchmodat,chown,lchown,fchownat,"
               "utimensat,mknod,mknodat")
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")


def health(test_env, port, address="127.0.0.1"):
    return run_binary(test_env, ["health"], {"CARECOORD_LISTEN_ADDRESS": address,
                                              "CARECOORD_PORT": str(port)}, timeout=60)


# -- carecoord health -------------------------------------------------------------------------


def test_health_exits_0_while_the_service_answers(test_env, service):
    done = health(test_env, service.port)
    assert done.returncode == 0, done.stderr
    assert_no_sanitizer_report(done.stderr, "carecoord health")


def test_health_asks_loopback_when_the_service_listens_on_every_address(test_env, service):
    done = health(test_env, service.port, "0.0.0.0")
    assert done.returncode == 0, done.stderr


def test_health_exits_1_when_nothing_answers(test_env):
    port = free_port()
    start = time.monotonic()
    done = health(test_env, port)
    assert done.returncode == 1
    assert f"http://127.0.0.1:{port}/healthz" in done.stderr
    assert time.monotonic() - start < 30
    assert_no_sanitizer_report(done.stderr, "carecoord health")


def test_health_takes_no_arguments(test_env):
    assert run_binary(test_env, ["health", "--verbose"]).returncode == 2


# -- nothing written to the filesystem --------------------------------------------------------


def traced_children(pid):
    """The pids of the children of pid (strace's tracee)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def writes_in_trace(path):
    """The traced calls that wrote, or tried to write, outside /dev."""
    found = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"^\d+\s+(\w+)\((.*)\)\s+=", line)
            if not m:
                continue
            call, args = m.groups()
            paths = re.findall(r'"([^"]*)"', args)
            if call in ("open", "openat", "openat2") and not WRITE_FLAGS.search(args):
                continue
            if paths and all(p.startswith("/dev/") for p in paths):
                continue
            found.append(line.strip())
    return found


def test_the_service_writes_no_file_so_a_read_only_root_filesystem_holds(
        test_env, service_factory, database, tmp_path):
    if subprocess.run(["strace", "-V"], capture_output=True).returncode != 0:
        pytest.fail("strace is missing (scripts/deps-test.txt)", pytrace=False)
    mint_token(test_env)  # minted by the untraced binary, before the wrapper stands in for it
    mint_token(test_env, sub="reports", roles=("reporting",))
    trace = tmp_path / "trace.txt"
    wrapper = tmp_path / "carecoord-traced"
    wrapper.write_text("#!/bin/sh\n"
                       f"exec strace -f -qq --seccomp-bpf -o '{trace}' -e trace={WRITE_CALLS} "
                       f"'{test_env.bin}' \"$@\"\n")
    wrapper.chmod(0o755)
    key = tmp_path / "pseudonym.key"
    key.write_text("ab" * 32 + "\n")
    traced_env = copy.copy(test_env)
    traced_env.bin = str(wrapper)
    factory = ServiceFactory(traced_env, database, str(tmp_path))
    try:
        # LeakSanitizer cannot run under a tracer; the rest of ASan and UBSan still report.
        asan = os.environ.get("ASAN_OPTIONS", "")
        svc = factory.start(env={"CARECOORD_PSEUDONYM_KEY_FILE": str(key),
                                 "ASAN_OPTIONS": (asan + ":" if asan else "") + "detect_leaks=0"})
        with svc.api() as api:
            team = create(api, "/teams", team_payload())
            person = create(api, "/service-users", service_user_payload())
            assert api.get(f"/service-users/{person['id']}").status_code == 200
            assert api.get(f"/teams/{team['id']}").status_code == 200
            assert api.get("/metrics").status_code == 200
            wait_until(lambda: api.get("/audit-events/verify").json()["unsealed"] == 0, 60,
                       "the sealer to seal the events")
        with svc.api(token=mint_token(test_env, sub="reports", roles=("reporting",))) as reports:
            r = reports.get("/extracts/referrals")
            assert r.status_code == 200, r.text[:300]
        children = traced_children(svc.proc.pid)
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGTERM)
        assert svc.wait_exit() == 0, svc.stderr_text()[-3000:]
        assert_no_sanitizer_report(svc.stderr_text())
    finally:
        factory.teardown()
    writes = writes_in_trace(trace)
    assert trace.stat().st_size > 0 and "openat" in trace.read_text(errors="replace")
    assert not writes, "the service wrote to the filesystem:\n" + "\n".join(writes[:40])


# -- compose's database bootstrap and connection files ----------------------------------------


def test_compose_initdb_and_connection_service_files_carry_migrate_and_serve(
        test_env, private_cluster, tmp_path):
    secrets = tmp_path / "secrets"
    made = subprocess.run([os.path.join(test_env.repo, "docker", "make-secrets"), str(secrets)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stderr
    private_cluster.init()
    private_cluster.start()
    # As the postgres image runs it: as the superuser, with the secrets' paths in its environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARECOORD_", "PG"))}
    env.update({"PGHOST": "127.0.0.1", "PGPORT": str(private_cluster.port),
                "PGPASSWORD": private_cluster.superuser_password, "POSTGRES_USER": "postgres",
                "CARECOORD_OWNER_PASSWORD_FILE": str(secrets / "owner.password"),
                "CARECOORD_APP_PASSWORD_FILE": str(secrets / "app.password")})
    script = os.path.join(test_env.repo, "docker", "initdb", "10-carecoord.sh")
    init = subprocess.run([script], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "password" not in " ".join(open(script).read().split("psql", 1)[1].split("<<")[0].split())

    # The service files name compose's `db:5432`; here the database is on loopback.
    for name in ("pg_service_owner.conf", "pg_service_app.conf"):
        path = secrets / name
        text = path.read_text().replace("host=db\n", "host=127.0.0.1\n")
        path.write_text(text.replace("port=5432\n", f"port={private_cluster.port}\n"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    migrated = run_binary(test_env, ["migrate"], {
        "CARECOORD_MIGRATION_DATABASE_URL": "service=carecoord_owner",
        "PGSERVICEFILE": str(secrets / "pg_service_owner.conf"),
        "CARECOORD_APP_ROLE": "carecoord_app"})
    assert migrated.returncode == 0, migrated.stderr
    assert_no_sanitizer_report(migrated.stderr, "carecoord migrate")

    factory = ServiceFactory(test_env, None, str(tmp_path))
    try:
        svc = factory.start(database_url="service=carecoord_app", env={
            "PGSERVICEFILE": str(secrets / "pg_service_app.conf"),
            "CARECOORD_PSEUDONYM_KEY_FILE": str(secrets / "pseudonym.key")})
        with svc.api() as api:
            team = create(api, "/teams", team_payload())
            assert api.get(f"/teams/{team['id']}").json()["name"] == team["name"]
            # the sealer opens its own connection with the same settings
            wait_until(lambda: api.get("/audit-events/verify").json()["unsealed"] == 0, 60,
                       "the sealer to seal the events")
        svc.stop()
    finally:
        factory.teardown()
