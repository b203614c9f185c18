"""Corpus-driven tests: each sample message must raise exactly its expected symbols and action."""

from __future__ import annotations

import tomllib

import pytest

from services.scanner import config
from services.scanner.checks import CHECKS
from services.scanner.checks.eicar import signature
from services.scanner.pipeline import Pipeline
from tests.scanner.scanner_mail import SAMPLES, eicar, eicar_attachment, eicar_forwarded

EXPECTED = tomllib.loads((SAMPLES / "expected.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(config.load())


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_sample_raises_its_symbols(pipeline: Pipeline, name: str) -> None:
    verdict = await pipeline.scan((SAMPLES / name).read_bytes())
    assert sorted(s.name for s in verdict.symbols) == sorted(EXPECTED[name]["symbols"])
    assert verdict.action == EXPECTED[name]["action"]
    assert set(verdict.check_ms) == {c.name for c in CHECKS}


async def test_gtube_symbol_names_the_part(pipeline: Pipeline) -> None:
    verdict = await pipeline.scan((SAMPLES / "gtube.eml").read_bytes())
    (gtube,) = verdict.symbols
    assert gtube.options == ["part 0 (text/plain)"]
    assert gtube.group == "spam"
    assert verdict.score >= verdict.required_score


def test_scanner_signature_is_eicar() -> None:
    assert signature() == eicar()


async def test_eicar_in_base64_attachment_rejects_and_names_the_file(pipeline: Pipeline) -> None:
    raw = eicar_attachment("Báo cáo tháng 11.com")
    assert eicar() not in raw  # only decoding the base64 reveals it
    verdict = await pipeline.scan(raw)
    assert verdict.action == "reject"
    assert [(s.name, s.options) for s in verdict.symbols] == [("VIRUS_EICAR", ["Báo cáo tháng 11.com"])]


async def test_eicar_in_forwarded_message_is_found(pipeline: Pipeline) -> None:
    verdict = await pipeline.scan(eicar_forwarded())
    assert verdict.action == "reject"
    assert [(s.name, s.options) for s in verdict.symbols] == [("VIRUS_EICAR", ["nianbao.zip"])]


async def test_eicar_after_a_prefix_is_still_found(pipeline: Pipeline) -> None:
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nN\xc3\xb4i dung: " + eicar() + b"\r\n"
    verdict = await pipeline.scan(raw)
    assert [(s.name, s.options) for s in verdict.symbols] == [("VIRUS_EICAR", ["part 0 (text/plain)"])]
