"""DKIM signing of outgoing mail with per-domain keys from a folder of `<domain>.<selector>.pem` files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dkim

from services.delivery import headers

# Headers a signature covers (RFC 6376 §5.4.1 recommends these); signing absent ones forbids adding them later.
SIGNED = [b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to", b"mime-version",
          b"content-type", b"content-transfer-encoding", b"in-reply-to", b"references"]


@dataclass(frozen=True)
class Key:
    domain: str
    selector: str
    pem: bytes


def load_keys(folder: Path | None) -> dict[str, Key]:
    """domain → key; a file name's last dot-separated part before `.pem` is the selector."""
    if folder is None:
        return {}
    keys = {}
    for path in sorted(Path(folder).glob("*.pem")):
        domain, _, selector = path.name[: -len(".pem")].rpartition(".")
        if domain and selector:
            keys[domain.lower()] = Key(domain.lower(), selector, path.read_bytes())
    return keys


class Signer:
    def __init__(self, keys: dict[str, Key]):
        self.keys = keys

    def sign(self, data: bytes, mail_from: str) -> bytes:
        """`data` with a DKIM-Signature of the From: domain (else the envelope sender's), when a key exists."""
        author = headers.value(data, "From")
        domain = author.rpartition("@")[2].strip(" >").lower()
        key = self.keys.get(domain) or self.keys.get(mail_from.rpartition("@")[2].lower())
        if key is None:
            return data
        present = {headers.field_name(f).encode() for f in headers.split(data)[0]}
        signature = dkim.sign(data, key.selector.encode(), key.domain.encode(), key.pem,
                              canonicalize=(b"relaxed", b"relaxed"),
                              include_headers=[h for h in SIGNED if h in present])
        return signature + data
