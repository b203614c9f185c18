"""URL canonicalisation and host-suffix/path-prefix expressions exactly as Google Safe Browsing v4 defines them."""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass

SCHEME = re.compile(rb"^([a-zA-Z][a-zA-Z0-9+.\-]*)://")
PORT = re.compile(rb":\d*$")
# Safe Browsing looks at no more than 5 host names and 6 paths of one URL.
MAX_HOSTS = 5
MAX_PREFIX_PATHS = 4


@dataclass(frozen=True)
class Canonical:
    scheme: str
    host: str
    path: str
    query: str | None  # None: no "?" at all; "": a "?" with nothing after it

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}" + ("" if self.query is None else f"?{self.query}")

    @property
    def expression(self) -> str:
        """The whole URL as a list entry: host, path and query, no scheme."""
        return f"{self.host}{self.path}" + ("" if self.query is None else f"?{self.query}")


def unescape(data: bytes) -> bytes:
    """Percent-unescape again and again until nothing changes (so %2525 becomes %)."""
    while True:
        plain = urllib.parse.unquote_to_bytes(data)
        if plain == data:
            return data
        data = plain


def escape(data: bytes) -> str:
    """Percent-escape bytes <= 0x20, >= 0x7f, '#' and '%', and nothing else."""
    return "".join(f"%{b:02X}" if b <= 0x20 or b >= 0x7F or b in b"#%" else chr(b) for b in data)


def ipv4(host: bytes) -> str | None:
    """Dotted decimal for any form inet_aton accepts (decimal, 0x hex, 0 octal, 1 to 4 parts), else None."""
    parts = host.split(b".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        if re.fullmatch(rb"0[xX][0-9a-fA-F]*", part):
            numbers.append(int(part[2:] or b"0", 16))
        elif re.fullmatch(rb"0[0-7]*", part):
            numbers.append(int(part, 8))
        elif re.fullmatch(rb"[1-9][0-9]*", part):
            numbers.append(int(part))
        else:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    value = value << 8 * (5 - len(numbers)) | last
    return ".".join(str(value >> shift & 0xFF) for shift in (24, 16, 8, 0))


def canonical_host(raw: bytes) -> str:
    host = re.sub(rb"\.{2,}", b".", raw.strip(b"."))
    address = ipv4(host)
    if address is not None:
        return address
    host = host.lower()
    if any(b >= 0x80 for b in host):
        try:  # an internationalised name is looked up by its punycode form
            return host.decode("utf-8").encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return escape(host)


def canonical_path(raw: bytes) -> bytes:
    """Resolve '.' and '..' segments and collapse runs of slashes."""
    out: list[bytes] = []
    trailing = False
    for segment in raw.split(b"/")[1:]:
        trailing = segment in (b"", b".", b"..")
        if segment == b"..":
            if out:
                out.pop()
        elif not trailing:
            out.append(segment)
    return b"/" + b"/".join(out) + (b"/" if trailing and out else b"")


def canonicalize(url: str | bytes) -> Canonical:
    """The Safe Browsing canonical form of `url` (str is taken as UTF-8)."""
    data = url.encode("utf-8") if isinstance(url, str) else url
    data = data.strip(b" ")
    data = data.replace(b"\t", b"").replace(b"\r", b"").replace(b"\n", b"")
    data = data.split(b"#", 1)[0]
    data = unescape(data)
    scheme_match = SCHEME.match(data)
    if scheme_match:
        scheme = scheme_match.group(1).decode("ascii").lower()
        data = data[scheme_match.end():]
    else:
        scheme = "http"
    end = len(data)
    for stop in (b"/", b"?"):
        found = data.find(stop)
        if found != -1:
            end = min(end, found)
    authority, rest = data[:end], data[end:]
    host = authority.rpartition(b"@")[2]
    if not host.startswith(b"["):
        host = PORT.sub(b"", host)
    path, question, query = rest.partition(b"?")
    path = canonical_path(path if path.startswith(b"/") else b"/" + path)
    return Canonical(scheme, canonical_host(host), escape(path), escape(query) if question else None)


def host_suffixes(host: str) -> list[str]:
    """The exact host, then up to 4 suffixes from the last 5 labels down to 2 (none for an IP address)."""
    if ipv4(host.encode("ascii", "replace")) == host:
        return [host]
    labels = host.split(".")
    suffixes = [".".join(labels[-k:]) for k in range(min(MAX_HOSTS, len(labels) - 1), 1, -1)]
    return list(dict.fromkeys([host, *suffixes]))


def path_prefixes(path: str, query: str | None) -> list[str]:
    """Exact path with query, without it, then '/' and successively longer directory prefixes (at most 4)."""
    paths = [] if query is None else [f"{path}?{query}"]
    paths.append(path)
    segments = path.split("/")[1:-1]  # directories only: the last segment is the file (or "" after a slash)
    prefix = "/"
    prefixes = [prefix]
    for segment in segments[: MAX_PREFIX_PATHS - 1]:
        prefix += segment + "/"
        prefixes.append(prefix)
    return list(dict.fromkeys(paths + prefixes))


def expressions(url: str | bytes | Canonical) -> list[str]:
    """Every host-suffix/path-prefix expression Safe Browsing looks up for `url` (at most 5 x 6)."""
    c = url if isinstance(url, Canonical) else canonicalize(url)
    return [host + path for host in host_suffixes(c.host) for path in path_prefixes(c.path, c.query)]


def digest(expression: str) -> bytes:
    return hashlib.sha256(expression.encode("utf-8")).digest()
