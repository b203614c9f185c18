"""Every topic in the registry is complete: schema file, examples, a real key, partitions, producers, consumers, envelope."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator

from schemas.events import Envelope
from schemas.export import ROOT, example_paths, load_schema, schema_name, schema_path
from schemas.registry import ALL_TOPICS, DLQ_TOPICS, TOPICS, TopicSpec

SPECS = list(ALL_TOPICS.values())
IDS = [spec.name for spec in SPECS]
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAIN_TOPIC_NAME = re.compile(r"^[a-z]+(\.[a-z]+)+\.v[1-9][0-9]*$")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_topic_has_an_exported_schema_that_is_valid_json_schema(spec: TopicSpec) -> None:
    assert schema_path(ROOT, schema_name(spec.name)).is_file(), "run `python -m schemas.export`"
    Draft202012Validator.check_schema(load_schema(spec.name))


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_topic_has_an_example(spec: TopicSpec) -> None:
    assert example_paths(spec.name), f"add an example under schemas/examples/{schema_name(spec.name)}/"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_topic_key_is_a_field_of_its_model(spec: TopicSpec) -> None:
    assert spec.key in spec.model.model_fields
    if spec.name in DLQ_TOPICS:
        assert spec.key == "key"  # a DLQ keeps the original record's key


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_topic_has_partitions_retention_and_a_cleanup_policy(spec: TopicSpec) -> None:
    assert spec.partitions >= 1
    assert spec.retention_ms > 0
    assert set(spec.cleanup_policy.split(",")) <= {"delete", "compact"}
    assert spec.description.strip()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_topic_names_its_producers_and_consumers(spec: TopicSpec) -> None:
    assert spec.producers and spec.consumers
    for service in (*spec.producers, *spec.consumers):
        assert SERVICE_NAME.match(service), service


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_topic_name_carries_its_version(spec: TopicSpec) -> None:
    main = spec.name.removesuffix(".dlq")
    assert MAIN_TOPIC_NAME.match(main), spec.name
    assert main in TOPICS
    assert ALL_TOPICS[spec.name].name == spec.name


def test_every_main_topic_has_its_dlq() -> None:
    assert {spec.dlq for spec in TOPICS.values()} == set(DLQ_TOPICS)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_model_carries_the_envelope(spec: TopicSpec) -> None:
    assert issubclass(spec.model, Envelope)
    fields = spec.model.model_fields
    exported = load_schema(spec.name)
    for name, field in Envelope.model_fields.items():
        assert name in fields, name
        assert fields[name].annotation == field.annotation, name
        assert name in exported["properties"], name
    assert "producer" in exported["required"]
    # Consumers ignore fields they do not know yet, so adding an optional field never dead-letters.
    assert exported.get("additionalProperties", True) is not False
