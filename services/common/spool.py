"""The durable spool: every message answered 250 stays here until each recipient's outcome is final.

The embedded broker forgets everything when it restarts, so the bus alone cannot promise that
accepted mail is delivered. Like Postfix's queue, the spool keeps the MailReceived event of each
accepted message (`<message_id>.json`, written durably before the 250) and, beside it, a marker
per recipient whose outcome is final (`<message_id>.done/<recipient-hash>`). The reconciler
republishes whatever still has a recipient without a marker.

Markers are not fsynced: one lost in a crash only makes the message be republished, and
delivery is idempotent, so it costs a lookup, never a second copy. That keeps the price of a
250 at one file and one folder fsync.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.events import MailReceived
from services.common.blobstore import write_durably

EVENT_SUFFIX = ".json"
DONE_SUFFIX = ".done"


def recipient_marker(recipient: str) -> str:
    return hashlib.sha1(recipient.lower().encode("utf-8")).hexdigest()


@dataclass
class SpoolEntry:
    event: MailReceived
    pending: int
    touched_at: float


class Spool:
    """A folder of `<message_id>.json` events and `<message_id>.done/` recipient markers."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _event(self, message_id: str) -> Path:
        return self.root / f"{message_id}{EVENT_SUFFIX}"

    def _done(self, message_id: str) -> Path:
        return self.root / f"{message_id}{DONE_SUFFIX}"

    def record(self, event: MailReceived, sync: bool = True) -> None:
        """Keep the event durably, before the broker is asked (sync=False: the caller's GroupSync does it)."""
        write_durably(self._event(event.message_id or ""), event.model_dump_json().encode("utf-8"), sync)

    def discard(self, message_id: str) -> None:
        """Forget a message whose 250 was never sent (the client will send it again)."""
        self._event(message_id).unlink(missing_ok=True)
        shutil.rmtree(self._done(message_id), ignore_errors=True)

    def finish(self, message_id: str, recipient: str) -> bool:
        """Mark one recipient's outcome as final; returns True when the whole message is done."""
        done = self._done(message_id)
        try:
            event = MailReceived.model_validate_json(self._event(message_id).read_bytes())
        except FileNotFoundError:
            shutil.rmtree(done, ignore_errors=True)
            return True
        done.mkdir(exist_ok=True)
        (done / recipient_marker(recipient)).touch()
        if self._pending(event, done) and self._event(message_id).exists():
            return False
        # All finished, or another recipient's finish removed the entry meanwhile: leave nothing behind.
        self.discard(message_id)
        return True

    @staticmethod
    def _pending(event: MailReceived, done: Path) -> list[str]:
        finished = set(os.listdir(done)) if done.exists() else set()
        return [r for r in event.mail.rcpt_to if recipient_marker(r) not in finished]

    def touch(self, message_id: str) -> None:
        """Note progress (e.g. a deferral) so the reconciler leaves the message alone for a while."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._event(message_id))

    def is_pending(self, message_id: str, recipient: str) -> bool:
        return self._event(message_id).exists() and not (self._done(message_id) / recipient_marker(recipient)).exists()

    def entries(self) -> Iterator[SpoolEntry]:
        for path in sorted(self.root.glob(f"*{EVENT_SUFFIX}")):
            try:
                raw = path.read_bytes()
                touched = path.stat().st_mtime
            except FileNotFoundError:
                continue  # finished meanwhile
            event = MailReceived.model_validate_json(raw)
            pending = self._pending(event, self._done(event.message_id or ""))
            if not pending:
                self.discard(event.message_id or "")
                continue
            yield SpoolEntry(event, len(pending), touched)

    def unfinished(self, older_than: float = 0.0) -> list[MailReceived]:
        """Events still waiting for some recipient, untouched for at least `older_than` seconds."""
        cutoff = time.time() - older_than
        return [e.event for e in self.entries() if e.touched_at <= cutoff]

    def pending_recipients(self, message_id: str) -> list[str]:
        try:
            event = MailReceived.model_validate_json(self._event(message_id).read_bytes())
        except FileNotFoundError:
            return []
        return self._pending(event, self._done(message_id))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob(f"*{EVENT_SUFFIX}"))
