"""Per-user quarantine: held messages with the verdict that held them, kept apart from the mailbox."""

from __future__ import annotations

from pathlib import Path

from schemas.events import Verdict
from services.common.blobstore import write_durably


def quarantine_dir(data_dir: Path, address: str) -> Path:
    localpart, _, domain = address.rpartition("@")
    return data_dir / "quarantine" / domain.lower() / localpart.lower()


def hold(data_dir: Path, address: str, key: str, data: bytes, verdict: Verdict) -> Path:
    """Keyed by delivery key, so holding the same message twice keeps one copy."""
    folder = quarantine_dir(data_dir, address)
    message = folder / f"{key}.eml"
    write_durably(folder / f"{key}.json", verdict.model_dump_json().encode("utf-8"))
    if not message.exists():
        write_durably(message, data)
    return message
