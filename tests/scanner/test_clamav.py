"""ClamAV over INSTREAM, against a small INSTREAM-speaking server on loopback (clamd itself is not on PyPI)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from services.scanner import clamd, config
from services.scanner.checks import clamav
from services.scanner.pipeline import Pipeline
from tests.scanner.scanner_mail import SAMPLES, eicar, with_attachment

CLEAN = (SAMPLES / "clean-vi.eml").read_bytes()


class FakeClamd:
    """Speaks clamd's INSTREAM: `zINSTREAM\\0`, length-prefixed chunks, a zero length, one reply."""

    def __init__(self, reply_error: str | None = None):
        self.reply_error = reply_error
        self.streams: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        command = await reader.readuntil(b"\0")
        assert command == b"zINSTREAM\0"
        data = bytearray()
        while True:
            (size,) = struct.unpack(">I", await reader.readexactly(4))
            if size == 0:
                break
            data += await reader.readexactly(size)
        self.streams.append(bytes(data))
        if self.reply_error:
            reply = self.reply_error
        elif eicar() in data:
            reply = "stream: Eicar-Test-Signature FOUND"
        elif b"Win.Trojan" in data:
            reply = "stream: Win.Trojan.Agent-1234 FOUND"
        else:
            reply = "stream: OK"
        writer.write(reply.encode() + b"\0")
        await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def serving(fake: FakeClamd, unix_path: Path | None = None) -> AsyncIterator[str]:
    if unix_path is not None:
        server = await asyncio.start_unix_server(fake.handle, path=str(unix_path))
        address = str(unix_path)
    else:
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    clamav.use(address)
    try:
        yield address
    finally:
        server.close()
        await server.wait_closed()
        clamav.reset()


def names(verdict) -> dict[str, list[str]]:
    return {s.name: s.options for s in verdict.symbols}


async def test_every_part_goes_to_clamd_and_what_it_finds_rejects() -> None:
    fake = FakeClamd()
    async with serving(fake):
        verdict = await Pipeline(config.load()).scan(with_attachment(eicar(), "tệp đính kèm.txt"))
        clean = await Pipeline(config.load()).scan(CLEAN)
    assert names(verdict)["VIRUS_CLAMAV"] == ["Eicar-Test-Signature in tệp đính kèm.txt"]
    assert verdict.action == "reject"
    assert eicar() in fake.streams  # the decoded attachment, not its base64
    assert not any(s.name.startswith(("VIRUS_CLAMAV", "CHECK_")) for s in clean.symbols)
    assert len(fake.streams) == 2 + 3  # two parts of the first mail, three of the clean one


async def test_large_parts_are_streamed_in_chunks_over_a_unix_socket(tmp_path: Path) -> None:
    fake = FakeClamd()
    payload = bytes(range(256)) * 2000 + b"Win.Trojan"  # the marker in the last chunk
    async with serving(fake, tmp_path / "clamd.sock"):
        verdict = await Pipeline(config.load()).scan(with_attachment(payload, "Dữ liệu.dat"))
    assert names(verdict)["VIRUS_CLAMAV"] == ["Win.Trojan.Agent-1234 in Dữ liệu.dat"]
    assert payload in fake.streams and len(payload) > 5 * clamd.CHUNK


async def test_clamd_down_is_a_check_error_never_clean() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clamav.use(f"127.0.0.1:{port}")
    try:
        verdict = await Pipeline(config.load()).scan(CLEAN)
    finally:
        clamav.reset()
    assert list(names(verdict)) == ["CHECK_ERROR_CLAMAV"]
    assert "ClamdError" in names(verdict)["CHECK_ERROR_CLAMAV"][0]
    assert verdict.action == "quarantine"


async def test_clamd_error_reply_is_a_check_error() -> None:
    async with serving(FakeClamd(reply_error="INSTREAM size limit exceeded. ERROR")):
        verdict = await Pipeline(config.load()).scan(CLEAN)
    assert "size limit exceeded" in names(verdict)["CHECK_ERROR_CLAMAV"][0]
    assert verdict.action == "quarantine"


async def test_without_clamd_the_check_says_so_once_and_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCANNER_CLAMD", raising=False)
    clamav.reset()
    pipeline = Pipeline(config.load())
    with capture_logs() as logs:
        verdicts = [await pipeline.scan(CLEAN) for _ in range(3)]
    clamav.reset()
    assert [e["event"] for e in logs if e["event"].startswith("clamd")] == ["clamd_not_configured"]
    assert all("CHECK_ERROR_CLAMAV" not in names(v) and v.action == "accept" for v in verdicts)


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:3310", ("127.0.0.1", 3310)), ("[::1]:3310", ("::1", 3310)), ("clamav.svc:3310", ("clamav.svc", 3310)),
    ("/run/clamav/clamd.ctl", "/run/clamav/clamd.ctl"),
])
def test_addresses(address: str, expected) -> None:
    assert clamd.parse_address(address) == expected
    with pytest.raises(ValueError, match="neither host:port"):
        clamd.parse_address("clamav")
