"""The KafkaTopics are exactly what schemas/registry.py says: generated file up to date, settings carried over."""

from __future__ import annotations

import subprocess
import sys

import pytest

from schemas.registry import ALL_TOPICS
from services.platform import k8s_topics
from tests.k8s.conftest import OVERLAYS, ROOT, find

COMMITTED = ROOT / "k8s" / "base" / "kafka-topics.yaml"


def test_committed_topics_are_what_the_registry_generates():
    assert COMMITTED.read_text(encoding="utf-8") == k8s_topics.render(), (
        "k8s/base/kafka-topics.yaml is stale: python -m services.platform.k8s_topics > k8s/base/kafka-topics.yaml"
    )


def test_the_generator_command_prints_the_same_file():
    result = subprocess.run([sys.executable, "-m", "services.platform.k8s_topics"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == k8s_topics.render()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_registry_topic_and_dlq_has_a_kafka_topic_with_the_registry_settings(rendered, overlay):
    topics = {t["spec"]["topicName"]: t for t in find(rendered[overlay], "KafkaTopic")}
    assert set(topics) == set(ALL_TOPICS)
    assert any(name.endswith(".dlq") for name in topics)
    for name, spec in ALL_TOPICS.items():
        topic = topics[name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "govmail"
        assert topic["spec"]["partitions"] == spec.partitions
        config = topic["spec"]["config"]
        assert config["retention.ms"] == str(spec.retention_ms)
        assert config["cleanup.policy"] == spec.cleanup_policy
        for key, value in spec.config.items():
            assert config[key] == value
        # Never more in-sync copies demanded than there are copies: producers with acks=all would stall.
        assert int(config["min.insync.replicas"]) <= topic["spec"]["replicas"]


def test_dev_keeps_one_copy_and_the_province_three(rendered):
    brokers = {overlay: next(iter(find(rendered[overlay], "KafkaNodePool")))["spec"]["replicas"] for overlay in OVERLAYS}
    assert brokers == {"dev": 1, "province": 3, "province-hpa": 3}
    for overlay in OVERLAYS:
        for topic in find(rendered[overlay], "KafkaTopic"):
            assert topic["spec"]["replicas"] <= brokers[overlay]
        kafka = next(iter(find(rendered[overlay], "Kafka")))
        assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
        assert kafka["spec"]["kafka"]["config"]["offsets.topic.replication.factor"] <= brokers[overlay]


def test_compacted_topics_come_out_compacted(monkeypatch):
    # The registry has no compacted topic yet; the generator must still carry the policy when one comes.
    spec = next(iter(ALL_TOPICS.values()))
    compacted = type(spec)(**{**spec.__dict__, "name": "account.state.v1", "cleanup_policy": "compact",
                              "config": {"min.compaction.lag.ms": "60000"}})
    monkeypatch.setattr(k8s_topics, "ALL_TOPICS", {compacted.name: compacted})
    text = k8s_topics.render()
    assert 'cleanup.policy: "compact"' in text and 'min.compaction.lag.ms: "60000"' in text
    assert 'topicName: "account.state.v1"' in text
