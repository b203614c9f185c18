"""Turns a parsed message into the set of tokens the classifier counts, for Vietnamese, Chinese and Latin text."""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from email.utils import getaddresses, parseaddr

from services.scanner.message import ParsedMail

# Bump when tokens change: a model trained on other tokens would score nonsense.
TOKENIZER_VERSION = 2
MAX_TOKEN_CHARS = 40
MAX_TOKENS = 3000  # distinct tokens per message; a huge message must not cost more than a big one
MAX_TEXT_CHARS = 50_000  # of each text part: spam words sit near the top, and the rest costs time

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
# A run of CJK characters, or a run of other word characters (letters, digits, joiners).
PIECE = re.compile(rf"[{CJK}]+|[^\W{CJK}]+(?:['’.\-@$][^\W{CJK}]+)*")
CJK_RUN = re.compile(rf"^[{CJK}]")
CJK_FIRST = "\u3040"  # no character below this is CJK: most pieces skip the regex
SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[^>]*>")
URL_HOST = re.compile(r"(?:https?://|www\.)([A-Za-z0-9.\-]+)", re.IGNORECASE)
HEADERS_BY_DOMAIN = ("from", "reply-to", "return-path", "sender")


@functools.lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Vietnamese without its diacritics: many senders (and most spammers) type it that way."""
    if word.isascii():
        return word
    stripped = "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
    return stripped.replace("đ", "d").replace("Đ", "D")


def html_to_text(markup: str) -> str:
    return html.unescape(TAG.sub(" ", SCRIPT_STYLE.sub(" ", markup)))


def url_tokens(text: str) -> list[str]:
    return [f"url:{host.strip('.').lower()}" for host in URL_HOST.findall(text)]


def long_token(word: str) -> str:
    # Long strings (base64 residue, hashes) are rarely repeated verbatim; their shape is.
    return f"skip:{word[0]}:{len(word) // 10 * 10}"


def text_tokens(text: str, prefix: str = "") -> list[str]:
    """Lower-cased words with their folded form and, for text with diacritics, word bigrams;
    CJK runs as overlapping character bigrams (no word segmenter needed)."""
    out: list[str] = []
    text = unicodedata.normalize("NFC", text[:MAX_TEXT_CHARS]).lower()
    out += url_tokens(text)
    if text.isascii():
        # Most mail: no CJK, nothing to fold, no bigrams; the same tokens as below, in the same order.
        out += [prefix + (piece if len(piece) <= MAX_TOKEN_CHARS else long_token(piece))
                for piece in PIECE.findall(text) if len(piece) > 1 or piece.isdigit()]
        return out
    # Vietnamese syllables are words only in pairs ("khuyến mãi", "hộp thư"): add bigrams there.
    previous: str | None = None
    previous_folded = ""
    for piece in PIECE.findall(text):
        if piece[0] >= CJK_FIRST and CJK_RUN.match(piece):
            previous = None
            if len(piece) == 1:
                out.append(prefix + piece)
            out.extend(prefix + piece[i:i + 2] for i in range(len(piece) - 1))
            continue
        if len(piece) > MAX_TOKEN_CHARS:
            out.append(prefix + long_token(piece))
            previous = None
            continue
        if len(piece) < 2 and not piece.isdigit() and ord(piece) < 0x80:
            previous = None
            continue
        out.append(prefix + piece)
        folded = fold(piece)
        if folded != piece:
            out.append(prefix + folded)
        if previous is not None:
            out.append(f"{prefix}{previous} {piece}")
            # Neither side holds a space, so the pairs differ exactly when a word of them does.
            if previous_folded != previous or folded != piece:
                out.append(f"{prefix}{previous_folded} {folded}")
        previous, previous_folded = piece, folded
    return out


# The address parsers are slow and senders come back message after message: keep the answers.
@functools.lru_cache(maxsize=8192)
def domain_of(value: str) -> str:
    address = parseaddr(value)[1]
    return address.rpartition("@")[2].lower().strip(">. ") if "@" in address else ""


@functools.lru_cache(maxsize=8192)
def display_name(value: str) -> str:
    return getaddresses([value])[0][0]


def header_tokens(mail: ParsedMail) -> list[str]:
    message = mail.message
    if message is None:
        return []
    out: list[str] = []
    try:
        out += text_tokens(mail.header("subject"), "subject:")
        for name in HEADERS_BY_DOMAIN:
            domain = domain_of(mail.header(name))
            if domain:
                out.append(f"{name}:{domain}")
        from_name = display_name(mail.header("from"))
        out += text_tokens(from_name, "from-name:")
        mailer = mail.header("x-mailer").split()
        if mailer:
            out.append(f"x-mailer:{mailer[0].lower()[:MAX_TOKEN_CHARS]}")
        message_id = mail.header("message-id")
        out.append(f"message-id:{message_id.rpartition('@')[2].strip('> ').lower()[:MAX_TOKEN_CHARS] or 'none'}")
        out += structure_tokens(mail)
    except Exception:  # a header the policy cannot read: its absence is the token
        out.append("header:unreadable")
    return out


def structure_tokens(mail: ParsedMail) -> list[str]:
    """How the message is built rather than what it says: which headers it has, how they are
    written, its charsets and the shape of its Received chain. Bulk mailers leave their own marks."""
    out: list[str] = []
    received = 0
    for name, value in mail.message.raw_items():  # type: ignore[union-attr]
        lower = name.lower()
        if lower == "received":
            received += 1
            continue
        # Which headers there are, and the capitalisation the mailer wrote them with.
        out.append(f"header:{name[:MAX_TOKEN_CHARS]}")
        if lower in ("content-type", "content-transfer-encoding", "mime-version", "x-priority", "x-msmail-priority",
                     "importance", "precedence", "x-mimeole"):
            out.append(f"{lower}={' '.join(str(value).split())[:MAX_TOKEN_CHARS].lower()}")
        elif lower == "to":
            out.append(f"to-count:{min(str(value).count('@'), 5)}")
    out.append(f"received-count:{min(received, 10)}")
    for part in mail.parts:
        out.append(f"part:{part.content_type}:{bool(part.filename)}")
    return out


def tokens(mail: ParsedMail) -> set[str]:
    """Distinct tokens of one message (presence, not frequency, as in Graham's and Robinson's filters)."""
    found = header_tokens(mail)
    for part in mail.parts:
        found.append(f"content-type:{part.content_type}")
        if part.text is None:
            continue
        if part.content_type == "text/html":
            # Link targets live in the markup that stripping removes.
            found += url_tokens(part.text[:MAX_TEXT_CHARS])
            found += text_tokens(html_to_text(part.text[:4 * MAX_TEXT_CHARS]))  # markup is bulkier than its text
        else:
            found += text_tokens(part.text)
    distinct = set(found)
    if len(distinct) <= MAX_TOKENS:
        return distinct
    distinct = set()  # too many: the first MAX_TOKENS distinct ones, in the order found
    for token in found:
        distinct.add(token)
        if len(distinct) >= MAX_TOKENS:
            break
    return distinct
