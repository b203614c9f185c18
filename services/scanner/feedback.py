"""Users' spam / not-spam reports (mail.feedback.v1), kept under the data dir for `govmail scanner train`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from schemas.events import MailFeedback
from services.common import logging as log
from services.common.blobstore import BlobStore
from services.common.consumer import Record, read_blob
from services.common.settings import PlatformSettings

logger = log.get(__name__)
LABELS = ("spam", "ham")


def default_dir() -> Path:
    """<data dir>/scanner/feedback: spam/<sha256>.eml and ham/<sha256>.eml, the layout `train --feedback` reads."""
    return PlatformSettings().data / "scanner" / "feedback"


def write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


class FeedbackStore:
    """One file per distinct message (named by its SHA-256), under the label of its latest report."""

    def __init__(self, root: Path):
        self.root = root

    def keep(self, raw: bytes, label: str, about: dict[str, Any]) -> Path:
        if label not in LABELS:
            raise ValueError(f"label {label!r} is neither spam nor ham")
        digest = hashlib.sha256(raw).hexdigest()
        folder = self.root / label
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{digest}.eml"
        if not target.exists():
            write_atomically(target, raw)
        write_atomically(target.with_suffix(".json"), json.dumps(about, ensure_ascii=False, default=str).encode())
        # The latest report wins: a message reported as spam, then as not spam, is ham.
        for other in LABELS:
            if other != label:
                (self.root / other / f"{digest}.eml").unlink(missing_ok=True)
                (self.root / other / f"{digest}.json").unlink(missing_ok=True)
        return target

    def counts(self) -> dict[str, int]:
        return {label: sum(1 for _ in (self.root / label).glob("*.eml")) for label in LABELS}


class FeedbackHandler:
    """One record of mail.feedback.v1: fetch the reported message and keep it under its label."""

    def __init__(self, blobs: BlobStore, store: FeedbackStore):
        self.blobs = blobs
        self.store = store

    async def __call__(self, record: Record) -> None:
        feedback = MailFeedback.model_validate_json(record.value)  # type: ignore[arg-type]  # None → invalid
        raw = await asyncio.to_thread(read_blob, self.blobs, feedback.blob)
        about = {"event_id": feedback.event_id, "occurred_at": feedback.occurred_at, "reporter": feedback.reporter,
                 "mailbox": feedback.mailbox, "message_id": feedback.message_id,
                 "header_message_id": feedback.header_message_id, "note": feedback.note}
        path = await asyncio.to_thread(self.store.keep, raw, feedback.label, about)
        logger.info("feedback_kept", message_id=feedback.message_id, event_id=feedback.event_id, label=feedback.label,
                    topic=record.topic, partition=record.partition, offset=record.offset, path=str(path))
