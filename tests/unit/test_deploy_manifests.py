"""deploy/kubernetes: every manifest parses and carries what Kubernetes and Strimzi require; the
Kafka cluster is three KRaft nodes behind one TLS + SCRAM listener with no extra super users; each
service runs non-root on a read-only root filesystem, with probes, resources and its secrets as
files; each connection profile is valid and names files its pod mounts; each command line is one
the `bus` command accepts."""

import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bus.cli.main import app
from bus.control.strimzi.names import CLUSTER_LABEL, is_resource_name
from bus.kafka.profile import ConnectionProfile

KUBE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml")
# Kubernetes requires a DNS-1123 label of these (Service, Namespace, container and volume names).
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def documents() -> list[dict[str, Any]]:
    return [d for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d is not None]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def test_every_manifest_parses_with_api_version_kind_and_a_valid_name() -> None:
    assert MANIFESTS
    for document in documents():
        assert document["apiVersion"]
        assert document["kind"]
        assert is_resource_name(document["metadata"]["name"]), document["metadata"]
        if document["kind"] in {"Service", "Namespace", "Deployment"}:
            assert _LABEL.fullmatch(document["metadata"]["name"])


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    listed = {KUBE / r for r in kustomization["resources"]}
    assert all(p.is_file() for p in listed)
    # Everything but the one-off Jobs is applied with the rest.
    assert listed == {p for p in MANIFESTS if "jobs" not in p.parts}
    assert kustomization["namespace"] == "govbus"


def test_strimzi_resources_name_their_cluster() -> None:
    cluster = of_kind("Kafka")[0]["metadata"]["name"]
    for kind in ("KafkaNodePool", "KafkaUser", "KafkaTopic"):
        resources = of_kind(kind)
        assert resources, kind
        for resource in resources:
            assert resource["apiVersion"] == "kafka.strimzi.io/v1"
            assert resource["metadata"]["labels"][CLUSTER_LABEL] == cluster
            assert resource["spec"]


def test_the_kafka_cluster() -> None:
    (kafka,) = of_kind("Kafka")
    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/node-pools": "enabled",
        "strimzi.io/kraft": "enabled",
    }
    spec = kafka["spec"]["kafka"]
    assert "replicas" not in spec  # the node pool says how many
    (listener,) = spec["listeners"]
    assert listener["tls"] is True
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert {"name", "port", "type"} <= set(listener)
    # The simple authoriser and no super user beyond those Strimzi adds for itself.
    assert spec["authorization"] == {"type": "simple"}
    config = spec["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["auto.create.topics.enable"] is False
    assert set(kafka["spec"]["entityOperator"]) == {"topicOperator", "userOperator"}
    (pool,) = of_kind("KafkaNodePool")
    assert pool["spec"]["replicas"] == 3
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["spec"]["storage"]["type"] in {"jbod", "persistent-claim"}


def workload(name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind("Deployment") + of_kind("Job") if d["metadata"]["name"] == name]
    return found


WORKLOADS = ["govbus-enforcer", "govbus-audit-indexer", "govbus-audit-api", "govbus-doctor"]


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    pod = deployment["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


@pytest.mark.parametrize("name", WORKLOADS)
def test_each_service_is_locked_down(name: str) -> None:
    deployment = workload(name)
    spec = deployment["spec"]
    if deployment["kind"] == "Deployment":
        selector = spec["selector"]["matchLabels"]
        assert selector.items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in containers(deployment):
        assert _LABEL.fullmatch(container["name"])
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        # Secrets as files only: never in the environment.
        for variable in container.get("env", []):
            assert "secretKeyRef" not in variable.get("valueFrom", {})
        assert "envFrom" not in container
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes
            if "secret" in volumes[mount["name"]]:
                assert mount["readOnly"] is True
    (main,) = pod["containers"]
    if deployment["kind"] == "Deployment":
        assert main["readinessProbe"]
        assert main["livenessProbe"]


def test_the_enforcer_scales_out_and_the_indexer_does_not() -> None:
    deployments = {d["metadata"]["name"]: d["spec"] for d in of_kind("Deployment")}
    assert deployments["govbus-enforcer"]["replicas"] == 3
    assert deployments["govbus-audit-indexer"]["replicas"] == 1
    assert deployments["govbus-audit-indexer"]["strategy"] == {"type": "Recreate"}


def test_the_audit_api_has_a_service() -> None:
    (service,) = of_kind("Service")
    (api,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "govbus-audit-api"]
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    ports = {p["name"] for c in api["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def _mounted(deployment: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The volume of the main container that holds the file `path`, if any."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in pod["containers"][0]["volumeMounts"]:
        if PurePosixPath(path).is_relative_to(mount["mountPath"]):
            return dict(volumes[mount["name"]])
    return None


def test_each_profile_is_valid_and_names_files_its_pod_mounts() -> None:
    (profiles,) = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "govbus-profiles"]
    users = {u["metadata"]["name"] for u in of_kind("KafkaUser")}
    (kafka,) = of_kind("Kafka")
    ca_secret = f"{kafka['metadata']['name']}-cluster-ca-cert"
    used = 0
    for deployment in of_kind("Deployment"):
        (main,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {v["name"]: v.get("value") for v in main["env"]}
        path = PurePosixPath(env["BUS_PROFILE"])
        volume = _mounted(deployment, str(path))
        assert volume is not None
        assert volume["configMap"]["name"] == "govbus-profiles"
        values = tomllib.loads(profiles["data"][path.name])
        profile = ConnectionProfile(**values)
        assert profile.security_protocol == "SASL_SSL"
        assert profile.username in users  # a KafkaUser (and so its Secret) exists
        ca = _mounted(deployment, str(profile.ca_file))
        assert ca is not None
        assert ca["secret"]["secretName"] == ca_secret
        assert profile.password_file is not None
        # The password file is copied by the init container from the user's own Secret.
        init = deployment["spec"]["template"]["spec"]["initContainers"][0]
        assert str(profile.password_file) in " ".join(init["args"])
        secrets = [
            v["secret"]["secretName"]
            for v in deployment["spec"]["template"]["spec"]["volumes"]
            if "secret" in v
        ]
        assert profile.username in secrets
        used += 1
    assert used == 3


@pytest.mark.parametrize("name", WORKLOADS)
def test_each_command_line_is_one_bus_accepts(name: str) -> None:
    (main,) = workload(name)["spec"]["template"]["spec"]["containers"]
    # --help after the arguments: an unknown command or option is still an error (exit 2).
    result = CliRunner().invoke(app, [*main["args"], "--help"])
    assert result.exit_code == 0, result.output
