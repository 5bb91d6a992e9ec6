"""The container files (docker/) and the package lists they share with scripts/install-deps,
checked offline: there is no Docker engine on the build and CI machines.

- docker/Dockerfile passes dockerfile-utils' lint (npm, pinned in package.json) and the
  project's rules: two stages from Debian 12 slim, packages only from the shared lists, apt lists
  cleaned, only the binary copied into the final stage, a numeric non-root user, a HEALTHCHECK
  that asks /healthz, the port, the version label, no secrets.
- docker/Dockerfile.dockerignore lets through what CMake needs to configure the build (checked by
  configuring a copy of exactly those files) and no secrets.
- scripts/deps-{build,runtime,test}.txt stay in step with the code: every library the binary
  links comes from a runtime package, every pkg-config module CMakeLists.txt asks for from a build
  package, and the Dockerfile reads the lists with install-deps' own rule.
- docker/compose.yaml passes yamllint, the Compose Specification's JSON schema and the project's
  rules (a one-shot migration before the service, PostgreSQL 15 on a named volume, every secret
  and key a file, health checks), and docker/make-secrets makes exactly the files it mounts.

docker/initdb/ and the connection service files are exercised against a real PostgreSQL by
tests/api/test_container_runtime.py. Needs CARECOORD_BIN (the binary) for the library check.
"""

import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from deploy_files import (  # noqa: E402
    COMPOSE, DOCKERFILE, LISTS, NODE_MODULES_BIN, REPO, SECRET_WORDS, dockerfile, image_env,
    image_ref, package_list, project_version, run_node_tool, settings, yaml_documents, yamllint,
)

# The shared libraries of the sanitizer build (scripts/test builds with ASan and UBSan); the
# image's binary is built without them.
SANITIZER_RUNTIMES = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")
# libc6 is in every Debian image: its essential packages depend on it.
IN_EVERY_DEBIAN_IMAGE = {"libc6"}


def stages():
    return dockerfile()[1]


def final_stage():
    return stages()[-1]


# -- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_passes_the_linter():
    tool = NODE_MODULES_BIN / "dockerfile-utils"
    assert tool.exists(), f"{tool} is missing: run `npm ci`"
    done = subprocess.run([str(tool), "lint", "--json", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=120, cwd=REPO, stdin=subprocess.DEVNULL)
    # errors and warnings alike (instructionLine counts from 0)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_dockerfile_is_a_multi_stage_build_on_debian_12_slim():
    global_args, all_stages = dockerfile()
    assert [s.name for s in all_stages] == ["build", "runtime"]
    base = global_args.get("DEBIAN_IMAGE", "")
    assert re.fullmatch(r"debian:(12|bookworm)(-\d{8})?-slim(@sha256:[0-9a-f]{64})?", base), base
    for stage in all_stages:
        assert stage.base == "${DEBIAN_IMAGE}", f"stage {stage.name} is not built on Debian 12 slim"


def apt_runs(stage):
    return [i for i in stage.all("RUN") if "apt-get" in i.args]


def test_each_stage_installs_only_its_shared_package_list():
    """Packages come only from scripts/deps-build.txt (build stage) and deps-runtime.txt (final
    stage), read with the rule install-deps uses; apt's lists are removed in the same layer."""
    install_deps = (REPO / "scripts" / "install-deps").read_text(encoding="utf-8")
    rule = "sed -e 's/#.*//' -e 's/[[:space:]]//g'"
    assert rule in install_deps, "install-deps no longer reads the lists with the rule below"
    for stage, kind in zip(stages(), ("build", "runtime")):
        copies = [i.args.split() for i in stage.all("COPY") if "deps-" in i.args]
        assert copies == [[f"scripts/deps-{kind}.txt", f"/tmp/deps-{kind}.txt"]], (stage.name, copies)
        runs = apt_runs(stage)
        assert len(runs) == 1, f"stage {stage.name}: one apt-get layer expected"
        run = runs[0].args
        assert f"{rule} /tmp/deps-{kind}.txt" in run, run
        assert "| grep -v '^$'" in run and "xargs apt-get install -y --no-install-recommends" in run, run
        # nothing else is installed: the only install reads its names from xargs
        assert run.count("apt-get install") == 1 and not re.search(r"\b(apt|dpkg|pip3?|npm|curl|wget)\s+(install|-i)\b", run.replace("apt-get install", "")), run
        assert "apt-get update" in run and "rm -rf /var/lib/apt/lists/*" in run, run
        assert stage.all("SHELL") and "pipefail" in stage.all("SHELL")[0].args, \
            f"stage {stage.name}: a failing sed or grep must fail the build (pipefail)"


def test_final_stage_holds_the_binary_and_runtime_libraries_only():
    stage = final_stage()
    copies = stage.all("COPY")
    assert [c.flags for c in copies] == [{}, {"from": "build"}], copies
    assert copies[1].args.split() == ["/carecoord", "/usr/local/bin/carecoord"], copies[1]
    assert not stage.all("ADD")
    build = stages()[0]
    assert "strip --strip-debug -o /carecoord /build/carecoord" in build.all("RUN")[-1].args


def test_build_stage_installs_redoc_from_the_lock_file_before_building():
    """The binary embeds Redoc for GET /docs: `npm ci` (exactly the lock file), runtime
    dependencies only, before the build reads node_modules/."""
    runs = [i.args for i in stages()[0].all("RUN")]
    npm = [i for i, r in enumerate(runs) if re.search(r"\bnpm ci\b", r)]
    cmake = [i for i, r in enumerate(runs) if "cmake --build" in r]
    assert len(npm) == 1 and cmake and npm[0] < cmake[0], runs
    assert "--omit=dev" in runs[npm[0]] and "--ignore-scripts" in runs[npm[0]], runs[npm[0]]
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"][""].get("dependencies") == {"redoc": lock["packages"]["node_modules/redoc"]["version"]}


def test_final_stage_runs_as_a_numeric_non_root_user():
    users = final_stage().all("USER")
    assert len(users) == 1
    uid, _, gid = users[0].args.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit() and int(gid) != 0, users[0].args
    made = " ".join(i.args for i in final_stage().all("RUN"))
    assert f"useradd --system --uid {uid} --gid {gid}" in made, "the user is not created"
    keywords = [i.keyword for i in final_stage().instructions]
    after = keywords[keywords.index("USER"):]
    assert "RUN" not in after and "COPY" not in after, "everything after USER must run as that user"


def test_final_stage_health_check_entry_point_and_port():
    stage = final_stage()
    checks = stage.all("HEALTHCHECK")
    assert len(checks) == 1
    assert checks[0].exec_form() == ["carecoord", "health"]  # GET /healthz (service/healthcheck.c)
    for flag in ("interval", "timeout", "start-period", "retries"):
        assert checks[0].flags.get(flag), f"HEALTHCHECK --{flag} missing"
    assert stage.all("ENTRYPOINT")[0].exec_form() == ["carecoord"]
    assert stage.all("CMD")[0].exec_form() == ["serve"]
    env = image_env(stage)
    assert env["CARECOORD_LISTEN_ADDRESS"] == "0.0.0.0"
    assert [e.args for e in stage.all("EXPOSE")] == [env["CARECOORD_PORT"]]
    for name in env:
        assert name in settings(), f"ENV {name} is not a setting of the service"


def test_image_is_labelled_with_the_project_version():
    labels = " ".join(i.args for i in final_stage().all("LABEL"))
    assert f'org.opencontainers.image.version="{project_version()}"' in labels
    assert 'org.opencontainers.image.title="carecoord"' in labels


def test_dockerfile_holds_no_secret():
    global_args, all_stages = dockerfile()
    names = list(global_args)
    for stage in all_stages:
        names += [i.args.partition("=")[0] for i in stage.all("ARG")]
        names += list(image_env(stage))
        for ins in stage.all("COPY") + stage.all("ADD"):
            assert not re.search(r"secrets|\.pem\b|\.key\b|\.password\b|\.local", ins.args), ins
    for name in names:
        assert not SECRET_WORDS.search(name) or name.endswith("_FILE"), f"{name} in the image"


# -- the build context ------------------------------------------------------------------------


def context_files():
    """The repository's tracked files that docker/Dockerfile.dockerignore lets into the build
    context (its patterns: `**`, then `!path` or `!dir/` exceptions)."""
    patterns = []
    for line in (REPO / "docker" / "Dockerfile.dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    assert patterns[0] == "**", "the ignore file must start by excluding everything"
    allowed = [p[1:] for p in patterns[1:]]
    assert all(p.startswith("!") for p in patterns[1:]), patterns
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    return [f for f in tracked
            if any(f.startswith(a) if a.endswith("/") else fnmatch.fnmatch(f, a) for a in allowed)]


def test_build_context_is_enough_for_cmake_and_holds_no_secret(tmp_path):
    files = context_files()
    for f in files:
        assert not re.search(r"(^|/)(secrets|\.local)/|\.pem$|\.key$|\.password$", f), f
        assert not f.startswith(("tests/api/", "docs/", "node_modules/")), f
    assert {"api/openapi.yaml", "package.json", "package-lock.json"} <= set(files)
    ctx = tmp_path / "ctx"
    for f in files:
        (ctx / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, ctx / f)
    # As the build stage does: Redoc from the lock file, dev tools left out (from npm's cache,
    # which scripts/npm-ci filled; the registry only for what it lacks).
    npm = subprocess.run(["npm", "ci", "--omit=dev", "--ignore-scripts", "--prefer-offline",
                          "--no-audit", "--no-fund", "--loglevel=error"],
                         cwd=ctx, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert npm.returncode == 0, npm.stderr
    modules = ctx / "node_modules"
    assert (modules / "redoc" / "bundles" / "redoc.standalone.js").is_file()
    dev_tools = ("@redocly/cli", "typescript", "kubernetes-models", "dockerfile-utils", "jose")
    assert not [t for t in dev_tools if (modules / t).exists()], "the image installs no dev tool"
    done = subprocess.run(["cmake", "-S", str(ctx), "-B", str(tmp_path / "build"),
                           "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "--log-level=WARNING"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"CMake cannot configure the image's context:\n{done.stdout}{done.stderr}"
    for kind in ("build", "runtime"):
        assert f"scripts/deps-{kind}.txt" in files


# -- the package lists ------------------------------------------------------------------------


def dpkg_owner(path):
    """The package that installed a file (trying the path both with and without /usr)."""
    candidates = [path]
    if path.startswith("/usr/"):
        candidates.append(path[4:])
    else:
        candidates.append("/usr" + path)
    for candidate in candidates:
        done = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def test_lists_are_disjoint_and_installed():
    seen = {}
    for kind in LISTS:
        for name in package_list(kind):
            assert name not in seen, f"{name} is in both deps-{seen[name]}.txt and deps-{kind}.txt"
            seen[name] = kind
    assert not [n for n in package_list("runtime") if n.endswith("-dev")]
    assert "build-essential" in package_list("build")
    for name in seen:
        if name in ("nodejs", "npm") and shutil.which("node"):
            continue  # install-deps accepts a Node.js from another source
        status = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", name],
                                capture_output=True, text=True).stdout
        assert status == "installed", f"{name} (deps-{seen[name]}.txt) is not a Debian 12 package installed here"


def test_every_library_the_binary_links_comes_from_the_runtime_list():
    binary = os.environ.get("CARECOORD_BIN")
    assert binary and os.path.exists(binary), "CARECOORD_BIN must name the built binary"
    dump = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True, check=True).stdout
    needed = [n for n in re.findall(r"^\s*NEEDED\s+(\S+)$", dump, re.M) if not SANITIZER_RUNTIMES.match(n)]
    assert "libpq.so.5" in needed, needed
    cache = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    runtime = set(package_list("runtime"))
    for lib in needed:
        m = re.search(rf"^\s*{re.escape(lib)} \(([^)]*)\) => (\S+)$", cache, re.M)
        assert m, f"{lib} is not in the dynamic linker's cache"
        owner = dpkg_owner(os.path.realpath(m.group(2)))
        assert owner, f"no package owns {m.group(2)}"
        assert owner in runtime or owner in IN_EVERY_DEBIAN_IMAGE, \
            f"{lib} comes from {owner}, which scripts/deps-runtime.txt does not list"


def test_every_pkg_config_module_comes_from_the_build_list():
    cmake = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    m = re.search(r"pkg_check_modules\(DEPS REQUIRED IMPORTED_TARGET([^)]*)\)", cmake)
    assert m, "CMakeLists.txt: pkg_check_modules(DEPS ...) not found"
    modules = m.group(1).split()
    assert "libpq" in modules and "libcurl" in modules, modules
    build = set(package_list("build"))
    for module in modules:
        pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", module], capture_output=True,
                               text=True, check=True).stdout.strip()
        owner = dpkg_owner(os.path.realpath(os.path.join(pcdir, module + ".pc")))
        assert owner in build, f"pkg-config module {module} comes from {owner}, not in deps-build.txt"


def test_readme_install_steps_name_the_shared_lists():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "deps-debian.txt" not in readme
    for kind in LISTS:
        assert f"scripts/deps-{kind}.txt" in readme, kind


# -- compose ----------------------------------------------------------------------------------


def compose():
    return yaml_documents(COMPOSE)[0]


def test_compose_passes_yamllint():
    done = yamllint(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_matches_the_compose_specification_schema():
    done = run_node_tool("validate-compose.js", compose())
    assert done.returncode == 0, done.stdout + done.stderr


def secret_mounts(service):
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def test_compose_runs_a_one_shot_migration_before_the_service():
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "carecoord"}
    migrate, app, db = services["migrate"], services["carecoord"], services["db"]
    for svc in (migrate, app):
        assert svc["image"] == image_ref()
        assert svc["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert "CARECOORD_MIGRATION_DATABASE_URL" in migrate["environment"]
    assert "CARECOORD_DATABASE_URL" not in migrate["environment"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert app["depends_on"]["db"] == {"condition": "service_healthy"}
    assert app["command"] == ["serve"]
    assert "CARECOORD_MIGRATION_DATABASE_URL" not in app["environment"]
    # the owner's connection is only the migration's; the app role's only the service's
    assert secret_mounts(migrate) == {"pg_service_owner"}
    assert "pg_service_owner" not in secret_mounts(app)


def test_compose_runs_postgresql_15_on_a_named_volume_with_a_health_check():
    doc = compose()
    db = doc["services"]["db"]
    assert re.fullmatch(r"postgres:15(\.\d+)?(-bookworm)?", db["image"]), db["image"]
    volumes = [v.split(":") for v in db["volumes"]]
    data = [v for v in volumes if v[1] == "/var/lib/postgresql/data"]
    assert data and data[0][0] in doc["volumes"], "the data directory is not a named volume"
    assert ["./initdb", "/docker-entrypoint-initdb.d", "ro"] in volumes
    assert (REPO / "docker" / "initdb" / "10-carecoord.sh").stat().st_mode & stat.S_IXUSR
    test = db["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"] and "--host=127.0.0.1" in test, test
    assert "ports" not in db, "PostgreSQL must not be published on the host"


def test_compose_service_hardening_health_check_and_port():
    app = compose()["services"]["carecoord"]
    assert app["healthcheck"]["test"] == ["CMD", "carecoord", "health"]
    for svc in (app, compose()["services"]["migrate"]):
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]
    port = image_env(final_stage())["CARECOORD_PORT"]
    assert app["environment"]["CARECOORD_PORT"] == port
    assert app["ports"] == [f"127.0.0.1:{port}:{port}"]
    grace = int(app["stop_grace_period"].rstrip("s"))
    assert grace > 20, "stop_grace_period must exceed the drain time-out (20 s)"


def test_compose_settings_are_real_and_secrets_are_files():
    doc = compose()
    declared = doc["secrets"]
    for name, svc in doc["services"].items():
        env = svc.get("environment", {})
        mounts = secret_mounts(svc)
        assert mounts <= set(declared), f"{name}: undeclared secrets {mounts - set(declared)}"
        for var, value in env.items():
            value = str(value)
            if var.startswith("CARECOORD_") and name != "db":
                assert var in settings(), f"{name}: {var} is not a setting of the service"
            if var.endswith("_FILE") or var == "PGSERVICEFILE":
                m = re.fullmatch(r"/run/secrets/([a-z_]+)", value)
                assert m and m.group(1) in mounts, f"{name}: {var}={value} is not a mounted secret"
            elif SECRET_WORDS.search(var):
                # a connection names a service of the mounted service file, never a password
                assert re.fullmatch(r"service=carecoord_(app|owner)", value), f"{name}: {var}={value}"
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@|password=", value, re.I), f"{name}: {var}"
    for secret in declared.values():
        assert secret["file"].startswith("./secrets/"), secret
        ignored = subprocess.run(["git", "check-ignore", "-q", "docker/" + secret["file"][2:]],
                                 cwd=REPO)
        assert ignored.returncode == 0, f"docker/{secret['file'][2:]} is not ignored by git"


def test_make_secrets_makes_exactly_the_files_compose_mounts(tmp_path):
    out = tmp_path / "secrets"
    script = REPO / "docker" / "make-secrets"
    first = subprocess.run([str(script), "--dev-jwt", str(out)], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = subprocess.run([str(script), str(out)], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "a second run changed secrets"
    mounted = {s["file"][len("./secrets/"):] for s in compose()["secrets"].values()}
    assert mounted == set(before) - {"dev-private.pem"}
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "dev-private.pem").stat().st_mode) == 0o600
    owner = (out / "pg_service_owner.conf").read_text()
    password = (out / "owner.password").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{48}", password)
    assert "[carecoord_owner]\n" in owner and f"\npassword={password}\n" in owner
    assert "host=db\n" in owner and "dbname=carecoord\n" in owner
