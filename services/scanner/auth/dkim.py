"""DKIM (RFC 6376) with dkimpy: keys are fetched first, asynchronously, then the signatures are checked."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Literal

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from services.scanner.auth.lookups import Lookups, TempError

Result = Literal["pass", "fail", "none", "temperror", "permerror"]
# A message with more signatures than this is either broken or an attempt to make the scanner work.
MAX_SIGNATURES = 5
SIGNATURE_HEADER = re.compile(rb"^dkim-signature[ \t]*:", re.IGNORECASE | re.MULTILINE)


@dataclass
class DkimResult:
    result: Result
    domain: str  # the signing domain (d=); empty when there is no signature
    reason: str


def signatures(raw: bytes) -> tuple[dkim.DKIM, list[dict[bytes, bytes]]]:
    """The message as dkimpy holds it and the tags of each DKIM-Signature, topmost first ({} if unreadable)."""
    signer = dkim.DKIM(raw)
    tags = []
    for name, value in signer.headers:
        if name.lower() == b"dkim-signature":
            try:
                tags.append(parse_tag_value(value))
            except InvalidTagValueList:
                tags.append({})
    return signer, tags


def verify_one(signer: dkim.DKIM, index: int, key_record: bytes) -> bool:
    """CPU work (body hash, RSA/Ed25519): runs in a worker thread."""
    return signer.verify(idx=index, dnsfunc=lambda name, timeout=5: key_record)


async def verify(raw: bytes, dns: Lookups) -> list[DkimResult]:
    """One result per signature (at most MAX_SIGNATURES); [none] when the message carries none."""
    if not SIGNATURE_HEADER.search(raw):
        return [DkimResult("none", "", "no DKIM-Signature header")]
    try:
        signer, tags = await asyncio.to_thread(signatures, raw)
    except dkim.DKIMException as exc:  # headers dkimpy cannot split: no signature in them can verify
        return [DkimResult("permerror", "", f"message unreadable for DKIM: {str(exc)[:200]}")]
    if not tags:
        return [DkimResult("none", "", "no DKIM-Signature header")]
    results = []
    for index, tag in enumerate(tags[:MAX_SIGNATURES]):
        domain = tag.get(b"d", b"").decode("ascii", "replace").lower()
        selector = tag.get(b"s", b"").decode("ascii", "replace")
        if not domain or not selector:
            results.append(DkimResult("permerror", domain, f"signature {index}: no d= or s= tag"))
            continue
        name = f"{selector}._domainkey.{domain}"
        try:
            records = await dns.txt(name)
        except TempError as exc:
            results.append(DkimResult("temperror", domain, f"key {name}: {exc}"))
            continue
        if not records:
            results.append(DkimResult("permerror", domain, f"no key published at {name}"))
            continue
        try:
            good = await asyncio.to_thread(verify_one, signer, index, records[0].encode("utf-8"))
        except dkim.ValidationError as exc:
            # dkimpy raises for a changed body; that is a failed signature, not a broken one.
            changed = str(exc).startswith("body hash mismatch")
            results.append(DkimResult("fail" if changed else "permerror", domain,
                                      f"s={selector}: " + ("body hash does not match" if changed else str(exc)[:200])))
            continue
        except dkim.DKIMException as exc:
            results.append(DkimResult("permerror", domain, f"s={selector}: {str(exc)[:200]}"))
            continue
        results.append(DkimResult("pass" if good else "fail", domain,
                                  f"s={selector}: " + ("signature verified" if good else "signature does not match")))
    return results
