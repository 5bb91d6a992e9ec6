"""The Kubernetes manifests (deploy/*.yaml), checked offline: there is no cluster on the build and
CI machines.

- yamllint, then every object against the Kubernetes API schema of its apiVersion and kind
  (tests/support/validate-k8s.js: the npm package kubernetes-models' JSON schemas, and a
  TypeScript check against its interfaces that rejects unknown fields).
- The project's rules: the Deployment's probes ask /readyz (ready) and /healthz (alive) on the
  container's port; requests are set; pods run as the image's non-root user with a read-only
  root filesystem, no privilege escalation and no capabilities; secrets are only referenced (no
  Secret object, no literal secret anywhere); the ConfigMap's keys are settings the service reads;
  the Service, HorizontalPodAutoscaler and PodDisruptionBudget select the Deployment's pods; the
  NetworkPolicies let in only the HTTP port and out only DNS, PostgreSQL and partners' HTTPS;
  the migration Job runs `carecoord migrate` with the owner's secret; the image, port and user
  are the Dockerfile's; the README tells operators to create exactly the secrets referenced.

Needs no database or service. CARECOORD_REPO (the repository root) is optional.
"""

import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from deploy_files import (  # noqa: E402
    DEPLOY, REPO, SECRET_WORDS, documented, dockerfile, image_env, image_ref, run_node_tool,
    settings, yaml_documents, yamllint,
)

NAMESPACE = "carecoord"
API_LABELS = {"app.kubernetes.io/name": "carecoord", "app.kubernetes.io/component": "api"}
MIGRATE_LABELS = {"app.kubernetes.io/name": "carecoord", "app.kubernetes.io/component": "migrate"}
# The secrets the operator creates (README.md, "Deploying") and the keys each must have.
SECRETS = {"carecoord-database": {"app-url", "owner-url"},
           "carecoord-keys": {"jwt-public.pem", "pseudonym.key"}}


@lru_cache(maxsize=None)
def manifests():
    """(source, object) of every document in deploy/*.yaml; read once (tests do not change them)."""
    out = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for i, doc in enumerate(yaml_documents(path), 1):
            out.append((f"deploy/{path.name}#{i}", doc))
    return tuple(out)


def objects(kind):
    return [doc for _, doc in manifests() if doc.get("kind") == kind]


def one(kind):
    found = objects(kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def walk(node, path=""):
    """(path, key, value) of every mapping entry in a YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}/{i}")


def image_user():
    user = dockerfile()[1][-1].all("USER")[0].args
    uid, _, gid = user.partition(":")
    return int(uid), int(gid)


def image_port():
    return int(image_env(dockerfile()[1][-1])["CARECOORD_PORT"])


def pod_specs():
    """(name, pod template) of the Deployment and the Job."""
    return [("Deployment", one("Deployment")["spec"]["template"]),
            ("Job", one("Job")["spec"]["template"])]


def container(kind):
    obj = one(kind)
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{kind}: one container expected"
    return containers[0]


# -- offline validation -----------------------------------------------------------------------


def test_manifests_pass_yamllint():
    done = yamllint(DEPLOY)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_object_matches_the_kubernetes_api_schema_of_its_kind():
    items = [{"source": source, "object": doc} for source, doc in manifests()]
    kinds = {doc["kind"] for _, doc in manifests()}
    assert kinds >= {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service",
                     "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Job"}, kinds
    done = run_node_tool("validate-k8s.js", items)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(items)} objects valid" in done.stdout


def test_every_object_lives_in_the_namespace():
    for source, doc in manifests():
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, source
    labels = one("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# -- the Deployment ---------------------------------------------------------------------------


def test_probes_ask_readyz_and_healthz_on_the_container_port():
    c = container("Deployment")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": image_port()}
    ready, alive = c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]
    assert ready["path"] == "/readyz" and ready["port"] in ("http", image_port())
    assert alive["path"] == "/healthz" and alive["port"] in ("http", image_port())
    for probe in (c["readinessProbe"], c["livenessProbe"]):
        assert probe["timeoutSeconds"] < probe["periodSeconds"]


def test_resources_are_requested():
    for kind in ("Deployment", "Job"):
        resources = container(kind)["resources"]
        assert resources["requests"].keys() >= {"cpu", "memory"}, kind
        assert "memory" in resources["limits"], kind


def test_pods_run_as_the_images_non_root_user_locked_down():
    uid, gid = image_user()
    for kind, template in pod_specs():
        spec = template["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == uid and pod["runAsGroup"] == gid, kind
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, kind
        assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] == "carecoord"
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, kind
            assert sc["readOnlyRootFilesystem"] is True, kind
            assert sc["allowPrivilegeEscalation"] is False, kind
            assert sc["capabilities"] == {"drop": ["ALL"]}, kind
            assert sc.get("privileged", False) is False, kind
            assert "add" not in sc["capabilities"]
        for volume in spec.get("volumes", []):
            assert set(volume) <= {"name", "secret", "configMap", "emptyDir"}, volume
    assert one("ServiceAccount")["automountServiceAccountToken"] is False


def test_image_and_command_are_the_dockerfiles():
    for kind in ("Deployment", "Job"):
        assert container(kind)["image"] == image_ref(), kind
    assert container("Deployment")["args"] == ["serve"]
    assert "command" not in container("Deployment"), "the image's entry point runs carecoord"


def test_the_replica_count_belongs_to_the_autoscaler():
    deployment = one("Deployment")
    assert "replicas" not in deployment["spec"], "applying the Deployment would reset the HPA's count"
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_termination_leaves_time_to_drain():
    spec = one("Deployment")["spec"]["template"]["spec"]
    pause = int(container("Deployment")["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = int(one("ConfigMap")["data"]["CARECOORD_DRAIN_TIMEOUT_S"])
    assert spec["terminationGracePeriodSeconds"] >= pause + drain + 5


# -- configuration and secrets ----------------------------------------------------------------


def test_configmap_keys_are_settings_of_the_service():
    data = one("ConfigMap")["data"]
    for key, value in data.items():
        assert key in settings(), f"{key} is not read by service/config.c"
        assert documented(key), f"{key} is not in the README's Configuration table"
        assert isinstance(value, str)
        assert not SECRET_WORDS.search(key) or key.endswith("_FILE"), f"{key} belongs in a Secret"
    assert data["CARECOORD_LISTEN_ADDRESS"] == "0.0.0.0"
    assert int(data["CARECOORD_PORT"]) == image_port()
    assert data.get("CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK", "0") == "0"
    mount = container("Deployment")["volumeMounts"][0]["mountPath"]
    for key in ("CARECOORD_JWT_PUBLIC_KEY_FILE", "CARECOORD_PSEUDONYM_KEY_FILE"):
        assert data[key].startswith(mount + "/"), key


def test_secrets_are_only_referenced():
    assert not objects("Secret"), "no Secret with values in the repository: the operator creates them"
    refs = {}
    for source, doc in manifests():
        for path, key, value in walk(doc):
            if key == "secretKeyRef":
                refs.setdefault(value["name"], set()).add(value["key"])
            if key == "secret" and isinstance(value, dict):
                refs.setdefault(value["secretName"], set()).update(i["key"] for i in value["items"])
            if key == "env":
                for var in value:
                    assert "value" not in var or not SECRET_WORDS.search(var["name"]) or \
                        var["name"].endswith("_FILE"), f"{source}: literal {var['name']}"
            if isinstance(value, str):
                assert not re.search(r"://[^/@\s]*:[^/@\s]*@|password=|BEGIN [A-Z ]*PRIVATE KEY",
                                     value, re.I), f"{source}{path}/{key}"
    assert refs == SECRETS


def test_readme_tells_operators_to_create_the_referenced_secrets():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name, keys in SECRETS.items():
        m = re.search(rf"create secret generic {name}((?:\s+\\?\s*--from-file=\S+)+)", readme)
        assert m, f"the README does not create the secret {name}"
        made = set(re.findall(r"--from-file=([^=\s]+)=", m.group(1)))
        assert made == keys, (name, made)


def test_database_urls_come_from_the_secret():
    env = {e["name"]: e for e in container("Deployment")["env"]}
    assert env["CARECOORD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == \
        {"name": "carecoord-database", "key": "app-url"}
    assert "CARECOORD_MIGRATION_DATABASE_URL" not in env, "the API pods never hold the owner's URL"
    assert container("Deployment")["envFrom"] == [{"configMapRef": {"name": "carecoord"}}]
    volume = one("Deployment")["spec"]["template"]["spec"]["volumes"][0]
    assert volume["secret"]["secretName"] == "carecoord-keys"
    assert volume["secret"]["defaultMode"] == 0o440


# -- the migration Job ------------------------------------------------------------------------


def test_migration_job_runs_migrate_with_the_owners_secret():
    job = one("Job")
    c = container("Job")
    assert c["command"] == ["carecoord", "migrate"]
    env = {e["name"]: e for e in c["env"]}
    assert env["CARECOORD_MIGRATION_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == \
        {"name": "carecoord-database", "key": "owner-url"}
    assert env["CARECOORD_APP_ROLE"]["valueFrom"]["configMapKeyRef"]["key"] == "CARECOORD_APP_ROLE"
    assert "CARECOORD_DATABASE_URL" not in env
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0
    assert job["spec"]["template"]["metadata"]["labels"].items() >= MIGRATE_LABELS.items()


# -- selection: Service, HPA, PDB -------------------------------------------------------------


def test_service_autoscaler_and_disruption_budget_select_the_deployments_pods():
    deployment = one("Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector == API_LABELS and pod_labels.items() >= selector.items()
    job_labels = one("Job")["spec"]["template"]["metadata"]["labels"]
    service = one("Service")
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"][0]["targetPort"] in ("http", image_port())
    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert pdb["spec"]["minAvailable"] == 1
    for labels in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert not job_labels.items() >= labels.items(), "the migration pod must not be selected"
    hpa = one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "drains would block"


def test_connection_budget_fits_postgresqls_default():
    """Each replica holds the pool, one sealer and one connection per webhook thread; at the
    autoscaler's maximum they must stay under PostgreSQL's default max_connections (100)."""
    data = one("ConfigMap")["data"]
    per_replica = int(data["CARECOORD_DB_POOL_SIZE"]) + 1 + int(data["CARECOORD_WEBHOOK_THREADS"])
    assert per_replica * one("HorizontalPodAutoscaler")["spec"]["maxReplicas"] + 1 < 100


# -- network policies -------------------------------------------------------------------------


def policy_for(labels):
    found = [p for p in objects("NetworkPolicy") if p["spec"]["podSelector"]["matchLabels"] == labels]
    assert len(found) == 1, f"one NetworkPolicy for {labels} expected"
    return found[0]["spec"]


def is_dns_rule(rule):
    ports = {(p["protocol"], p["port"]) for p in rule["ports"]}
    peers = rule.get("to", [])
    return ports == {("UDP", 53), ("TCP", 53)} and len(peers) == 1 and \
        peers[0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"} and \
        peers[0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_api_pods_take_http_only_and_reach_dns_postgresql_and_partners_https():
    spec = policy_for(API_LABELS)
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert [rule["ports"] for rule in spec["ingress"]] == [[{"protocol": "TCP", "port": image_port()}]]
    egress = spec["egress"]
    assert len(egress) == 3
    assert sum(is_dns_rule(r) for r in egress) == 1
    others = [r for r in egress if not is_dns_rule(r)]
    assert sorted([(p["protocol"], p["port"]) for r in others for p in r["ports"]]) == \
        [("TCP", 443), ("TCP", 5432)]
    https = next(r for r in others if r["ports"][0]["port"] == 443)
    assert https["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]


def test_migration_pods_take_nothing_and_reach_dns_and_postgresql_only():
    spec = policy_for(MIGRATE_LABELS)
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert not spec.get("ingress")
    egress = spec["egress"]
    assert len(egress) == 2 and sum(is_dns_rule(r) for r in egress) == 1
    other = next(r for r in egress if not is_dns_rule(r))
    assert other["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_every_pod_is_covered_by_a_network_policy():
    selectors = [p["spec"]["podSelector"]["matchLabels"] for p in objects("NetworkPolicy")]
    for kind, template in pod_specs():
        labels = template["metadata"]["labels"]
        assert any(labels.items() >= s.items() for s in selectors), kind


@pytest.mark.parametrize("path", ["deploy/README.md", "docker/README.md"])
def test_folder_readmes_point_to_the_deploying_section(path):
    text = (REPO / path).read_text(encoding="utf-8")
    assert "Deploying" in text and "belong here" not in text


def readme_command(marker):
    """The shell command of the README's Deploying section that contains marker (continuation
    lines joined)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Deploying"):]
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            if marker in command:
                return command.strip()
    pytest.fail(f"no command with {marker!r} in the README's Deploying section", pytrace=False)


def run_shell(command, cwd):
    done = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_readmes_partner_command_makes_a_partner_job_from_the_migration_job():
    command = readme_command("carecoord-partner")
    assert command.endswith("| kubectl apply -f -")
    out = run_shell(command[:-len("| kubectl apply -f -")], REPO)
    job = yaml.safe_load(out)
    assert job["metadata"]["name"] == "carecoord-partner-asc-north"
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["carecoord", "partner", "ASC-NORTH", "adult_social_care",
                            "North Adult Social Care"]
    assert c["env"] == container("Job")["env"]


def test_readmes_image_command_renames_the_image_everywhere_it_runs(tmp_path):
    command = readme_command("sed -i 's#image: carecoord:")
    (tmp_path / "deploy").mkdir()
    for name in ("deployment.yaml", "migrate-job.yaml"):
        (tmp_path / "deploy" / name).write_text((DEPLOY / name).read_text())
    run_shell(command, tmp_path)
    for name in ("deployment.yaml", "migrate-job.yaml"):
        text = (tmp_path / "deploy" / name).read_text()
        assert f"image: registry.example.nhs.uk/{image_ref()}" in text, name
    for source, doc in manifests():
        if doc["kind"] not in ("Deployment", "Job"):
            assert image_ref() not in str(doc), f"{source} runs the image: the README misses it"
