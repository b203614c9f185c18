"""Mailbox addresses generated from names: Vietnamese folding, Chinese pinyin, and each domain's naming scheme."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator

from pypinyin import Style, lazy_pinyin

from services.lifecycle.contract import SCHEMES
from services.lifecycle.errors import InvalidInput

MAX_LOCALPART = 64  # RFC 5321 §4.5.3.1.1

# Addresses that belong to the system (RFC 2142 and the like), never given to a person.
RESERVED = frozenset(
    {"postmaster", "abuse", "hostmaster", "webmaster", "mailerdaemon", "noreply", "root", "admin", "security"}
)

# đ is a letter of its own, not d plus a mark, so NFD does not take it apart.
_LETTER_MAP = str.maketrans({"đ": "d", "Đ": "D"})
_SEPARATORS = re.compile(r"[\s\-'’.,]+")
_WORD = re.compile(r"[a-z]+")
_CODE = re.compile(r"[a-z0-9]{1,32}")


class InvalidName(InvalidInput):
    """A name (or unit code) from which no address can be made."""


def fold(text: str) -> str:
    """Remove every Vietnamese tone and letter mark (ạ → a, ẫ → a, ư → u, ơ → o, đ → d), keeping case."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTER_MAP))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


def _is_han(char: str) -> bool:
    return unicodedata.category(char) == "Lo" and unicodedata.name(char, "").startswith("CJK ")


def _runs(text: str) -> Iterator[tuple[bool, str]]:
    """Split text into runs of Han characters and runs of anything else, in order."""
    for han, chars in itertools.groupby(text, key=_is_han):
        yield han, "".join(chars)


def name_words(name: str) -> list[str]:
    """The words of a name as lower-case ASCII, family name first; Chinese characters become pinyin syllables."""
    words: list[str] = []
    for han, run in _runs(unicodedata.normalize("NFC", name)):
        # Whole Han runs go to pypinyin so that it can choose readings from context; a character it
        # does not know comes back unchanged and is refused below like any other non-ASCII letter.
        parts = lazy_pinyin(run, style=Style.NORMAL) if han else _SEPARATORS.split(fold(run))
        for word in (part.lower() for part in parts):
            if word and not _WORD.fullmatch(word):
                bad = "".join(sorted({c for c in word if not "a" <= c <= "z"}))
                raise InvalidName(f"{name!r} has characters that cannot be written in an address: {bad!r}")
            if word:
                words.append(word)
    if not words:
        raise InvalidName(f"{name!r} has no letters to make an address from")
    if len("".join(words)) > MAX_LOCALPART - 4:  # room for a collision number
        raise InvalidName(f"{name!r} is too long for an address")
    return words


def unit_code(raw: str) -> str:
    """A unit's short code as used in addresses (`stttt`, `ptckh`): folded, lower case, letters and digits."""
    code = fold(raw).strip().lower()
    if not _CODE.fullmatch(code):
        raise InvalidName(f"unit code {raw!r} must be 1 to 32 letters or digits (a–z, 0–9)")
    return code


def _numbered(stem: str) -> Iterator[str]:
    """stem1 … stem9, then stem100, stem101, …

    Two-digit numbers are skipped because `name + two digits` is the birth-year form: a
    number must not take the address a later namesake born in that year would get.
    """
    yield from (f"{stem}{n}" for n in range(1, 10))
    yield from (f"{stem}{n}" for n in itertools.count(100))


def _tiengiang(words: list[str], birth_year: int | None) -> Iterator[str]:
    """Decision 003 art. 4.2: leminhhieu, lminhhieu, lmhieu, leminhhieu77, then further numbers."""
    full = "".join(words)
    yield full
    if len(words) > 1:  # a one-word name has no initials to shorten to
        yield words[0][0] + "".join(words[1:])
        yield "".join(w[0] for w in words[:-1]) + words[-1]
    if birth_year is not None:
        yield f"{full}{birth_year % 100:02d}"
    yield from _numbered(full)


def _backan(words: list[str], birth_year: int | None) -> Iterator[str]:
    """Decision 004 art. 4.1b: given name + initials of family and middle names (Nguyễn Văn Anh → anhnv).

    Collisions: the birth-year form, then numbers (the full rule and `.unitbox` come with the
    lifecycle issue).
    """
    short = words[-1] + "".join(w[0] for w in words[:-1])
    yield short
    if birth_year is not None:
        yield f"{short}{birth_year % 100:02d}"
    yield from _numbered(short)


# Chinese names already arrive as pinyin words; the sequence is the Tien Giang one until configured.
_PERSON_RULES = {"tiengiang": _tiengiang, "backan": _backan, "pinyin": _tiengiang}


def person_candidates(scheme: str, name: str, birth_year: int | None = None) -> Iterator[str]:
    """Local parts to try for a person, in order of preference; endless, without repeats or reserved names.

    The name is checked here, before the first candidate is asked for.
    """
    rule = _PERSON_RULES.get(scheme)
    if rule is None:
        raise InvalidName(f"unknown naming scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    return _distinct(rule(name_words(name), birth_year))


def _distinct(candidates: Iterator[str]) -> Iterator[str]:
    seen: set[str] = set()
    for candidate in candidates:
        if candidate not in seen and candidate not in RESERVED:
            seen.add(candidate)
            yield candidate
