"""The durable spool: every message answered 250 stays here until each recipient's outcome is final.

The embedded broker forgets everything when it restarts, so the bus alone cannot promise that
accepted mail is delivered. Like Postfix's queue, the spool keeps the MailReceived event and one
marker per unfinished recipient; the reconciler republishes whatever is still unfinished.
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
from services.common.blobstore import fsync_dir, write_durably

EVENT_FILE = "received.json"
PENDING_DIR = "pending"


def recipient_marker(recipient: str) -> str:
    return hashlib.sha1(recipient.lower().encode("utf-8")).hexdigest()


@dataclass
class SpoolEntry:
    event: MailReceived
    pending: int
    touched_at: float


class Spool:
    """One folder per accepted message: `<message_id>/received.json` plus `pending/<recipient-hash>`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, message_id: str) -> Path:
        return self.root / message_id

    def record(self, event: MailReceived) -> None:
        """Keep the event and one marker per recipient, durably, before the broker is asked."""
        entry = self._dir(event.message_id)
        pending = entry / PENDING_DIR
        pending.mkdir(parents=True, exist_ok=True)
        for rcpt in event.mail.rcpt_to:
            (pending / recipient_marker(rcpt)).write_text(rcpt, encoding="utf-8")
        fsync_dir(pending)
        write_durably(entry / EVENT_FILE, event.model_dump_json().encode("utf-8"))
        fsync_dir(self.root)

    def discard(self, message_id: str) -> None:
        """Forget a message whose 250 was never sent (the client will send it again)."""
        shutil.rmtree(self._dir(message_id), ignore_errors=True)

    def finish(self, message_id: str, recipient: str) -> bool:
        """Mark one recipient's outcome as final; returns True when the whole message is done."""
        entry = self._dir(message_id)
        with contextlib.suppress(FileNotFoundError):
            (entry / PENDING_DIR / recipient_marker(recipient)).unlink()
        try:
            if any(os.scandir(entry / PENDING_DIR)):
                return False
        except FileNotFoundError:
            return True
        shutil.rmtree(entry, ignore_errors=True)
        return True

    def touch(self, message_id: str) -> None:
        """Note progress (e.g. a deferral) so the reconciler leaves the message alone for a while."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._dir(message_id) / EVENT_FILE)

    def is_pending(self, message_id: str, recipient: str) -> bool:
        return (self._dir(message_id) / PENDING_DIR / recipient_marker(recipient)).exists()

    def entries(self) -> Iterator[SpoolEntry]:
        for entry in sorted(self.root.iterdir()) if self.root.exists() else []:
            event_file = entry / EVENT_FILE
            try:
                raw = event_file.read_bytes()
                touched = event_file.stat().st_mtime
                pending = sum(1 for _ in os.scandir(entry / PENDING_DIR))
            except FileNotFoundError:
                continue  # finished meanwhile, or a record() that never completed
            if pending == 0:
                shutil.rmtree(entry, ignore_errors=True)
                continue
            yield SpoolEntry(MailReceived.model_validate_json(raw), pending, touched)

    def unfinished(self, older_than: float = 0.0) -> list[MailReceived]:
        """Events still waiting for some recipient, untouched for at least `older_than` seconds."""
        cutoff = time.time() - older_than
        return [e.event for e in self.entries() if e.touched_at <= cutoff]

    def pending_recipients(self, message_id: str) -> list[str]:
        try:
            return [p.read_text(encoding="utf-8") for p in (self._dir(message_id) / PENDING_DIR).iterdir()]
        except FileNotFoundError:
            return []
