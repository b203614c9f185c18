"""Recognises attachments that are dangerous to open: executables, scripts, disguised names, Office macros."""

from __future__ import annotations

import unicodedata

EXECUTABLE = frozenset(["exe", "com", "scr", "pif", "cpl", "msi", "msp", "msc", "dll", "sys", "drv", "ocx",
    "jar", "apk", "appx", "msix", "elf", "run", "gadget"])
SCRIPT = frozenset(["js", "jse", "vbs", "vbe", "wsf", "wsh", "wsc", "ps1", "psm1", "psd1", "bat", "cmd",
    "hta", "lnk", "reg", "scf", "inf", "iqy", "slk", "sct", "vb"])
MACRO_ENABLED = frozenset(["docm", "dotm", "xlsm", "xltm", "xlam", "xlsb", "pptm", "potm", "ppsm", "ppam",
    "sldm"])
# What a disguised file pretends to be: a document or a picture people open without a thought.
DECOY = frozenset(["pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "rtf", "txt", "csv",
    "jpg", "jpeg", "png", "gif", "bmp", "zip", "rar", "7z", "htm", "html"])
OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
# Directory entries of a compound file are named in UTF-16LE; these are the storages Office
# writes only when a document carries VBA macros (Word/Excel/PowerPoint 97-2003).
OLE_MACRO_STREAMS = tuple(n.encode("utf-16-le") for n in ("_VBA_PROJECT", "VBA_PROJECT_CUR", "Macros"))
# Characters that make a name display differently from what it is (right-to-left override).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def extensions(name: str) -> list[str]:
    """Lower-cased extensions, last last; padding spaces and dots around them ignored (`x.pdf   .exe`)."""
    name = unicodedata.normalize("NFKC", name).strip().strip(".").lower()
    pieces = [p.strip() for p in name.split(".")[1:]]
    return [p for p in pieces if p and len(p) <= 5 and p.isalnum()]


def is_pe(data: bytes) -> bool:
    """A Windows PE executable: `MZ`, and the `PE` signature where its header says."""
    if len(data) < 64 or data[:2] != b"MZ":
        return False
    offset = int.from_bytes(data[60:64], "little")
    return data[offset:offset + 4] == b"PE\0\0"


def is_ole_with_macros(data: bytes) -> bool:
    return data[:8] == OLE_MAGIC and any(stream in data for stream in OLE_MACRO_STREAMS)


def dangers(name: str, data: bytes) -> list[tuple[str, str]]:
    """(kind, why) for each danger of one file: kind is executable, script, double_extension or macro."""
    found: list[tuple[str, str]] = []
    exts = extensions(name)
    last = exts[-1] if exts else ""
    if any(c in BIDI_CONTROLS for c in name):
        found.append(("double_extension", "right-to-left control character in the name"))
    if len(exts) >= 2 and exts[-2] in DECOY and (last in EXECUTABLE or last in SCRIPT):
        found.append(("double_extension", f".{exts[-2]}.{last}"))
    if last in EXECUTABLE:
        found.append(("executable", f".{last}"))
    elif is_pe(data):
        found.append(("executable", "Windows PE header"))
    elif data[:4] == b"\x7fELF":
        found.append(("executable", "ELF header"))
    if last in SCRIPT:
        found.append(("script", f".{last}"))
    if last in MACRO_ENABLED:
        found.append(("macro", f".{last}"))
    elif is_ole_with_macros(data):
        found.append(("macro", "VBA storage in an OLE document"))
    elif name.lower().endswith("vbaproject.bin"):
        found.append(("macro", "vbaProject.bin in an Office Open XML document"))
    return found
