"""The built-in virus signatures: SHA-256 hashes of whole files and byte patterns, EICAR included."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SHIPPED = Path(__file__).with_name("data") / "signatures.toml"
EICAR = "EICAR-Test-File"

# Stored reversed so that no file of this repository holds the signature itself: anti-virus
# software on developers' machines and CI runners would quarantine the file.
_EICAR_REVERSED = "*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X"


class SignatureError(ValueError):
    """A signature file that cannot be used; the scanner must not start with half its signatures."""


def eicar_signature() -> bytes:
    """The 68-byte EICAR test string, built at run time."""
    return _EICAR_REVERSED[::-1].encode("ascii")


@dataclass
class Signatures:
    hashes: dict[str, str] = field(default_factory=dict)  # sha256 hex → name
    patterns: list[tuple[bytes, str]] = field(default_factory=list)  # (bytes, name)

    def match(self, data: bytes) -> list[str]:
        """Names of every signature `data` carries."""
        found = [name for pattern, name in self.patterns if pattern in data]
        named = self.hashes.get(hashlib.sha256(data).hexdigest())
        if named is not None and named not in found:
            found.append(named)
        return found

    def read(self, path: Path) -> None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SignatureError(f"{path}: {exc}") from exc
        try:
            for entry in document.get("hash", []):
                digest = str(entry["sha256"]).lower()
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise ValueError(f"sha256 {digest!r} is not 64 hex digits")
                self.hashes[digest] = str(entry["name"])
            for entry in document.get("pattern", []):
                pattern = bytes.fromhex(entry["hex"]) if "hex" in entry else str(entry["text"]).encode("utf-8")
                if len(pattern) < 8:  # shorter patterns match ordinary files by chance
                    raise ValueError(f"pattern {entry['name']!r} is shorter than 8 bytes")
                self.patterns.append((pattern, str(entry["name"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise SignatureError(f"{path}: {type(exc).__name__}: {exc}") from exc


def load(extra: Path | None = None) -> Signatures:
    """The shipped signatures, EICAR's pattern, and the operator's file when one is given."""
    signatures = Signatures(patterns=[(eicar_signature(), EICAR)])
    signatures.read(SHIPPED)
    if extra is not None:
        signatures.read(extra)
    return signatures
