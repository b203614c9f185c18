"""Only ingress and webmail face the outside; Kafka, Redis and ClickHouse admit only the services that use them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from schemas.registry import ALL_TOPICS
from tests.k8s.conftest import OVERLAYS, ROOT, deployment_of, find, one, platform_services


def selected_names(selector: dict[str, Any]) -> set[str]:
    """The app.kubernetes.io/name values a pod selector admits (the only way our policies select)."""
    names = set()
    if "app.kubernetes.io/name" in selector.get("matchLabels", {}):
        names.add(selector["matchLabels"]["app.kubernetes.io/name"])
    for expression in selector.get("matchExpressions", []):
        assert expression["key"] == "app.kubernetes.io/name" and expression["operator"] == "In"
        names |= set(expression["values"])
    return names


def peers_of(policy: dict[str, Any]) -> set[str]:
    return {name for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])
            if "podSelector" in peer and "namespaceSelector" not in peer for name in selected_names(peer["podSelector"])}


def workload_names(resources: list[dict[str, Any]]) -> set[str]:
    names = set()
    for resource in resources:
        if resource["kind"] in ("Deployment", "StatefulSet", "Job"):
            names.add(resource["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"])
        elif resource["kind"] == "CronJob":
            names.add(resource["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"])
    return names


def uses(service: str, pattern: str) -> bool:
    """Whether a service's own code (services/<name>/) talks to a part; services not on this branch yet count as no."""
    folder = ROOT / "services" / service
    return any(re.search(pattern, path.read_text(encoding="utf-8")) for path in folder.rglob("*.py"))


def test_kafka_admits_exactly_the_producers_and_consumers_of_the_registry_and_keda(rendered):
    kafka = one(rendered["province"], "Kafka", "govmail")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    admitted = {name for peer in listener["networkPolicyPeers"] if "podSelector" in peer
                for name in selected_names(peer["podSelector"])}
    roles = {role for spec in ALL_TOPICS.values() for role in (*spec.producers, *spec.consumers)}
    assert admitted == {deployment_of(role) for role in roles} - {None}
    namespaces = [peer["namespaceSelector"]["matchLabels"] for peer in listener["networkPolicyPeers"]
                  if "namespaceSelector" in peer]
    assert namespaces == [{"kubernetes.io/metadata.name": "keda"}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_admits_its_users_and_no_one_unknown(rendered, overlay):
    policy = one(rendered[overlay], "NetworkPolicy", "redis-from-its-users")
    admitted = peers_of(policy)
    users = {s for s in platform_services() if uses(s, r"RedisDirectory|redis\.|platform\.redis")}
    assert users, "the code search found no Redis user at all"
    assert users <= admitted
    assert admitted <= workload_names(rendered[overlay]), "a policy names a workload that does not exist"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_clickhouse_admits_only_analytics_and_its_migrations(rendered, overlay):
    policy = one(rendered[overlay], "NetworkPolicy", "clickhouse-from-its-users")
    assert peers_of(policy) == {"analytics", "analytics-migrations"}
    users = {s for s in platform_services() if uses(s, r"clickhouse|warehouse")}
    assert users == {"analytics"}
    assert policy["spec"]["podSelector"]["matchLabels"] == {"clickhouse.altinity.com/chi": "govmail"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_ingress_and_webmail_are_reachable_from_outside(rendered, overlay):
    resources = rendered[overlay]
    policies = find(resources, "NetworkPolicy")
    deny = one(resources, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    # A rule without "from" admits every source: only SMTP on the ingress pods may have one.
    open_rules = [(p["metadata"]["name"], p["spec"]["podSelector"]) for p in policies
                  for rule in p["spec"].get("ingress", []) if "from" not in rule]
    assert open_rules == [("ingress-smtp-from-anywhere", {"matchLabels": {"app.kubernetes.io/name": "ingress"}})]
    exposed = [s for s in find(resources, "Service") if s["spec"].get("type") in ("LoadBalancer", "NodePort")]
    assert [s["metadata"]["name"] for s in exposed] == ["ingress"]
    (smtp,) = exposed
    assert smtp["spec"]["externalTrafficPolicy"] == "Local"
    assert sorted(p["port"] for p in smtp["spec"]["ports"]) == [25, 587]
    (web,) = find(resources, "Ingress")
    assert web["metadata"]["name"] == "webmail" and web["spec"]["tls"][0]["secretName"]
    assert {p["backend"]["service"]["name"] for r in web["spec"]["rules"] for p in r["http"]["paths"]} == {"webmail"}
