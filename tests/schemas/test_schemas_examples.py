"""Every example payload is a valid event of its topic, by the pydantic model and by the exported JSON Schema."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from schemas.events import DeadLetter
from schemas.export import ROOT, example_paths, load_schema, schema_name
from schemas.registry import ALL_TOPICS, DLQ_TOPICS, TOPICS


def examples() -> list[tuple[str, Path]]:
    """(a topic using the schema, example file) once per example, whatever number of topics share it."""
    seen: dict[str, str] = {}
    for topic in ALL_TOPICS:
        seen.setdefault(schema_name(topic), topic)
    return [(topic, path) for topic in seen.values() for path in example_paths(topic)]


EXAMPLES = examples()
IDS = [str(path.relative_to(ROOT)) for _, path in EXAMPLES]


def model_of(topic: str) -> type[BaseModel]:
    return ALL_TOPICS[topic].model


def validator(topic: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(topic), format_checker=Draft202012Validator.FORMAT_CHECKER)


def producers_of(topic: str) -> set[str]:
    name = schema_name(topic)
    return {p for spec in ALL_TOPICS.values() if schema_name(spec.name) == name for p in spec.producers}


@pytest.mark.parametrize(("topic", "path"), EXAMPLES, ids=IDS)
def test_example_validates_against_its_model(topic: str, path: Path) -> None:
    model_of(topic).model_validate_json(path.read_bytes())


@pytest.mark.parametrize(("topic", "path"), EXAMPLES, ids=IDS)
def test_example_validates_against_the_exported_json_schema(topic: str, path: Path) -> None:
    validator(topic).validate(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(("topic", "path"), EXAMPLES, ids=IDS)
def test_example_round_trips_through_the_model(topic: str, path: Path) -> None:
    model = model_of(topic)
    event = model.model_validate_json(path.read_bytes())
    dumped = event.model_dump_json()
    assert model.model_validate_json(dumped) == event
    validator(topic).validate(json.loads(dumped))


@pytest.mark.parametrize(("topic", "path"), EXAMPLES, ids=IDS)
def test_example_comes_from_a_registered_producer(topic: str, path: Path) -> None:
    event = model_of(topic).model_validate_json(path.read_bytes())
    assert event.producer in producers_of(topic)


def test_dead_letter_examples_hold_an_input_their_source_topic_rejects() -> None:
    letters = [
        DeadLetter.model_validate_json(path.read_bytes()) for path in example_paths(next(iter(DLQ_TOPICS)))
    ]
    assert letters
    for letter in letters:
        assert letter.source_topic in TOPICS
        assert letter.producer in TOPICS[letter.source_topic].consumers
        if letter.reason == "invalid_payload":
            with pytest.raises(ValidationError):
                TOPICS[letter.source_topic].model.model_validate_json(letter.payload)


def is_vietnamese(text: str) -> bool:
    return any(
        ch in "đĐ" or (unicodedata.decomposition(ch) and unicodedata.name(ch).startswith("LATIN"))
        for ch in text
    )


def is_chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


@pytest.mark.parametrize("topic", sorted({topic for topic, _ in EXAMPLES}))
def test_every_topic_has_an_example_with_vietnamese_or_chinese_text(topic: str) -> None:
    texts = [path.read_text(encoding="utf-8") for path in example_paths(topic)]
    assert any(is_vietnamese(text) or is_chinese(text) for text in texts), f"{topic}: only ASCII examples"


def test_some_example_mixes_vietnamese_and_chinese_text() -> None:
    assert any(
        is_vietnamese(text) and is_chinese(text)
        for text in (p.read_text(encoding="utf-8") for _, p in EXAMPLES)
    )
