"""The province's phishing list: a text file of URL expressions, held as sorted 4-byte prefixes and full SHA-256 hashes.

File format (UTF-8, one entry a line; blank lines and lines starting with '#' are ignored):

    evil.example                      a whole host: every URL on it and on its subdomains
    phish.example/login/              a path prefix: that folder and everything under it
    https://phish.example/pay?id=7    one exact URL (the scheme is dropped)
    sha256:<64 hex digits>            the full hash of an expression, for lists shared as hashes

Every entry but the sha256 ones is put in Safe Browsing canonical form when loaded, so an entry
matches the same URLs whatever way it was written. A URL in mail matches when the SHA-256 of one
of its expressions (canonical.expressions) starts with a listed 4-byte prefix — the cheap test
every link goes through — and the full hash is then listed too.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import tempfile
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path

from services.scanner.phishing.canonical import canonicalize, digest, expressions

PREFIX = 4
FULL = 32
HASH_LINE = re.compile(r"^sha256:([0-9a-f]{64})$", re.IGNORECASE)


class ListError(ValueError):
    """An entry of the list is neither a URL nor a sha256: line."""


def entry(text: str) -> str:
    """The line stored for a URL or expression: its canonical expression, or a normalised sha256: line."""
    text = text.strip()
    match = HASH_LINE.match(text)
    if match:
        return f"sha256:{match.group(1).lower()}"
    if not text or any(c.isspace() for c in text):
        raise ListError(f"not a URL or expression: {text!r}")
    canonical = canonicalize(text)
    if not canonical.host or canonical.host.startswith("%"):
        raise ListError(f"no host in {text!r}")
    return canonical.expression


def entry_hash(line: str) -> bytes:
    match = HASH_LINE.match(line)
    return bytes.fromhex(match.group(1)) if match else digest(entry(line))


@dataclass(frozen=True)
class HashList:
    """Sorted big-endian 4-byte prefixes (an unsigned-int array) and sorted full hashes in one bytes object."""

    prefixes: array
    full: bytes

    @classmethod
    def of(cls, hashes: set[bytes]) -> HashList:
        ordered = sorted(hashes)
        return cls(array("I", sorted({int.from_bytes(h[:PREFIX], "big") for h in ordered})), b"".join(ordered))

    def __len__(self) -> int:
        return len(self.full) // FULL

    def has_prefix(self, h: bytes) -> bool:
        value = int.from_bytes(h[:PREFIX], "big")
        i = bisect.bisect_left(self.prefixes, value)
        return i < len(self.prefixes) and self.prefixes[i] == value

    def has_full(self, h: bytes) -> bool:
        i = bisect.bisect_left(range(len(self)), h, key=lambda k: self.full[k * FULL:(k + 1) * FULL])
        return i < len(self) and self.full[i * FULL:(i + 1) * FULL] == h

    def match(self, url: str) -> str | None:
        """The first expression of `url` on the list, or None."""
        for expression in expressions(url):
            h = digest(expression)
            if self.has_prefix(h) and self.has_full(h):
                return expression
        return None


def read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def write_lines(path: Path, lines: list[str]) -> None:
    """Replace the file at once (write a temporary file, then rename), so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".phishing-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("# The province's phishing list; see services/scanner/phishing/hashlist.py for the format.\n")
            out.writelines(line + "\n" for line in lines)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class ListFile:
    """The list as the file holds it now: read again whenever the file changes (`govmail scanner phishing add`)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._list = HashList.of(set())
        self.skipped: list[str] = []  # lines of the file that are not entries, from the last load

    def current(self) -> HashList:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        with self._lock:
            if stamp != self._stamp:
                hashes, skipped = set(), []
                for line in read_lines(self.path):
                    try:
                        hashes.add(entry_hash(line))
                    except ListError:
                        skipped.append(line)
                self._list, self.skipped, self._stamp = HashList.of(hashes), skipped, stamp
            return self._list

    def add(self, urls: list[str]) -> list[str]:
        """Add entries (raises ListError before writing anything if one is bad); returns those that were new."""
        new = [entry(u) for u in urls]
        lines = read_lines(self.path)
        added = [e for e in dict.fromkeys(new) if e not in lines]
        write_lines(self.path, lines + added)
        return added

    def remove(self, urls: list[str]) -> list[str]:
        """Remove the entries for these URLs; returns those that were there."""
        gone = {entry(u) for u in urls}
        lines = read_lines(self.path)
        removed = [line for line in lines if _same(line, gone)]
        write_lines(self.path, [line for line in lines if line not in removed])
        return removed


def _same(line: str, entries: set[str]) -> bool:
    """A line written in another form (e.g. with a scheme, by hand) whose canonical entry is one of `entries`."""
    try:
        return entry(line) in entries
    except ListError:
        return False
