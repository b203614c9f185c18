"""HTML_*: HTML-only mail, text hidden from the reader (display:none, zero font, colour of the background), and text/HTML versions that disagree."""

from __future__ import annotations

import re

from services.scanner.check import Check, Findings
from services.scanner.documents import html_text
from services.scanner.message import ParsedMail

MAX_HTML_CHARS = 300_000
# An opening tag with a style or colour attribute, and the text right after it (up to the next tag).
STYLED = re.compile(r"<(\w+)\b([^>]*?(?:style|color|bgcolor)\s*=[^>]*)>([^<]{4,})", re.IGNORECASE)
STYLE = re.compile(r"""style\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
ATTRIBUTE = re.compile(r"""\b(color|bgcolor)\s*=\s*["']?([#\w]+)""", re.IGNORECASE)
BODY_BG = re.compile(r"""<body\b[^>]*?(?:bgcolor\s*=\s*["']?([#\w]+)|background(?:-color)?\s*:\s*([#\w]+))""",
                     re.IGNORECASE)
WORD = re.compile(r"\w+")
LETTER = re.compile(r"\w")
NAMED = {"white": "#ffffff", "black": "#000000", "red": "#ff0000", "blue": "#0000ff", "green": "#008000",
         "yellow": "#ffff00", "gray": "#808080", "grey": "#808080", "silver": "#c0c0c0"}
MIN_HIDDEN_LETTERS = 8  # less hidden text is layout (a spacer, a preheader), not stuffing
MIN_WORDS_TO_COMPARE = 20
MAX_SHARED = 0.2  # text and HTML versions sharing less than this of their words say different things


def colour(value: str) -> str:
    value = value.strip().lower()
    value = NAMED.get(value, value)
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        value = "#" + "".join(c * 2 for c in value[1:])
    return value


def declarations(attributes: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for match in STYLE.finditer(attributes):
        for item in (match.group(1) or match.group(2) or "").split(";"):
            key, sep, value = item.partition(":")
            if sep:
                out[key.strip().lower()] = value.strip().lower()
    for name, value in ATTRIBUTE.findall(attributes):
        out.setdefault("color" if name.lower() == "color" else "background-color", value.lower())
    return out


def hidden_reason(style: dict[str, str], page_background: str | None) -> str | None:
    if style.get("display", "").startswith("none"):
        return "display:none"
    if style.get("visibility", "").startswith("hidden"):
        return "visibility:hidden"
    size = style.get("font-size", "")
    if re.fullmatch(r"0(?:\.0+)?(?:px|pt|em|%)?", size.replace("!important", "").strip()):
        return "font-size:0"
    text = style.get("color")
    if text:
        background = style.get("background-color") or style.get("background") or page_background
        if background and colour(text) == colour(background.split()[0]):
            return f"colour {colour(text)} on the same background"
    return None


def hidden_text(markup: str) -> list[str]:
    page = BODY_BG.search(markup)
    page_background = (page.group(1) or page.group(2)) if page else None
    reasons = []
    for tag, attributes, text in STYLED.findall(markup):
        if tag.lower() == "body" or len(LETTER.findall(text)) < MIN_HIDDEN_LETTERS:
            continue
        reason = hidden_reason(declarations(attributes), page_background)
        if reason is not None:
            reasons.append(f"{reason}: {' '.join(text.split())[:40]}")
    return reasons


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text) if len(w) > 2}


def run(mail: ParsedMail, found: Findings) -> None:
    bodies = [p for p in mail.parts if p.text is not None and not p.filename]
    html_parts = [p for p in bodies if p.content_type == "text/html"]
    if not html_parts:
        return
    plain = [p for p in bodies if p.content_type == "text/plain"]
    if not plain:
        found.add("HTML_ONLY")
    for part in html_parts:
        found.check_time()
        markup = (part.text or "")[:MAX_HTML_CHARS]
        hidden = hidden_text(markup)
        if hidden:
            found.add("HTML_HIDDEN_TEXT", *hidden)
        for other in plain:
            html_words, plain_words = words(html_text(markup)), words(other.text or "")
            if min(len(html_words), len(plain_words)) < MIN_WORDS_TO_COMPARE:
                continue
            shared = len(html_words & plain_words) / min(len(html_words), len(plain_words))
            if shared < MAX_SHARED:
                found.add("HTML_TEXT_MISMATCH", f"{part.label} shares {shared:.0%} of its words with {other.label}")


CHECK = Check("html", ("HTML_ONLY", "HTML_HIDDEN_TEXT", "HTML_TEXT_MISMATCH"), run)
