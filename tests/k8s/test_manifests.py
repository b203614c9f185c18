"""Every manifest of every overlay validates against the Kubernetes schemas, and every service is deployed safely."""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest

from tests.k8s.conftest import OVERLAYS, ROOT, find, one, platform_services

# A fixed recent release, and the newest one the validator ships (removed or renamed fields show up there).
KUBERNETES_VERSIONS = ("1.33.0", kubernetes_validate.utils.latest_version())

# Custom resources of operators whose CRDs kubernetes-validate does not ship; tests/k8s/test_topics.py,
# test_scaling.py and test_monitoring.py check the fields of these that govmail depends on.
CRD_KINDS = {
    ("kafka.strimzi.io/v1beta2", "Kafka"),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("clickhouse.altinity.com/v1", "ClickHouseInstallation"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}


def validate(resource: dict[str, Any]) -> None:
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(resource, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_validates_against_the_kubernetes_schemas(rendered, overlay):
    for resource in rendered[overlay]:
        kind = (resource["apiVersion"], resource["kind"])
        if kind in CRD_KINDS:
            # A CRD kind must really be unknown to the validator, or it belongs in the validated set.
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                validate(resource)
            continue
        validate(resource)  # raises ValidationError with the path of the first problem


def test_the_validator_rejects_a_broken_deployment(rendered):
    deployment = copy.deepcopy(one(rendered["province"], "Deployment", "ingress"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")  # a typo strict validation must catch
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    deployment = copy.deepcopy(one(rendered["province"], "Deployment", "ingress"))
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def pod_specs(resources: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every pod template: Deployments, StatefulSets, Jobs and CronJobs."""
    found = []
    for resource in resources:
        spec = resource.get("spec", {})
        if resource["kind"] in ("Deployment", "StatefulSet", "Job"):
            pod = copy.deepcopy(spec["template"]["spec"])
            # A StatefulSet's claim templates are volumes of its pods too.
            claims = [{"name": c["metadata"]["name"], "persistentVolumeClaim": {}} for c in spec.get("volumeClaimTemplates", [])]
            pod["volumes"] = pod.get("volumes", []) + claims
            found.append((f"{resource['kind']}/{resource['metadata']['name']}", pod))
        elif resource["kind"] == "CronJob":
            found.append((f"CronJob/{resource['metadata']['name']}", spec["jobTemplate"]["spec"]["template"]["spec"]))
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_deployment_with_probes_limits_and_a_locked_down_container(rendered, overlay):
    resources = rendered[overlay]
    assert {d["metadata"]["name"] for d in find(resources, "Deployment")} == platform_services()
    for name in platform_services():
        deployment = one(resources, "Deployment", name)
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [name], "the image's entrypoint is govmail; the argument picks the service"
        port_names = {port["name"] for port in container["ports"]}
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] in port_names
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name} {kind}"
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        # The pod selector of the PDB and the spread must select this Deployment's pods.
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pdb = one(resources, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert "maxUnavailable" in pdb["spec"], "minAvailable would block every drain when one replica runs"
        spread_keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
        assert spread_keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for constraint in pod["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_passes_the_restricted_pod_security_standard_the_namespace_enforces(rendered, overlay):
    namespace = one(rendered[overlay], "Namespace", "govmail")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = pod_specs(rendered[overlay])
    # The ClickHouse operator builds its pods from the installation's pod templates.
    chi = one(rendered[overlay], "ClickHouseInstallation", "govmail")
    pods += [(f"ClickHouseInstallation/{t['name']}", t["spec"]) for t in chi["spec"]["templates"]["podTemplates"]]
    for where, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["securityContext"].get("runAsUser", 1) != 0, where
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"], where
            assert container.get("ports") is None or all("hostPort" not in p for p in container["ports"]), where
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), where
        assert all("hostPath" not in volume for volume in pod.get("volumes", [])), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_unprivileged_on_a_read_only_root_with_a_writable_tmp(rendered, overlay):
    for where, pod in pod_specs(rendered[overlay]):
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"], where
            assert context.get("privileged", False) is False, where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if where.startswith("Deployment/"):
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp must be an emptyDir"
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{where}: mount of an undeclared volume {mount['name']}"


def test_no_secret_is_committed_and_every_referenced_secret_is_documented(rendered):
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    referenced: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                referenced.add(node["secretKeyRef"]["name"])
            if "secretName" in node:
                referenced.add(node["secretName"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    for overlay in OVERLAYS:
        assert find(rendered[overlay], "Secret") == []
        collect(rendered[overlay])
    # The ClickHouse operator reads its password as "<secret>/<key>".
    chi = one(rendered["province"], "ClickHouseInstallation", "govmail")
    referenced.add(chi["spec"]["configuration"]["users"]["govmail/k8s_secret_password"].split("/")[0])
    assert referenced >= {"govmail-redis", "govmail-clickhouse", "govmail-dkim", "govmail-submission-tls",
                          "govmail-webmail-tls", "govmail-lifecycle"}
    for secret in referenced:
        assert re.search(rf"kubectl -n govmail create secret [a-z]+ {secret}\b", operations), f"how to create {secret}?"


def test_ingress_has_time_to_drain_before_it_is_killed(rendered):
    deployment = one(rendered["province"], "Deployment", "ingress")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    drain = float(env["INGRESS_SHUTDOWN_GRACE"]) + container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > drain
    # Rolling updates must never take away a serving replica before its successor is ready.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
