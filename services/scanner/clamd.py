"""A client of ClamAV's daemon: sends bytes over INSTREAM and reads what clamd found."""

from __future__ import annotations

import asyncio
import struct

CHUNK = 64 * 1024


class ClamdError(Exception):
    """clamd could not be reached or could not scan; the bytes were not scanned."""


def parse_address(address: str) -> tuple[str, int] | str:
    """`host:port` (IPv6 as `[::1]:3310`) → (host, port); anything with a `/` → a Unix socket path."""
    if "/" in address:
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"clamd address {address!r} is neither host:port nor a socket path")
    return host.strip("[]"), int(port)


async def connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    target = parse_address(address)
    if isinstance(target, str):
        return await asyncio.open_unix_connection(target)
    return await asyncio.open_connection(*target)


async def instream(address: str, data: bytes, timeout: float = 10.0) -> str | None:
    """The name of what clamd found in `data`, or None when it is clean. Raises ClamdError."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await connect(address)
            try:
                # The `z` form: NUL-terminated command and reply.
                writer.write(b"zINSTREAM\0")
                for start in range(0, len(data), CHUNK):
                    chunk = data[start:start + CHUNK]
                    writer.write(struct.pack(">I", len(chunk)) + chunk)
                    await writer.drain()
                writer.write(struct.pack(">I", 0))
                await writer.drain()
                reply = await reader.readuntil(b"\0")
            finally:
                writer.close()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise ClamdError(f"clamd at {address}: {type(exc).__name__}: {exc}") from exc
    except TimeoutError as exc:
        raise ClamdError(f"clamd at {address}: no answer within {timeout:g}s") from exc
    return parse_reply(reply.rstrip(b"\0").decode("utf-8", "replace"))


def parse_reply(reply: str) -> str | None:
    """`stream: OK` → None; `stream: Eicar-Signature FOUND` → the name; anything else is an error."""
    _, _, result = reply.partition(": ")
    if result == "OK":
        return None
    if result.endswith(" FOUND"):
        return result[: -len(" FOUND")]
    raise ClamdError(f"clamd: {reply.strip() or 'empty reply'}")
