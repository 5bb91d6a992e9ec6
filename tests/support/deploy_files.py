"""Readers of the container and deployment files, shared by tests/contract/test_docker.py and
tests/contract/test_deploy.py: the package lists, the Dockerfile's instructions, the project's
version and the CARECOORD_* settings the service reads, and the npm validators.

Needs no database or service. CARECOORD_REPO (the repository root) is optional and defaults to
this file's repository.
"""

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

REPO = Path(os.environ.get("CARECOORD_REPO") or Path(__file__).resolve().parents[2])
DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE = REPO / "docker" / "compose.yaml"
DEPLOY = REPO / "deploy"
LISTS = {kind: REPO / "scripts" / f"deps-{kind}.txt" for kind in ("build", "runtime", "test")}
NODE_MODULES_BIN = REPO / "node_modules" / ".bin"

# Words that name a secret in a setting or variable; a setting that names a *file* holding one
# (CARECOORD_JWT_PUBLIC_KEY_FILE, POSTGRES_PASSWORD_FILE) is a reference, not a secret.
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEY\b|_URL\b|CREDENTIAL", re.I)


def package_list(kind):
    """The packages of scripts/deps-<kind>.txt: comments and blanks dropped, as install-deps and
    the Dockerfile read them."""
    names = []
    for line in LISTS[kind].read_text(encoding="utf-8").splitlines():
        name = re.sub(r"\s", "", line.split("#", 1)[0])
        if name:
            names.append(name)
    return names


@lru_cache(maxsize=None)
def project_version():
    """VERSION of CMakeLists.txt's project(): the image's tag."""
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    m = re.search(r"^project\(carecoord VERSION ([0-9.]+)", text, re.M)
    assert m, "CMakeLists.txt declares no project VERSION"
    return m.group(1)


@lru_cache(maxsize=None)
def settings():
    """Every CARECOORD_* variable the service reads: the string literals of service/config.c."""
    source = (REPO / "service" / "config.c").read_text(encoding="utf-8")
    return frozenset(re.findall(r'"(CARECOORD_[A-Z0-9_]+)"', source))


def documented(name):
    """Whether the README's Configuration table has a row for the setting (or for its family,
    such as `CARECOORD_POLICY_*`)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for row in re.findall(r"^\| `(CARECOORD_[A-Z0-9_*]+)`", readme, re.M):
        if row == name or (row.endswith("*") and name.startswith(row[:-1])):
            return True
    return False


# -- Dockerfile ------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int
    flags: dict = field(default_factory=dict)

    def exec_form(self):
        """The JSON array of an exec-form argument (CMD, ENTRYPOINT, HEALTHCHECK ... CMD)."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split("CMD", 1)[1]
        return json.loads(text.strip())


@dataclass
class Stage:
    base: str
    name: str
    instructions: list

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]


def dockerfile_instructions(text):
    """Instructions with their line numbers: comments and blank lines dropped, continuation
    lines (a trailing backslash) joined, leading --flags parsed."""
    out, buf, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, args = buf.strip().partition(" ")
        args = args.strip()
        flags = {}
        while args.startswith("--"):
            flag, _, args = args.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            args = args.strip()
        out.append(Instruction(keyword.upper(), args, start, flags))
        buf = ""
    return out


@lru_cache(maxsize=None)
def dockerfile():
    """(global ARGs {name: default}, [Stage]) of docker/Dockerfile."""
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    global_args, stages = {}, []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(words[0], name, []))
        elif not stages:
            assert ins.keyword == "ARG", f"line {ins.line}: {ins.keyword} before the first FROM"
            name, _, default = ins.args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append(ins)
    return global_args, stages


def image_env(stage):
    """ENV of a stage as {name: value} (ENV a=b c=d form)."""
    env = {}
    for ins in stage.all("ENV"):
        for word in shlex.split(ins.args):
            name, _, value = word.partition("=")
            env[name] = value
    return env


def image_ref():
    """carecoord:<version>, the name every compose service and manifest runs."""
    return f"carecoord:{project_version()}"


# -- YAML and the npm validators ---------------------------------------------------------------


def yaml_documents(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def run_node_tool(script, payload, timeout=180):
    """Runs tests/support/<script> with JSON on stdin; returns the CompletedProcess."""
    return subprocess.run(["node", str(REPO / "tests" / "support" / script)],
                          input=json.dumps(payload), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def yamllint(*paths):
    return subprocess.run(["yamllint", "--strict", "-f", "parsable", *map(str, paths)],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          stdin=subprocess.DEVNULL)
