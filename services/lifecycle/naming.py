"""Mailbox addresses generated from names: Vietnamese folding, Chinese pinyin, and each domain's naming scheme."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator

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


# The steps a collision sequence is made of, for the words of a name, family name first
# (Lê Minh Hiếu → le, minh, hieu; 张伟 → zhang, wei). "year" and "number" extend the first step's form.
def _full(words: list[str]) -> str | None:
    return "".join(words)  # leminhhieu


def _family_initial(words: list[str]) -> str | None:
    return words[0][0] + "".join(words[1:]) if len(words) > 1 else None  # lminhhieu


def _initials(words: list[str]) -> str | None:
    return "".join(w[0] for w in words[:-1]) + words[-1] if len(words) > 1 else None  # lmhieu


def _given_initials(words: list[str]) -> str | None:
    return words[-1] + "".join(w[0] for w in words[:-1])  # Nguyễn Văn Anh → anhnv


_FORMS = {
    "full": _full,
    "family_initial": _family_initial,
    "initials": _initials,
    "given_initials": _given_initials,
}
STEPS = (*_FORMS, "year", "number")

# 003 art. 4.2b for Tien Giang; 004 art. 4.1b leaves Bac Kan's collisions to the centre, so the
# birth year and then numbers are added to the short form; Chinese names: full pinyin, initials +
# given name, birth year, numbers.
DEFAULT_STEPS = {
    "tiengiang": ("full", "family_initial", "initials", "year", "number"),
    "backan": ("given_initials", "year", "number"),
    "pinyin": ("full", "initials", "year", "number"),
}


def collision_steps(scheme: str, configured: str | Iterable[str] = "") -> tuple[str, ...]:
    """A domain's collision sequence: the configured one (comma-separated or a list) or the scheme's default.

    Numbers are the last resort of every sequence, so "number" is added at the end when missing.
    """
    if scheme not in DEFAULT_STEPS:
        raise InvalidName(f"unknown naming scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    raw = configured.split(",") if isinstance(configured, str) else list(configured)
    steps = tuple(step.strip() for step in raw if step.strip())
    if not steps:
        return DEFAULT_STEPS[scheme]
    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        raise InvalidName(f"unknown collision steps {unknown}; known: {', '.join(STEPS)}")
    if len(set(steps)) != len(steps):
        raise InvalidName(f"collision steps {list(steps)} repeat a step")
    if not any(step in _FORMS for step in steps):
        raise InvalidName("collision steps need at least one name form before 'year' and 'number'")
    if "number" in steps[:-1]:
        raise InvalidName("'number' never runs out, so it must be the last collision step")
    return steps if steps[-1] == "number" else (*steps, "number")


def _sequence(words: list[str], birth_year: int | None, steps: tuple[str, ...]) -> Iterator[str]:
    forms = [_FORMS[step](words) for step in steps if step in _FORMS]
    stem = next((form for form in forms if form), "".join(words))
    for step in steps:
        if step == "year":
            if birth_year is not None:
                yield f"{stem}{birth_year % 100:02d}"
        elif step == "number":
            yield from _numbered(stem)
        elif (form := _FORMS[step](words)) is not None:
            yield form


def person_candidates(
    scheme: str,
    name: str,
    birth_year: int | None = None,
    *,
    unitbox: str = "",
    steps: str | Iterable[str] = "",
) -> Iterator[str]:
    """Local parts to try for a person, in order of preference; endless, without repeats or reserved names.

    `unitbox` (the local part of the person's unit's mailbox) is appended after a dot, Bac Kan's
    `anhnv.tt` form (004 art. 4.1b). The name and steps are checked here, before the first candidate.
    """
    sequence = collision_steps(scheme, steps)
    words = name_words(name)
    candidates = _sequence(words, birth_year, sequence)
    if unitbox:
        candidates = (f"{candidate}.{unitbox}" for candidate in candidates)
    return _distinct(candidates)


def _distinct(candidates: Iterator[str]) -> Iterator[str]:
    seen: set[str] = set()
    for candidate in candidates:
        if candidate not in seen and candidate not in RESERVED:
            seen.add(candidate)
            yield candidate


# Unit mailboxes (003 art. 4.1; 004 art. 4.1a). Kinds whose address part is the folded place
# name; every other kind uses its code, the abbreviation the decisions print (stttt, ptckh, tt, tx).
NAME_KINDS = {
    "tiengiang": frozenset({"district", "commune"}),  # chogao, tanphuoc.myphuoc
    "backan": frozenset({"commune"}),  # duongquang.tx: the district keeps its appendix box name
    "pinyin": frozenset({"district", "commune"}),
}
# Kinds whose mailbox hangs under their parent's: `district.commune`, `parent.division`.
CHILD_KINDS = frozenset({"commune", "division"})
# Bac Kan writes the child first (duongquang.tx, phongcn.tt); the others the parent first.
CHILD_FIRST = frozenset({"backan"})

# Words of an administrative title before a place name: dropped, or shortened the way 003 art.
# 4.1b writes Thị xã Gò Công (txgocong). Longest first so "thi xa" is not read as "thi tran".
_PLACE_PREFIXES = (
    (("uy", "ban", "nhan", "dan"), None),
    (("ubnd",), None),
    (("thi", "xa"), "tx"),
    (("thanh", "pho"), "tp"),
    (("thi", "tran"), ""),
    (("huyen",), ""),
    (("quan",), ""),
    (("xa",), ""),
    (("phuong",), ""),
)
_PLACE_WORD = re.compile(r"[a-z0-9]+")


def place_label(name: str) -> str:
    """A district's or commune's name as an address part: Huyện Chợ Gạo → chogao, Thị xã Gò Công → txgocong.

    "Ủy ban nhân dân", huyện, quận, xã, phường and thị trấn are dropped; thị xã and thành phố
    become tx and tp. A number is kept with its title (Phường 1 → phuong1), it means nothing alone.
    """
    words = [w for w in _SEPARATORS.split(fold(unicodedata.normalize("NFC", name)).lower()) if w]
    if any(not _PLACE_WORD.fullmatch(w) for w in words):
        words = name_words(name)  # Han names go to pinyin; anything else unwritable is refused there
    prefix: list[str] = []
    for title, short in _PLACE_PREFIXES:
        if tuple(words[: len(title)]) == title and len(words) > len(title):
            rest = words[len(title) :]
            if short is None:
                words = rest
                continue
            if rest[0][0].isalpha():
                prefix, words = ([short] if short else []), rest
            break
    label = "".join(prefix + words)
    if not label:
        raise InvalidName(f"{name!r} has no letters to make an address from")
    if len(label) > 32:
        raise InvalidName(f"{name!r} is too long for an address part (over 32 letters)")
    return label


def unit_label(scheme: str, kind: str, code: str, name: str) -> str:
    """The part of an address a unit contributes: its folded name or its code, by scheme and kind."""
    if scheme not in NAME_KINDS:
        raise InvalidName(f"unknown naming scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    return place_label(name) if kind in NAME_KINDS[scheme] else unit_code(code)


def unit_localpart(scheme: str, chain: list[tuple[str, str, str]]) -> str:
    """The local part of a unit's mailbox from its chain of (kind, code, name), the unit last, its root first.

    A commune or division is `parent.label` where parent is its parent's mailbox (003 art. 4.1c–d),
    `label.parent` in Bac Kan (004 art. 4.1a); any other unit is its label alone, wherever it sits.
    """
    if not chain:
        raise InvalidName("a unit mailbox needs a unit")
    kind, code, name = chain[-1]
    label = unit_label(scheme, kind, code, name)
    if kind in CHILD_KINDS and len(chain) > 1:
        parent = unit_localpart(scheme, chain[:-1])
        label = f"{label}.{parent}" if scheme in CHILD_FIRST else f"{parent}.{label}"
    if len(label) > MAX_LOCALPART:
        raise InvalidName(f"the mailbox of unit {code!r} would be longer than {MAX_LOCALPART} characters")
    return label
