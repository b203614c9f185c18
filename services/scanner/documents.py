"""The readable text of a part: plain text, HTML with its line breaks, Word (docx) and PDF documents."""

from __future__ import annotations

import html
import io
import logging
import re
import zipfile

from services.scanner.archive import is_zip
from services.scanner.message import Part

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # a document bigger than this uncompressed is not read as text
# A secrecy marking is stamped on a document's first page (GB/T 9704 puts 密级 at the top left of
# page one; Vietnamese stamps go on the first page too), and extracting every page of a long report
# would overrun the check's time budget: the first pages are read.
MAX_PDF_PAGES = 3
BLOCK_END = re.compile(r"<\s*(?:br\b[^>]*|/\s*(?:p|div|tr|li|h[1-6]|table|center|blockquote|pre|title))\s*>",
                       re.IGNORECASE)
SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[^>]*>")
# Word keeps the text of a document, its headers and footers (where stamps sit) in these parts.
DOCX_TEXT = re.compile(r"^word/(document|header\d*|footer\d*)\.xml$")
DOCX_PARAGRAPH_END = re.compile(rb"</w:p>|<w:br/>|<w:cr/>")
DOCX_RUN_TEXT = re.compile(rb"<w:t(?:\s[^>]*)?>([^<]*)</w:t>")

# pypdf logs every oddity of a malformed PDF at WARNING; a scanner meets many and says so itself.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def html_text(markup: str) -> str:
    """Visible text of HTML with a line break where a block ends, so stamp lines stay lines."""
    return html.unescape(TAG.sub("", BLOCK_END.sub("\n", SCRIPT_STYLE.sub(" ", markup))))


def docx_text(data: bytes) -> str:
    lines: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as document:
        names = sorted((i for i in document.infolist() if DOCX_TEXT.match(i.filename)), key=lambda i: i.filename)
        for info in names:
            if info.file_size > MAX_DOCUMENT_BYTES:
                continue
            xml = document.read(info)
            for paragraph in DOCX_PARAGRAPH_END.split(xml):
                runs = b"".join(DOCX_RUN_TEXT.findall(paragraph))
                lines.append(html.unescape(runs.decode("utf-8", "replace")))
    return "\n".join(lines)


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader  # imported on first PDF: it takes a while and most mail has none

    reader = PdfReader(io.BytesIO(data))
    return "\n".join((page.extract_text() or "") for page in reader.pages[:MAX_PDF_PAGES])


def kind(part: Part) -> str | None:
    """txt, html, docx or pdf: which reader understands the part; None for anything else."""
    name = part.filename.lower()
    if part.content_type == "text/html" or name.endswith((".html", ".htm")):
        return "html" if part.text is not None else None
    if part.text is not None:
        return "txt"
    if name.endswith(".docx") or part.content_type.endswith("wordprocessingml.document"):
        return "docx" if is_zip(part.data) else None
    if name.endswith(".pdf") or part.content_type == "application/pdf":
        return "pdf" if part.data[:1024].lstrip().startswith(b"%PDF") or b"%PDF-" in part.data[:1024] else None
    return None


def text_of(part: Part) -> str | None:
    """The part's text, or None when it is not a document we read. Raises on a corrupt document."""
    found = kind(part)
    if found == "txt":
        return part.text
    if found == "html":
        return html_text(part.text or "")
    if found == "docx":
        return docx_text(part.data)
    if found == "pdf":
        return pdf_text(part.data)
    return None
