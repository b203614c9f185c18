"""The scanner as a process on the real broker: verdicts out for mail in, bad input to the DLQ, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.events import AdminAudit, BlobRef, DeadLetter, MailScanned, derived_event_id
from schemas.registry import AUDIT, RECEIVED, SCANNED
from services.common import ready
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.platform import infra
from services.scanner import config
from services.scanner.app import EXIT_BREAKER
from services.scanner.checks import CHECKS
from services.scanner.pipeline import Pipeline
from tests.conftest import govmail_command
from tests.scanner.scanner_mail import SAMPLES, eicar_attachment, received_event

# The shared broker holds other tests' MailReceived events, whose blobs are in their own data dirs;
# the first scanner of the session dead-letters them all (blob_missing), which must not trip the
# breaker here. The breaker itself is tested with its own limits below.
BACKLOG_TOLERANT = {"SCANNER_BREAKER_MIN_COUNT": "100000"}


@dataclass
class RunningScanner:
    proc: subprocess.Popen
    run_dir: Path
    store: FileBlobStore
    publisher: KafkaPublisher
    stdout: Path
    stderr: Path


@contextlib.asynccontextmanager
async def running_scanner(bootstrap: str, env: dict[str, str], logs: Path) -> AsyncIterator[RunningScanner]:
    """`govmail scanner` in a subprocess, ready (partitions assigned); stopped on the way out.

    Its faust app id, hence its consumer group, is fixed: only one may run at a time.
    """
    data_dir = Path(env["GOVMAIL_DATA_DIR"])
    stdout, stderr = logs / "scanner.out", logs / "scanner.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(govmail_command("scanner"), env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    publisher = KafkaPublisher(bootstrap, "test-scanner", timeout=10)
    try:
        async with asyncio.timeout(60):
            while not ready.is_ready(data_dir / "run", "scanner", proc.pid):
                assert proc.poll() is None, stderr.read_text(encoding="utf-8")
                await asyncio.sleep(0.1)
        await publisher.start()
        yield RunningScanner(proc, data_dir / "run", FileBlobStore(data_dir / "blobs"), publisher, stdout, stderr)
    finally:
        await publisher.stop()
        await asyncio.to_thread(infra.stop, proc, 30)


@pytest.fixture
async def scanner(infra_parts, platform_env: dict[str, str], tmp_path: Path) -> AsyncIterator[RunningScanner]:
    async with running_scanner(infra_parts.bootstrap, {**platform_env, **BACKLOG_TOLERANT}, tmp_path) as running:
        yield running


async def read_topic(bootstrap: str, topic: str, wanted: dict[str, object], key_of) -> dict[str, object]:
    """Read `topic` from the start until every key in `wanted` has its event (the broker is shared)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: dict[str, object] = {}
    try:
        async with asyncio.timeout(60):
            while set(found) != set(wanted):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        try:
                            key = key_of(r.value)
                        except (ValueError, TypeError, AttributeError):  # other tests' garbage
                            continue
                        if key in wanted:
                            found[key] = r.value
    finally:
        await consumer.stop()
    return found


async def verdicts(bootstrap: str, message_ids: list[str]) -> dict[str, MailScanned]:
    raw = await read_topic(bootstrap, SCANNED, dict.fromkeys(message_ids), lambda v: json.loads(v).get("message_id"))
    return {k: MailScanned.model_validate_json(v) for k, v in raw.items()}


async def test_scanner_publishes_a_verdict_for_each_received_mail(infra_parts, scanner: RunningScanner) -> None:
    mails = {
        "clean": (SAMPLES / "clean-vi.eml").read_bytes(),
        "chinese": (SAMPLES / "clean-zh.eml").read_bytes(),
        "gtube": (SAMPLES / "gtube.eml").read_bytes(),
        "eicar": eicar_attachment("Báo cáo tháng 11.com"),
    }
    events = {name: received_event(scanner.store, raw) for name, raw in mails.items()}
    for event in events.values():
        await scanner.publisher.publish(RECEIVED, event)

    got = await verdicts(infra_parts.bootstrap, [e.message_id for e in events.values()])

    by_name = {name: got[e.message_id] for name, e in events.items()}
    assert {n: v.verdict.action for n, v in by_name.items()} == {
        "clean": "accept", "chinese": "accept", "gtube": "reject", "eicar": "reject"
    }
    assert [(s.name, s.options) for s in by_name["eicar"].verdict.symbols] == [
        ("VIRUS_EICAR", ["Báo cáo tháng 11.com"]), ("ATTACH_EXECUTABLE", ["Báo cáo tháng 11.com (.com)"])]
    # The sample is dated 2024 and arrives now: HDR_DATE_PAST beside GTUBE.
    assert [s.name for s in by_name["gtube"].verdict.symbols] == ["SPAM_GTUBE", "HDR_DATE_PAST"]
    for name, scanned in by_name.items():
        received = events[name]
        assert scanned.event_id == derived_event_id("scanned", received.event_id)
        assert (scanned.producer, scanned.trace_id, scanned.mail) == ("scanner", received.trace_id, received.mail)
        assert set(scanned.verdict.check_ms) == {c.name for c in CHECKS}
        assert scanned.verdict.scanner_version == Pipeline(config.load()).version


async def test_bad_input_goes_to_the_dlq_and_scanning_goes_on(infra_parts, scanner: RunningScanner) -> None:
    marker = uuid.uuid4().hex
    garbage = f'{{"producer": "ingress", "note": "không phải sự kiện — 不是事件", "marker": "{marker}"'.encode() + b"\xff"
    await scanner.publisher.publish_raw(RECEIVED, garbage, key=marker.encode())
    lost = received_event(scanner.store, (SAMPLES / "clean-vi.eml").read_bytes())
    lost.mail.blob = BlobRef(sha256="0" * 64, size=10, uri="file:///nowhere")
    await scanner.publisher.publish(RECEIVED, lost)
    after = received_event(scanner.store, (SAMPLES / "gtube.eml").read_bytes())
    await scanner.publisher.publish(RECEIVED, after)

    letters = await read_topic(infra_parts.bootstrap, f"{RECEIVED}.dlq", {marker: None, lost.message_id: None},
                               lambda v: json.loads(v).get("key"))
    garbage_letter = DeadLetter.model_validate_json(letters[marker])
    assert (garbage_letter.reason, garbage_letter.consumer, garbage_letter.source_topic) == (
        "invalid_payload", "scanner", RECEIVED)
    assert "không phải sự kiện — 不是事件" in garbage_letter.payload
    assert DeadLetter.model_validate_json(letters[lost.message_id]).reason == "blob_missing"
    assert (await verdicts(infra_parts.bootstrap, [after.message_id]))[after.message_id].verdict.action == "reject"
    assert scanner.proc.poll() is None


async def test_sigterm_stops_the_scanner_cleanly(scanner: RunningScanner) -> None:
    scanner.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(scanner.proc.wait, 30) == 0
    assert not ready.marker(scanner.run_dir, "scanner").exists()
    assert scanner.stdout.read_bytes() == b""  # stdout is the supervisor's; logs go to stderr
    assert '"event": "scanner_stopped"' in scanner.stderr.read_text(encoding="utf-8")


async def test_breaker_stops_the_scanner_when_too_much_goes_to_the_dlq(
    infra_parts, platform_env: dict[str, str], tmp_path: Path
) -> None:
    limits = {"SCANNER_BREAKER_WINDOW": "4", "SCANNER_BREAKER_MIN_COUNT": "3", "SCANNER_BREAKER_MAX_SHARE": "0.5"}
    async with running_scanner(infra_parts.bootstrap, {**platform_env, **limits}, tmp_path) as scanner:
        for n in range(3):
            await scanner.publisher.publish_raw(RECEIVED, f"hỏng {n} — 损坏".encode(), key=None)
        assert await asyncio.to_thread(scanner.proc.wait, 60) == EXIT_BREAKER
    assert '"event": "breaker_tripped"' in scanner.stderr.read_text(encoding="utf-8")
    assert not ready.marker(scanner.run_dir, "scanner").exists()


def test_invalid_configuration_stops_the_scanner_before_it_starts(platform_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "scanner.toml"
    bad.write_text("[actions]\nreject = 1.0\nquarantine = 5.0\n", encoding="utf-8")
    result = subprocess.run(govmail_command("scanner"), env={**platform_env, "SCANNER_CONFIG": str(bad)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert '"event": "config_invalid"' in result.stderr
    assert str(bad) in result.stderr


def test_python_dash_m_runs_the_same_command() -> None:
    # Feedback alone, and none given: nothing to learn from, which `train` refuses as a usage error.
    result = subprocess.run([sys.executable, "-m", "services.scanner", "train", "--corpus", "none"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert '"event": "training_set_one_sided"' in result.stderr


async def test_classified_mail_is_rejected_and_audited(infra_parts, scanner: RunningScanner) -> None:
    marked = received_event(scanner.store, (SAMPLES / "classified-vi.eml").read_bytes(),
                            subject="[MẬT] Kế hoạch bảo đảm an ninh hội nghị tỉnh", listener="submission")
    words = received_event(scanner.store, (SAMPLES / "ordinary-words-vi.eml").read_bytes(), listener="submission")
    for event in (marked, words):
        await scanner.publisher.publish(RECEIVED, event)

    got = await verdicts(infra_parts.bootstrap, [marked.message_id, words.message_id])
    assert got[marked.message_id].verdict.action == "reject"
    assert "CLASSIFIED_MARKING" not in [s.name for s in got[words.message_id].verdict.symbols]

    audits = await read_topic(infra_parts.bootstrap, AUDIT, {marked.message_id: None},
                              lambda v: json.loads(v).get("message_id"))
    audit = AdminAudit.model_validate_json(audits[marked.message_id])
    assert (audit.admin, audit.action, audit.target, audit.producer) == (
        "scanner", "classified_rejected", "anhnv.tt@backan.gov.vn", "scanner")
    assert audit.details["message_id"] == marked.message_id
    assert audit.details["markings"] == ["MẬT (bracket) in the subject", "MẬT (field) in the body"]
    assert audit.event_id == derived_event_id("audit-classified", marked.event_id)
