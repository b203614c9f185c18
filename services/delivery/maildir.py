"""Maildir++ delivery that is atomic (tmp → new) and idempotent (a replayed delivery never makes a second copy).

Idempotence comes from a small ledger beside each Maildir, one file per delivery key
(message id + recipient). The ledger entry is written as "pending" with the chosen file name
before the rename and as "done" after it, so a crash at any point is resolved on replay by
looking for that exact file name in new/ and cur/.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from services.common.blobstore import fsync_dir, write_durably

SUBDIRS = ("tmp", "new", "cur")


@dataclass(frozen=True)
class Delivered:
    path: Path
    duplicate: bool


def mailbox_root(mail_root: Path, address: str) -> Path:
    """`<mail_root>/<domain>/<localpart>`; the Maildir itself is its `Maildir/` child."""
    localpart, _, domain = address.rpartition("@")
    # Local parts come from the naming rules (lower-case ASCII); refuse anything that could escape the tree.
    if not localpart or not domain or any(c in localpart + domain for c in "/\\\0") or localpart.startswith("."):
        raise ValueError(f"unsafe mailbox address {address!r}")
    return mail_root / domain.lower() / localpart.lower()


def ensure_maildir(path: Path) -> Path:
    for sub in SUBDIRS:
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def folder_path(maildir: Path, folder: str) -> Path:
    """INBOX is the Maildir itself; other folders are Maildir++ `.Name` children."""
    return maildir if folder == "INBOX" else maildir / f".{folder}"


def unique_name(key: str, size: int) -> str:
    now = time.time()
    return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{key[:16]}.{socket.gethostname()},S={size}"


def _present(folder: Path, name: str) -> bool:
    if (folder / "new" / name).exists():
        return True
    prefix = name + ":"
    with os.scandir(folder / "cur") as entries:
        return any(e.name == name or e.name.startswith(prefix) for e in entries)


def deliver(mailbox: Path, key: str, data: bytes, folder: str = "INBOX") -> Delivered:
    """Write `data` into the mailbox's folder once per `key`."""
    maildir = ensure_maildir(mailbox / "Maildir")
    target = ensure_maildir(folder_path(maildir, folder))
    ledger = mailbox / ".govmail" / "delivered" / key
    if ledger.exists():
        state, _, name = ledger.read_text(encoding="utf-8").partition(" ")
        if state == "done" or _present(target, name):
            if state != "done":
                write_durably(ledger, f"done {name}".encode())
            return Delivered(target / "new" / name, duplicate=True)
    else:
        name = unique_name(key, len(data))
        write_durably(ledger, f"pending {name}".encode())
    tmp = target / "tmp" / name
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    final = target / "new" / name
    os.rename(tmp, final)
    fsync_dir(target / "new")
    # Not synced: if "done" is lost in a crash, the replay finds the file by its name and says duplicate.
    write_durably(ledger, f"done {name}".encode(), sync=False)
    return Delivered(final, duplicate=False)


def ledger_name(mailbox: Path, key: str) -> str | None:
    """The file name a delivery key was given, if it was delivered."""
    try:
        state, _, name = (mailbox / ".govmail" / "delivered" / key).read_text(encoding="utf-8").partition(" ")
    except FileNotFoundError:
        return None
    return name or None


def find(mailbox: Path, name: str) -> Path | None:
    """Where a delivered file is now: the user may have read it (new → cur, flags added) or moved it."""
    maildir = mailbox / "Maildir"
    prefix = name + ":"
    for folder in [maildir] + sorted(p for p in maildir.glob(".*") if p.is_dir()):
        for sub in ("new", "cur"):
            try:
                with os.scandir(folder / sub) as entries:
                    for entry in entries:
                        if entry.name == name or entry.name.startswith(prefix):
                            return Path(entry.path)
            except FileNotFoundError:
                continue
    return None
