"""The Maildir++ `maildirsize` file: the quota definition and a running sum of sizes, as Dovecot reads it.

Line one holds the quota (`<bytes>S`); every later line is a change `<bytes> <count>` (negative
for a removal). Writers append; a reader sums the lines. When the file is missing or grows past
5120 octets it is rebuilt from the files in the Maildir, as the Maildir++ specification says.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from services.common.blobstore import write_durably

FILE = "maildirsize"
REBUILD_ABOVE = 5120
SIZE_IN_NAME = re.compile(r",S=(\d+)")


@dataclass(frozen=True)
class Usage:
    quota: int
    used: int
    count: int

    def fits(self, size: int) -> bool:
        return self.quota <= 0 or self.used + size <= self.quota

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.quota if self.quota > 0 else 0.0


@contextlib.contextmanager
def locked(maildir: Path) -> Iterator[None]:
    """One writer at a time per mailbox (delivery, retry, release and removals run side by side)."""
    maildir.mkdir(parents=True, exist_ok=True)
    with open(maildir / ".govmail-lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def message_files(maildir: Path) -> Iterator[Path]:
    """Every message file of every folder (INBOX and the `.Name` Maildir++ folders)."""
    folders = [maildir] + [p for p in maildir.glob(".*") if p.is_dir()]
    for folder in folders:
        for sub in ("new", "cur"):
            with contextlib.suppress(FileNotFoundError), os.scandir(folder / sub) as entries:
                yield from (Path(e.path) for e in entries if e.is_file())


def file_size(path: Path) -> int:
    found = SIZE_IN_NAME.search(path.name)
    if found:
        return int(found.group(1))
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def rebuild(maildir: Path, quota: int) -> Usage:
    sizes = [file_size(p) for p in message_files(maildir)]
    used, count = sum(sizes), len(sizes)
    write_durably(maildir / FILE, f"{quota}S\n{used} {count}\n".encode())
    return Usage(quota, used, count)


def read(maildir: Path, quota: int) -> Usage:
    """Current usage; rebuilt when the file is missing, too long, unreadable or its quota changed."""
    path = maildir / FILE
    try:
        text = path.read_text(encoding="ascii")
    except (FileNotFoundError, UnicodeDecodeError):
        return rebuild(maildir, quota)
    lines = text.splitlines()
    if len(text) > REBUILD_ABOVE or not lines or lines[0].split(",")[0] != f"{quota}S":
        return rebuild(maildir, quota)
    used = count = 0
    try:
        for line in lines[1:]:
            size, number = line.split()
            used, count = used + int(size), count + int(number)
    except ValueError:
        return rebuild(maildir, quota)
    return Usage(quota, max(used, 0), max(count, 0))


def add(maildir: Path, size: int, count: int = 1) -> None:
    """Record a delivery (or, negative, a removal); one short append, as other Maildir++ writers do."""
    fd = os.open(maildir / FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{size} {count}\n".encode())
    finally:
        os.close(fd)
