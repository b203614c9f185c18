"""Finds secrecy markings (MẬT, TỐI MẬT, TUYỆT MẬT; 秘密, 机密, 绝密) used as markings, not as ordinary words.

A marking is a stamp, not a word in a sentence: a line that holds nothing but the level, a
`Độ mật:` / `密级：` field, a level in brackets, the Chinese level-star form (`机密★5年`, GB/T 9704),
or a level that heads a line like a label (`TUYỆT MẬT: …`). Vietnamese stamps are written in
capitals (Decree 26/2020, Circular 24/2020); in lower case the same syllables are ordinary words
("bí mật thư tín", "mật khẩu"). Chinese has no case, so Chinese words count only in those shapes
("保守国家秘密是公民的义务" and "秘密花园" are not markings).
"""

from __future__ import annotations

import re
import unicodedata

VI_LEVELS = r"TUYỆT\s+MẬT|TỐI\s+MẬT|MẬT"
ZH_LEVELS = r"绝\s*密|机\s*密|秘\s*密"
LEVEL = rf"(?P<level>{VI_LEVELS}|{ZH_LEVELS})"
OPEN, CLOSE = r"\[\(（【〔「〖<«", r"\]\)）】〕」〗>»"
DECOR = r"\s*\-–—=_~#•·\"'“”"
STAR = r"(?:\s*★[^\n" + CLOSE + r"]{0,12})?"  # 机密★5年, 绝密★长期

SHAPES = (
    # A field of the document's heading: Độ mật: MẬT / Mức độ mật: TỐI MẬT / 密级：机密★10年.
    ("field", re.compile(rf"(?:(?:mức\s+)?độ\s+mật|密\s*级)\s*[:：]\s*{LEVEL}", re.IGNORECASE)),
    # A stamp line: the level alone, perhaps framed by brackets, stars or rules.
    ("stamp", re.compile(rf"^[{DECOR}]*[{OPEN}]?\s*{LEVEL}{STAR}\s*[{CLOSE}]?[{DECOR}.]*$", re.MULTILINE)),
    # A bracketed stamp anywhere, e.g. a subject "[MẬT] Kế hoạch …" or "【绝密】关于…".
    ("bracket", re.compile(rf"[{OPEN}]\s*{LEVEL}{STAR}\s*[{CLOSE}]")),
    # The GB/T 9704 level-star form anywhere: 机密★1年.
    ("star", re.compile(rf"(?P<level>{ZH_LEVELS})\s*★")),
    # A level heading a line like a label: "TUYỆT MẬT: Kế hoạch …", "绝密：关于…".
    ("label", re.compile(rf"^[{DECOR}]*{LEVEL}\s*[:：]", re.MULTILINE)),
)


def canonical(level: str) -> str:
    """`tối  mật` → `TỐI MẬT`, `机 密` → `机密`."""
    words = level.split()
    return " ".join(words).upper() if words[0].isascii() or "Ậ" in level.upper() else "".join(words)


def find(text: str) -> list[tuple[str, str]]:
    """(level, shape) of every marking in `text`, each level once, strongest shape first."""
    text = unicodedata.normalize("NFC", text)
    found: dict[str, str] = {}
    for shape, pattern in SHAPES:
        for match in pattern.finditer(text):
            found.setdefault(canonical(match.group("level")), shape)
    return list(found.items())
