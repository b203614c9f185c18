"""Turns raw RFC 5322 bytes into the decoded parts checks look at, without ever failing on malformed MIME."""

from __future__ import annotations

import codecs
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy, linesep_splitter
from typing import Any, TypeVar

from schemas.events import MailInfo

# Mail labelled GB2312 or GBK routinely uses characters only GB18030 (their superset) has.
CHARSET_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "euc-cn": "gb18030"}
# The headers the MIME parser and the part accessors (content type, charset, file name, boundary,
# transfer encoding) read again and again: each read builds a full header object otherwise.
STRUCTURAL = frozenset(("content-type", "content-disposition", "content-transfer-encoding"))
T = TypeVar("T")


class StructurePolicy(EmailPolicy):
    """policy.default, except that plain structural headers read as their unfolded text.

    Their accessors (get_content_type, get_param, get_filename, ...) only split that text, so the
    header object policy.default builds on every read is wasted work, most of the parse's time.
    A value with encoded words or 8-bit bytes still gets the full object, which decodes them
    (a file name sent as =?UTF-8?B?...?= must read as its name).
    """

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if isinstance(value, str) and name.lower() in STRUCTURAL and value.isascii() and "=?" not in value:
            return "".join(linesep_splitter.split(value))
        return super().header_fetch_parse(name, value)


POLICY = StructurePolicy()


@functools.cache
def plain_text(key: str) -> bool:
    """Whether a header's decoded text is its raw text when there is nothing to decode (no
    structure the email package rewrites, as it does for dates and addresses)."""
    return key == "message-id" or issubclass(POLICY.header_factory[key], UnstructuredHeader)


MAX_KEPT_HEADER = 1000  # characters: a huge recipient list is not worth keeping


@functools.lru_cache(maxsize=4096)
def parsed_header(key: str, raw: str) -> Any:
    """The header object of a raw value. Kept: senders, their addresses and subjects come back
    message after message, and the email package's parse of an address list costs a tenth of a
    millisecond. The objects are immutable, so messages may share them."""
    return POLICY.header_fetch_parse(key, raw)


@dataclass(frozen=True)
class Part:
    """One leaf of the MIME tree with its Content-Transfer-Encoding undone."""

    index: int  # position in a depth-first walk of the tree; the message itself is 0
    content_type: str
    filename: str
    data: bytes
    text: str | None = None  # decoded text, only for parts meant to be read

    @property
    def label(self) -> str:
        """How a finding names this part: its file name when it has one."""
        return self.filename or f"part {self.index} ({self.content_type})"


@dataclass(frozen=True)
class ParsedMail:
    raw: bytes
    message: EmailMessage | None
    parts: list[Part]
    defects: list[str]  # structural problems met while parsing, e.g. "part 2: StartBoundaryNotFoundDefect"
    # What ingress learnt from the SMTP session (client IP, HELO, MAIL FROM, listener, direction);
    # None when a message is scanned on its own (tests, benchmarks, training).
    envelope: MailInfo | None = None

    # The email package's object for the first of each header read, and its decoded text, filled
    # on first use: several checks read the same headers (From above all), and the package parses
    # a header anew on every access.
    _headers: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _decoded: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # What checks derive from the message and more than one of them reads (links, addresses).
    _derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def text_parts(self) -> list[Part]:
        return [p for p in self.parts if p.text is not None]

    def header_object(self, name: str) -> Any:
        """The first `name` header as the email package reads it (address headers have .addresses);
        None when absent or unreadable."""
        key = name.lower()
        if key not in self._headers:
            raw = self.raw_header(key)
            try:
                if raw is None:
                    self._headers[key] = None
                elif isinstance(raw, str) and len(raw) <= MAX_KEPT_HEADER:
                    self._headers[key] = parsed_header(key, raw)
                else:
                    self._headers[key] = POLICY.header_fetch_parse(key, raw)
            except Exception:  # a header the policy cannot make sense of reads as absent
                self._headers[key] = None
        return self._headers[key]

    def header(self, name: str) -> str:
        """The first `name` header, decoded (RFC 2047); "" when absent or undecodable."""
        key = name.lower()
        if key not in self._decoded:
            raw = self.raw_header(key)
            if isinstance(raw, str) and plain_text(key) and raw.isascii() and "=?" not in raw:
                # Nothing to decode: the header object would give back the text, unfolded.
                self._decoded[key] = "".join(linesep_splitter.split(raw))
            else:
                value = self.header_object(key)
                self._decoded[key] = "" if value is None else str(value)
        return self._decoded[key]

    def raw_header(self, key: str) -> Any:
        """The first `key` (lower case) header as the sender wrote it, None when absent."""
        if not self._raw:
            for name, value in self.message.raw_items() if self.message is not None else ():
                self._raw.setdefault(name.lower(), value)
        return self._raw.get(key)

    def derived(self, key: str, compute: Callable[[ParsedMail], T]) -> T:
        """compute(self), worked out on the first call for `key` and remembered for the others."""
        if key not in self._derived:
            self._derived[key] = compute(self)
        return self._derived[key]


def decode_text(data: bytes, charset: str | None, index: int, defects: list[str]) -> str:
    name = (charset or "utf-8").strip().lower()
    name = CHARSET_SUPERSETS.get(name, name)
    try:
        codecs.lookup(name)
    except LookupError:
        defects.append(f"part {index}: unknown charset {charset!r}")
        name = "utf-8"
    return data.decode(name, "replace")


def leaf(index: int, node: Message, defects: list[str]) -> Part:
    ctype = node.get_content_type()
    data = node.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = b""
    # A multipart whose boundary never shows up stays one unsplit body: read it as text so that
    # breaking the structure on purpose does not hide what is inside from the checks.
    # (From ctype: the email package parses Content-Type again on every get_content_* call.)
    readable = ctype.partition("/")[0] in ("text", "multipart")
    text = decode_text(data, node.get_content_charset(), index, defects) if readable else None
    filename = node.get_filename() or ""
    return Part(index=index, content_type=ctype, filename=str(filename), data=data, text=text)


def parse(raw: bytes, envelope: MailInfo | None = None) -> ParsedMail:
    """Parse leniently: every problem becomes an entry in `defects`, never an exception."""
    try:
        message = BytesParser(policy=POLICY).parsebytes(raw)
    except Exception as exc:  # the parser is lenient already; this is the last resort
        whole = Part(index=0, content_type="application/octet-stream", filename="", data=raw,
                     text=raw.decode("utf-8", "replace"))
        return ParsedMail(raw=raw, message=None, parts=[whole], defects=[f"unparsable: {type(exc).__name__}: {exc}"],
                          envelope=envelope)
    parts: list[Part] = []
    defects: list[str] = []
    try:
        for index, node in enumerate(message.walk()):
            if not node.is_multipart():
                try:
                    parts.append(leaf(index, node, defects))
                except Exception as exc:  # e.g. a header the policy cannot make sense of
                    defects.append(f"part {index}: unreadable: {type(exc).__name__}: {exc}")
            # Decoding the payload above is what reveals bad base64, so defects are read after it.
            defects.extend(f"part {index}: {type(d).__name__}" for d in node.defects)
    except RecursionError:  # walk() recurses: nesting just short of what the parser gave up on
        defects.append("nesting too deep to walk")
    return ParsedMail(raw=raw, message=message, parts=parts, defects=defects, envelope=envelope)
