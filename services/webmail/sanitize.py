"""HTML mail made harmless (R22): nh3 (ammonia) removes everything active; links are checked and rewritten."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode

import nh3

from services.webmail.suspicious import host, is_flagged

WARNING_PATH = "/link"

TAGS = nh3.ALLOWED_TAGS - {"map", "area"}  # image maps hide link targets
ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()} | {
    "*": {"style", "title", "lang", "dir"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "align"},
}
SCHEMES = {"http", "https", "mailto"}

# CSS the message may keep: looks only. Nothing that positions, layers or loads.
STYLE_PROPERTIES = {
    "color", "background-color", "font-family", "font-size", "font-weight", "font-style", "text-align",
    "text-decoration", "text-indent", "line-height", "letter-spacing", "vertical-align", "white-space",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color", "border-style",
    "border-width", "border-collapse", "border-spacing", "border-radius",
    "width", "max-width", "min-width", "height", "max-height", "min-height", "list-style-type", "float", "clear",
}
# Values with a function, an escape or an at-rule could load, compute or smuggle: expression(), url(),
# var(), \6a avascript, @import. Plain keywords, numbers, colours and font names pass.
_UNSAFE_VALUE = re.compile(r"[()\\@<>{}]|expression|javascript|url|behaviou?r|binding", re.I)
_LOOKS_LIKE_URL = re.compile(r"^(?:(?:https?://)?(?:[\w-]+\.)+[^\W\d_]{2,}(?::\d+)?(?:[/?#]\S*)?)$", re.I)


@dataclass
class Cleaned:
    html: str
    remote_images_blocked: int = 0
    warned_links: list[str] = field(default_factory=list)


def clean_style(value: str) -> str | None:
    kept = []
    for declaration in value.split(";"):
        name, _, val = declaration.partition(":")
        name, val = name.strip().lower(), val.strip()
        if name in STYLE_PROPERTIES and val and not _UNSAFE_VALUE.search(val):
            kept.append(f"{name}: {val}")
    return "; ".join(kept) or None


def deceptive(text: str, href: str) -> bool:
    """True when the link's text reads as a URL or host name that is not where the link goes."""
    shown = text.strip()
    if not shown or not _LOOKS_LIKE_URL.match(shown) or href.startswith("mailto:"):
        return False
    return host(shown) != host(href)


def warning_url(href: str, text: str, flagged: bool) -> str:
    return f"{WARNING_PATH}?" + urlencode({"u": href, "t": text[:200], "f": int(flagged)})


class _LinkRewriter(HTMLParser):
    """Re-serialises nh3's (well-formed) output, replacing the href of links that need a warning."""

    def __init__(self, flagged: set[str]):
        super().__init__(convert_charrefs=True)
        self.flagged = flagged
        self.out: list[str] = []
        self.link: tuple[int, dict[str, str]] | None = None  # index of the open <a> in out, its attributes
        self.text: list[str] = []
        self.warned: list[str] = []

    @staticmethod
    def _tag(tag: str, attrs: dict[str, str]) -> str:
        rendered = "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
        return f"<{tag}{rendered}>"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "a":
            self.link = (len(self.out), values)
            self.text = []
        self.out.append(self._tag(tag, values))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self._tag(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.link is not None:
            index, attrs = self.link
            href = attrs.get("href", "")
            text = "".join(self.text)
            flagged = bool(href) and is_flagged(href, self.flagged)
            if href and (flagged or deceptive(text, href)):
                attrs["href"] = warning_url(href, text, flagged)
                self.warned.append(href)
            if href:
                attrs["target"] = "_blank"
            self.out[index] = self._tag("a", attrs)
            self.link = None
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.link is not None:
            self.text.append(data)
        self.out.append(html.escape(data, quote=False))


def sanitize(source: str, flagged: set[str] = frozenset(), allow_remote_images: bool = False) -> Cleaned:  # type: ignore[assignment]
    """Safe HTML for the sandboxed frame; remote images only when the user asked to see them."""
    blocked = 0

    def attribute_filter(tag: str, name: str, value: str) -> str | None:
        nonlocal blocked
        if name == "style":
            return clean_style(value)
        if tag == "img" and name == "src" and not allow_remote_images:
            blocked += 1
            return None
        return value

    first = nh3.clean(source, tags=TAGS, attributes=ATTRIBUTES, attribute_filter=attribute_filter,
                      url_schemes=SCHEMES, strip_comments=True, link_rel="noopener noreferrer",
                      url_relative="deny")  # a relative link would point into the webmail itself
    rewriter = _LinkRewriter(set(flagged))
    rewriter.feed(first)
    rewriter.close()
    # A second pass over our own output: whatever the rewrite produced is held to the same rules.
    attributes = ATTRIBUTES | {"a": {"href", "title", "target"}}
    final = nh3.clean("".join(rewriter.out), tags=TAGS, attributes=attributes, attribute_filter=attribute_filter,
                      url_schemes=SCHEMES, strip_comments=True, link_rel="noopener noreferrer")
    return Cleaned(final, remote_images_blocked=blocked, warned_links=rewriter.warned)
