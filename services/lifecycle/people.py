"""The published directory (R1, R2): the unit tree with its people, searchable in Vietnamese or Chinese, exported for the portal."""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any

from pypinyin import Style, lazy_pinyin

from services.common.directory import Account, Unit, accounts_key
from services.lifecycle.naming import fold
from services.lifecycle.operations import Lifecycle

COLUMNS = ("kind", "name", "title", "unit", "unit_name", "email", "phone", "fax", "postal_address", "status")


def search_forms(text: str) -> set[str]:
    """What a piece of text matches on: as written, without Vietnamese marks, and in pinyin (with and without spaces)."""
    text = unicodedata.normalize("NFC", text).casefold()
    forms = {text, fold(text)}
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        syllables = lazy_pinyin(text, style=Style.NORMAL)
        forms |= {" ".join(syllables), "".join(syllables)}
    return {" ".join(form.split()) for form in forms}


def matches(query: str, *fields: str) -> bool:
    """Every word of the query is found in some field; marks and case are ignored unless the query has them."""
    words = " ".join(unicodedata.normalize("NFC", query).casefold().split())
    if not words:
        return True
    haystack = " | ".join(form for f in fields if f for form in search_forms(f))
    plain = fold(words)
    # A query typed with marks must match them ('Hiếu' is not 'Hiểu'); one typed without matches both.
    needle_sets = [words.split()] if plain != words else [plain.split()]
    return any(all(w in haystack for w in needles) for needles in needle_sets)


class PeopleDirectory:
    def __init__(self, core: Lifecycle):
        self.core = core

    async def entries(self, domain: str) -> list[dict[str, Any]]:
        """The unit tree in order (each unit followed by its people, then its sub-units), as flat rows."""
        units = await self.core.store.units(domain)
        accounts = []
        for address in sorted(await self.core.store.redis.smembers(accounts_key(domain))):
            account = await self.core.store.account(address)
            if account is not None and account.status != "deleted":
                accounts.append(account)
        names = {u.code: u.name for u in units}
        children: dict[str, list[Unit]] = {}
        for unit in units:
            children.setdefault(unit.parent if unit.parent in names else "", []).append(unit)
        rows: list[dict[str, Any]] = []

        def walk(parent: str, depth: int) -> None:
            for unit in sorted(children.get(parent, []), key=lambda u: u.name):
                box = next((a for a in accounts if a.kind == "unit" and a.unit == unit.code), None)
                rows.append(self._unit_row(unit, box, names, depth))
                people = sorted((a for a in accounts if a.kind == "personal" and a.unit == unit.code),
                                key=lambda a: a.name)
                rows.extend(self._person_row(a, names, depth + 1) for a in people)
                walk(unit.code, depth + 1)

        walk("", 0)
        rows.extend(self._person_row(a, names, 0) for a in accounts if a.kind == "personal" and not a.unit)
        return rows

    @staticmethod
    def _unit_row(unit: Unit, box: Account | None, names: dict[str, str], depth: int) -> dict[str, Any]:
        return {"kind": unit.kind, "name": unit.name, "title": "", "unit": unit.code,
                "unit_name": names.get(unit.parent, ""), "email": box.address if box else "",
                "phone": unit.phone, "fax": unit.fax, "postal_address": unit.postal_address, "status": "active",
                "parent": unit.parent, "depth": depth}

    @staticmethod
    def _person_row(account: Account, names: dict[str, str], depth: int) -> dict[str, Any]:
        return {"kind": "person", "name": account.name, "title": account.title, "unit": account.unit,
                "unit_name": names.get(account.unit, ""), "email": account.address, "phone": account.phone,
                "fax": account.fax, "postal_address": account.postal_address, "status": account.status,
                "parent": account.unit, "depth": depth}

    async def search(self, domain: str, query: str) -> list[dict[str, Any]]:
        rows = await self.entries(domain)
        return [r for r in rows if matches(query, r["name"], r["title"], r["unit_name"], r["email"])]

    @staticmethod
    def csv(rows: list[dict[str, Any]]) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    @staticmethod
    def vcard(rows: list[dict[str, Any]]) -> str:
        """vCard 4.0 (RFC 6350), UTF-8: one card per person (KIND:individual) and unit (KIND:org)."""
        cards = []
        for row in rows:
            person = row["kind"] == "person"
            lines = ["BEGIN:VCARD", "VERSION:4.0", f"KIND:{'individual' if person else 'org'}",
                     f"FN:{_escape(row['name'])}"]
            if person:
                lines.append(f"ORG:{_escape(row['unit_name'])}" if row["unit_name"] else "ORG:")
                if row["title"]:
                    lines.append(f"TITLE:{_escape(row['title'])}")
            else:
                lines.append(f"ORG:{_escape(row['name'])}")
            if row["email"]:
                lines.append(f"EMAIL;TYPE=work:{row['email']}")
            if row["phone"]:
                lines.append(f"TEL;TYPE=work,voice;VALUE=uri:tel:{row['phone'].replace(' ', '')}")
            if row["fax"]:
                lines.append(f"TEL;TYPE=work,fax;VALUE=uri:tel:{row['fax'].replace(' ', '')}")
            if row["postal_address"]:
                lines.append(f"ADR;TYPE=work:;;{_escape(row['postal_address'])};;;;")
            lines.append("END:VCARD")
            cards.append("\r\n".join(_fold_line(line) for line in lines))
        return "\r\n".join(cards) + ("\r\n" if cards else "")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def _fold_line(line: str, limit: int = 75) -> str:
    """RFC 6350 §3.2: lines longer than 75 octets are folded, never inside a UTF-8 character."""
    parts, current = [], b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > (limit if not parts else limit - 1):
            parts.append(current.decode("utf-8"))
            current = b""
        current += encoded
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)
