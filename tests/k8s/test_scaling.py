"""Scanner autoscaling: KEDA on the scanner group's lag, or an HPA on CPU, never both, never past the partitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.registry import ALL_TOPICS, RECEIVED
from services.common.faust_app import make_app
from services.common.settings import PlatformSettings
from tests.k8s.conftest import OVERLAYS, find, one


def scanner_group_id(tmp_path: Path) -> str:
    # The scanner is a faust app; its consumer group is the app id make_app gives it.
    app = make_app("scanner", PlatformSettings(data_dir=tmp_path), web_port=8030)
    return app.conf.id


def test_keda_scales_the_scanner_on_its_own_group_and_topic(rendered, tmp_path):
    scaled = one(rendered["province"], "ScaledObject", "scanner")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "scanner"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == scanner_group_id(tmp_path)
    assert trigger["metadata"]["topic"] == RECEIVED
    assert trigger["metadata"]["bootstrapServers"].startswith("govmail-kafka-bootstrap.")
    assert int(trigger["metadata"]["lagThreshold"]) > 0
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scanner_never_scales_past_the_partitions_it_reads(rendered, overlay):
    partitions = ALL_TOPICS[RECEIVED].partitions
    topic = next(t for t in find(rendered[overlay], "KafkaTopic") if t["spec"]["topicName"] == RECEIVED)
    assert topic["spec"]["partitions"] == partitions
    ceilings = [s["spec"]["maxReplicaCount"] for s in find(rendered[overlay], "ScaledObject", "scanner")]
    ceilings += [h["spec"]["maxReplicas"] for h in find(rendered[overlay], "HorizontalPodAutoscaler", "scanner")]
    ceilings.append(one(rendered[overlay], "Deployment", "scanner")["spec"].get("replicas", 0))
    assert max(ceilings) <= partitions


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_at_most_one_autoscaler_owns_the_scanner_and_then_the_deployment_leaves_replicas_to_it(rendered, overlay):
    keda = find(rendered[overlay], "ScaledObject", "scanner")
    hpa = find(rendered[overlay], "HorizontalPodAutoscaler", "scanner")
    assert len(keda) + len(hpa) <= 1
    deployment = one(rendered[overlay], "Deployment", "scanner")
    assert ("replicas" in deployment["spec"]) == (not keda and not hpa)


def test_each_province_overlay_autoscales_the_scanner_its_own_way(rendered):
    assert find(rendered["province"], "ScaledObject") and not find(rendered["province"], "HorizontalPodAutoscaler")
    hpa = one(rendered["province-hpa"], "HorizontalPodAutoscaler", "scanner")
    assert not find(rendered["province-hpa"], "ScaledObject")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "scanner"}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert one(rendered["dev"], "Deployment", "scanner")["spec"]["replicas"] == 1
