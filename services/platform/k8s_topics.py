"""`python -m services.platform.k8s_topics > k8s/base/kafka-topics.yaml`: Strimzi KafkaTopics generated from the schemas/ registry."""

from __future__ import annotations

import json
import re
import sys

from schemas.registry import ALL_TOPICS, TopicSpec

CLUSTER = "govmail"  # the Strimzi Kafka resource the topics belong to (k8s/base/kafka.yaml)
REPLICAS = 3  # copies of each partition in the province; the dev overlay patches it to 1
MIN_INSYNC = 2  # with acks=all a write survives one broker lost; the dev overlay patches it to 1

HEADER = """\
# GENERATED from schemas/registry.py — do not edit; regenerate with
#   python -m services.platform.k8s_topics > k8s/base/kafka-topics.yaml
# (tests/k8s/test_topics.py fails when this file and the registry differ).
"""


def topic_config(spec: TopicSpec) -> dict[str, str]:
    # Kafka topic configs are strings; the registry's own extra config wins over the defaults.
    return {
        "cleanup.policy": spec.cleanup_policy,
        "retention.ms": str(spec.retention_ms),
        "min.insync.replicas": str(MIN_INSYNC),
        **spec.config,
    }


def kafka_topic(spec: TopicSpec) -> dict:
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {
            "name": spec.name,
            "labels": {"strimzi.io/cluster": CLUSTER, "app.kubernetes.io/part-of": "govmail"},
        },
        "spec": {
            "topicName": spec.name,
            "partitions": spec.partitions,
            "replicas": REPLICAS,
            "config": topic_config(spec),
        },
    }


def yaml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z][A-Za-z0-9_./-]*", key) else json.dumps(key)


def to_yaml(value: object, indent: int = 0) -> str:
    """Block YAML for the plain dicts, strings and ints above (JSON-quoted strings are valid YAML)."""
    pad = "  " * indent
    lines = []
    for key, item in value.items():  # type: ignore[union-attr]
        if isinstance(item, dict):
            lines.append(f"{pad}{yaml_key(key)}:\n{to_yaml(item, indent + 1)}")
        else:
            lines.append(f"{pad}{yaml_key(key)}: {json.dumps(item, ensure_ascii=False)}")
    return "\n".join(lines)


def render() -> str:
    return HEADER + "".join(f"---\n{to_yaml(kafka_topic(spec))}\n" for spec in ALL_TOPICS.values())


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
