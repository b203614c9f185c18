"""The links a message carries: anchors of its HTML parts (href and shown text) and bare URLs of its text."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser

from services.scanner.message import ParsedMail

# A message with thousands of links is scanned on its first ones: enough to judge, bounded in time.
MAX_LINKS = 200
# Up to whitespace, quotes, angle brackets and the CJK punctuation that ends a URL in running text.
BARE_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'，。！？、；：「」『』（）【】《》]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}'\""
# Shown text that is itself a URL or a domain name (perhaps with a path), and nothing else.
SHOWN_HOST = re.compile(
    r"^(?:[a-z][a-z0-9+.\-]*://)?(?:[^\s/@]+@)?((?:[\w\-]+\.)+[\w\-]{2,})\.?(?::\d+)?(?:[/?#]\S*)?$", re.IGNORECASE
)


@dataclass(frozen=True)
class Link:
    url: str
    text: str = ""  # what the reader sees for an HTML anchor; "" for a bare URL in text
    where: str = ""  # the part it is in


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area"):
            self._close()
            self._href = dict(attrs).get("href") or None
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("a", "area"):
            self._close()

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def _close(self) -> None:
        if self._href is not None:
            self.found.append((self._href.strip(), " ".join("".join(self._text).split())))
        self._href = None

    def close(self) -> None:
        super().close()
        self._close()


def web(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme.lower() in ("http", "https") or url.lower().startswith("www.")


def links(mail: ParsedMail) -> list[Link]:
    """Web links only (http, https, www.), in order, each URL once per part; at most MAX_LINKS.

    Found once per message: the phishing list, link mismatch and homograph checks all read them.
    """
    return mail.derived("links", find_links)


def find_links(mail: ParsedMail) -> list[Link]:
    found: list[Link] = []
    for part in mail.text_parts:
        seen: set[str] = set()
        if part.content_type == "text/html":
            parser = _Anchors()
            try:
                parser.feed(part.text or "")
                parser.close()
            except Exception:  # noqa: BLE001 - html.parser is lenient; a broken page still yields what was read
                pass
            pairs = [(href, text) for href, text in parser.found if web(href)]
        else:
            pairs = [(m.group(0).rstrip(TRAILING), "") for m in BARE_URL.finditer(part.text or "")]
        for url, text in pairs:
            if url not in seen:
                seen.add(url)
                found.append(Link(url, text, part.label))
            if len(found) >= MAX_LINKS:
                return found
    return found


def host(url: str) -> str:
    """The lower-case host of a web link ('' when it has none), IDN names as Unicode."""
    if "://" not in url:
        url = "http://" + url
    try:
        name = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return ""
    name = name.rstrip(".").lower()
    try:
        return name.encode("ascii").decode("idna") if "xn--" in name else name
    except UnicodeError:
        return name


def shown_host(text: str) -> str:
    """The host an anchor's text claims to lead to, when the text is a URL or domain; else ''."""
    match = SHOWN_HOST.match(text.strip().rstrip(TRAILING))
    return match.group(1).lower() if match else ""
