"""DATA received line by line straight into the blob store, so a message is never held whole in memory."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiosmtpd.smtp import Envelope

from schemas.events import BlobRef
from services.common import logging as log
from services.common.blobstore import BlobWriter
from services.common.directory import Account, ServiceClass
from services.ingress import replies
from services.ingress.lean import LeanSMTP

logger = log.get(__name__)
T = TypeVar("T")

# Bytes of unstuffed DATA gathered before one write to disk: few thread hops, little memory per session.
CHUNK_BYTES = 256 * 1024
# The start of the message kept in memory for the header checks (the header block of real mail is far smaller).
HEAD_BYTES = 64 * 1024


class Draft:
    """A message being received: its queue id and the bytes on their way to an uncommitted blob."""

    def __init__(self, message_id: str, writer: BlobWriter, trace: bytes):
        self.message_id = message_id
        self.writer = writer
        self.size = 0
        self.head = bytearray()
        self._pending = bytearray(trace)
        self._trace_len = len(trace)
        # Called once, before the first byte reaches the disk, with the start of the message; what it
        # returns is written as header lines after the trace (the submission listener's Sender:).
        self._header_hook: Callable[[bytes], Awaitable[bytes]] | None = None
        self._busy: asyncio.Future[Any] | None = None

    def add(self, line: bytes) -> bool:
        """Take one unstuffed line; True when enough is pending to be written out."""
        if len(self.head) < HEAD_BYTES:
            self.head += line[: HEAD_BYTES - len(self.head)]
        self.size += len(line)
        self._pending += line
        return len(self._pending) >= CHUNK_BYTES

    def set_header_hook(self, hook: Callable[[bytes], Awaitable[bytes]]) -> None:
        self._header_hook = hook

    async def _add_headers(self) -> None:
        if self._header_hook is not None:
            hook, self._header_hook = self._header_hook, None
            self._pending[self._trace_len:self._trace_len] = await hook(bytes(self.head))

    async def flush(self) -> None:
        await self._add_headers()
        chunk, self._pending = bytes(self._pending), bytearray()
        await self._in_thread(self.writer.write, chunk)

    async def commit(self, sync: bool = True) -> BlobRef:
        await self._add_headers()
        chunk, self._pending = bytes(self._pending), bytearray()

        def finish() -> BlobRef:
            self.writer.write(chunk)
            return self.writer.commit(sync)

        if not sync and self.writer.temp is None:
            # A message that fits in one chunk and needs no fsync (group commit) costs an open, a write
            # to the page cache and a rename: less than the hop to a worker thread and back.
            return finish()
        return await self._in_thread(finish)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        # Shielded: a session cancelled mid-write must not close the file under the thread still using it.
        self._busy = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        return await asyncio.shield(self._busy)

    def discard(self) -> None:
        """Remove the temporary file, now or once the disk write in progress has finished."""
        self._pending = bytearray()
        if self._busy is None or self._busy.done():
            self.writer.discard()
        else:
            self._busy.add_done_callback(self._discard_after)

    def _discard_after(self, done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is not None:
            logger.warning("blob_write_failed", message_id=self.message_id, error=str(done.exception()))
        self.writer.discard()


class DraftEnvelope(Envelope):
    """The envelope, plus what later steps need from earlier ones without asking Redis again: the
    message received in this DATA (None before its end), per address the largest message its service
    class allows (learnt at MAIL and RCPT, checked after DATA), and the authenticated sender's account."""

    def __init__(self) -> None:
        super().__init__()
        self.draft: Draft | None = None
        self.size_limits: dict[str, int] = {}
        self.sender: Account | None = None
        self.delegation: Any = None  # the submission listener's verdict on From:/Sender: (submission.Delegation)
        self.outbound = False  # a recipient in another domain was accepted (submission): the mail leaves the province
        self.sender_class: ServiceClass | None = None  # the authenticated sender's service class (submission)


class _State(enum.Enum):
    NOMINAL = enum.auto()
    TOO_LONG = enum.auto()
    TOO_MUCH = enum.auto()
    NOT_STORED = enum.auto()
    LOST = enum.auto()


class StreamingSMTP(LeanSMTP):
    """aiosmtpd's DATA with the same end-of-data, line-length and size rules, but written out as it arrives.

    The handler provides `open_message(session, envelope) -> Draft`; its `handle_DATA` finds the finished
    Draft as `envelope.draft` and commits it (a Draft left uncommitted is discarded here).
    """

    def _create_envelope(self) -> DraftEnvelope:
        return DraftEnvelope()

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        assert isinstance(self.envelope, DraftEnvelope)
        draft: Draft = self.event_handler.open_message(self.session, self.envelope)
        status = ""
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            state = await self._receive(draft)
            if state is _State.NOMINAL:
                self.envelope.draft = draft
                status = await self._call_handler_hook("DATA")
        finally:
            draft.discard()
        if state is _State.LOST:
            return
        self._set_post_data_state()
        if state is _State.TOO_LONG:
            status = "500 Line too long (see RFC5321 4.5.3.1.6)"
        elif state is _State.TOO_MUCH:
            status = "552 Error: Too much mail data"
        elif state is _State.NOT_STORED:
            status = replies.NOT_DURABLE
        await self.push(status)

    async def _receive(self, draft: Draft) -> _State:
        """Read to the end of DATA; past a limit or a disk fault keep draining, then say why (RFC 5321 §4.2.5)."""
        limit = self.data_size_limit
        num_bytes = 0
        mid_line = False  # after a line cut at the stream limit, its tail is no end-of-data marker
        state = _State.NOMINAL
        while self.transport is not None:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.CancelledError:
                logger.info("connection_lost_during_data")
                self._writer.close()
                raise
            except asyncio.LimitOverrunError as e:
                if state is _State.NOMINAL:
                    state = _State.TOO_LONG
                line = await self._reader.read(e.consumed)
            # Only a line that is exactly ".\r\n" ends DATA, so "\n.\r\n" cannot smuggle a second message.
            if not mid_line and line == b".\r\n":
                return state
            mid_line = not line.endswith(b"\r\n")
            num_bytes += len(line)
            if state is _State.NOMINAL and limit and num_bytes > limit:
                state = _State.TOO_MUCH
            elif state is _State.NOMINAL and len(line) > self.line_length_limit:
                state = _State.TOO_LONG
            if state is not _State.NOMINAL:
                continue
            if draft.add(line[1:] if line[:1] == b"." else line):
                try:
                    await draft.flush()
                except OSError as exc:
                    logger.error("blob_write_failed", message_id=draft.message_id, error=str(exc))
                    state = _State.NOT_STORED
        return _State.LOST
