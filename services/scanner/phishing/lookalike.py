"""Does a domain imitate one of the province's: same look (confusable skeleton, punycode), one typo, or its name up front?"""

from __future__ import annotations

import functools
import json
import unicodedata
from importlib.resources import files

# Vietnamese đ does not decompose; in a domain it passes for d.
EXTRA = {"đ": "d", "ð": "d", "ł": "l", "ø": "o", "ß": "ss"}


@functools.cache
def prototypes() -> dict[str, str]:
    """Each character confusable with an ASCII letter or digit, mapped to it (UTS #39 data that confusable-homoglyphs ships)."""
    table = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    mapping: dict[str, str] = {}
    for key, entries in table.items():
        for item in entries:
            other = item["c"].strip("\u200e")
            for char, proto in ((other, key), (key, other)):
                if len(char) == 1 and len(proto) == 1 and proto.isascii() and proto.isalnum() and not char.isascii():
                    mapping.setdefault(char, proto.lower())
    # Digits and capitals that pass for lower-case letters in a domain name.
    mapping.update({"0": "o", "1": "l", "I": "l", "|": "l"})
    return mapping


@functools.lru_cache(maxsize=8192)
def skeleton(domain: str) -> str:
    """What the domain looks like: accents dropped, confusables mapped to ASCII, 'i' and 'l' and 'rn'/'m' merged."""
    if "xn--" in domain:
        domain = decode(domain)
    table = prototypes()
    out = []
    for char in unicodedata.normalize("NFKD", domain):
        if unicodedata.category(char) == "Mn":
            continue
        char = EXTRA.get(char, char)
        out.append(table.get(char, char).lower())
    return "".join(out).replace("rn", "m").replace("vv", "w").replace("i", "l")


def decode(domain: str) -> str:
    """Punycode labels (xn--) as Unicode; labels that do not decode stay as they are."""
    labels = []
    for label in domain.lower().split("."):
        try:
            labels.append(label.encode("ascii").decode("idna") if label.startswith("xn--") else label)
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


def distance(a: str, b: str) -> int:
    """Damerau–Levenshtein distance (optimal string alignment): a typo, a missing, extra or swapped letter is 1."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1]


def one_edit(a: str, b: str) -> bool:
    """distance(a, b) == 1, in one pass instead of the whole table: one letter replaced, added,
    dropped, or two neighbours swapped."""
    if a == b:
        return False
    if len(a) == len(b):
        differ = [i for i in range(len(a)) if a[i] != b[i]]
        return len(differ) == 1 or (
            len(differ) == 2 and differ[1] == differ[0] + 1 and a[differ[0]] == b[differ[1]]
            and a[differ[1]] == b[differ[0]])
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    same = next((i for i in range(len(short)) if short[i] != long[i]), len(short))
    return short[same:] == long[same + 1:]


@functools.lru_cache(maxsize=8192)  # the same link and sender domains come back message after message
def imitation(domain: str, local: str) -> str | None:
    """How `domain` imitates the province's `local` domain ('homograph', 'typo', 'prefix'), or None.

    Subdomains of `local` are the province's own and never imitations.
    """
    domain, local = domain.lower().rstrip("."), local.lower().rstrip(".")
    if domain == local or domain.endswith("." + local):
        return None
    # Compare the domain's last labels, as many as `local` has: a lookalike's subdomains look alike too.
    tail = ".".join(domain.split(".")[-len(local.split(".")):])
    if skeleton(tail) == skeleton(local):
        return "homograph"
    if domain.startswith(local + ".") or domain.startswith(local + "-"):
        return "prefix"  # tiengiang.gov.vn.secure-login.example
    ascii_tail = decode(tail)
    if one_edit(ascii_tail, local) or one_edit(decode(domain), local):
        return "typo"  # tiengiamg.gov.vn, tiengiang-gov.vn
    return None
