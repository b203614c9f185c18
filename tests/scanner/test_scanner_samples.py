"""Corpus-driven tests: each sample message must raise exactly its expected symbols and action."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from email import message_from_bytes
from email.utils import parsedate_to_datetime

import pytest

from schemas.events import BlobRef
from services.scanner import config
from services.scanner.checks import CHECKS
from services.scanner.pipeline import Pipeline
from services.scanner.signatures import eicar_signature
from tests.scanner.scanner_mail import (
    SAMPLES,
    eicar,
    eicar_attachment,
    eicar_forwarded,
    envelope,
    with_attachment,
    zipped,
)

EXPECTED = tomllib.loads((SAMPLES / "expected.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(config.load())


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_sample_raises_its_symbols(pipeline: Pipeline, name: str) -> None:
    raw = (SAMPLES / name).read_bytes()
    expected = EXPECTED[name]
    mail = None
    if "listener" in expected:
        arrived = parsedate_to_datetime(message_from_bytes(raw)["Date"]) + timedelta(minutes=5)
        mail = envelope(BlobRef(sha256="0" * 64, size=len(raw), uri="file:///sample"), len(raw),
                        listener=expected["listener"], received_at=arrived)
    verdict = await pipeline.scan(raw, mail)
    assert sorted(s.name for s in verdict.symbols) == sorted(expected["symbols"])
    assert verdict.action == expected["action"]
    assert set(verdict.check_ms) == {c.name for c in CHECKS}


async def test_gtube_symbol_names_the_part(pipeline: Pipeline) -> None:
    verdict = await pipeline.scan((SAMPLES / "gtube.eml").read_bytes())
    (gtube,) = verdict.symbols
    assert gtube.options == ["part 0 (text/plain)"]
    assert gtube.group == "spam"
    assert verdict.score >= verdict.required_score


def test_scanner_signature_is_eicar() -> None:
    assert eicar_signature() == eicar()


async def test_eicar_in_base64_attachment_rejects_and_names_the_file(pipeline: Pipeline) -> None:
    raw = eicar_attachment("Báo cáo tháng 11.com")
    assert eicar() not in raw  # only decoding the base64 reveals it
    verdict = await pipeline.scan(raw)
    assert verdict.action == "reject"
    assert [(s.name, s.options) for s in verdict.symbols] == [
        ("VIRUS_EICAR", ["Báo cáo tháng 11.com"]), ("ATTACH_EXECUTABLE", ["Báo cáo tháng 11.com (.com)"])]


async def test_eicar_in_forwarded_message_is_found(pipeline: Pipeline) -> None:
    verdict = await pipeline.scan(eicar_forwarded())
    assert verdict.action == "reject"
    # Named .zip but not a zip: scanned as the bytes it is.
    assert [(s.name, s.options) for s in verdict.symbols] == [("VIRUS_EICAR", ["nianbao.zip"])]


async def test_eicar_after_a_prefix_is_still_found(pipeline: Pipeline) -> None:
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nN\xc3\xb4i dung: " + eicar() + b"\r\n"
    verdict = await pipeline.scan(raw)
    assert ("VIRUS_EICAR", ["part 0 (text/plain)"]) in [(s.name, s.options) for s in verdict.symbols]
    assert verdict.action == "reject"


async def test_eicar_in_a_zip_is_found_and_named_by_its_path(pipeline: Pipeline) -> None:
    archive = zipped(("hồ sơ/Báo cáo.txt", b"B\xc3\xa1o c\xc3\xa1o\n"), ("hồ sơ/tệp.dat", eicar()))
    assert eicar() not in archive  # deflated: only unpacking reveals it
    verdict = await pipeline.scan(with_attachment(archive, "Hồ sơ.zip"))
    assert [(s.name, s.options) for s in verdict.symbols] == [("VIRUS_EICAR", ["Hồ sơ.zip/hồ sơ/tệp.dat"])]
    assert verdict.action == "reject"


async def test_eicar_in_nested_zips_is_found(pipeline: Pipeline) -> None:
    inner = zipped(("年报/病毒.dat", eicar()))
    middle = zipped(("inner.zip", inner), ("ghi-chu.txt", "Ghi chú".encode()))
    verdict = await pipeline.scan(with_attachment(zipped(("middle.zip", middle)), "Lưu trữ.zip"))
    assert [(s.name, s.options) for s in verdict.symbols] == [
        ("VIRUS_EICAR", ["Lưu trữ.zip/middle.zip/inner.zip/年报/病毒.dat"])]
    assert verdict.action == "reject"
