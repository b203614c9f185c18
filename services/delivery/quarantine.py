"""Per-user quarantine: held messages with the verdict that held them, kept apart from the mailbox.

The owner (or whoever may read the mailbox) lists what is held — sender, subject, why — and
releases it into the INBOX. Nothing here returns a held message's body (R27).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.events import MailScanned
from services.common.blobstore import write_durably
from services.delivery import headers
from services.delivery.maildir import mailbox_root


def quarantine_dir(data_dir: Path, address: str) -> Path:
    """`<data>/quarantine/<domain>/<localpart>`; an address that could escape the tree is refused (ValueError)."""
    return mailbox_root(data_dir / "quarantine", address)


def hold(data_dir: Path, address: str, key: str, data: bytes, scanned: MailScanned) -> Path:
    """Keyed by delivery key, so holding the same message twice keeps one copy."""
    folder = quarantine_dir(data_dir, address)
    message = folder / f"{key}.eml"
    if not message.exists():
        write_durably(message, data)
    about = {
        "id": key,
        "message_id": scanned.message_id,
        "mail_from": scanned.mail.mail_from,
        "from": headers.value(data, "From"),
        "subject": headers.value(data, "Subject"),
        "received_at": scanned.mail.received_at.isoformat(),
        "size": len(data),
        "verdict": scanned.verdict.model_dump(mode="json"),
    }
    write_durably(folder / f"{key}.json", json.dumps(about, ensure_ascii=False).encode("utf-8"))
    return message


def held(data_dir: Path, address: str) -> list[dict[str, Any]]:
    """What is held for `address`: who sent it, its subject and the verdict — never the body."""
    folder = quarantine_dir(data_dir, address)
    if not folder.is_dir():
        return []
    entries = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")]
    return sorted(entries, key=lambda e: e.get("received_at", ""))


def take(data_dir: Path, address: str, key: str) -> tuple[dict[str, Any], bytes] | None:
    """The held message and what is known about it, for release; None when nothing is held under `key`."""
    if not key.isalnum():
        return None
    folder = quarantine_dir(data_dir, address)
    try:
        about = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        return about, (folder / f"{key}.eml").read_bytes()
    except FileNotFoundError:
        return None


def forget(data_dir: Path, address: str, key: str) -> None:
    folder = quarantine_dir(data_dir, address)
    (folder / f"{key}.eml").unlink(missing_ok=True)
    (folder / f"{key}.json").unlink(missing_ok=True)
