"""The province's IP library (R23): a text file of 'CIDR place' lines that officials edit, read on change."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from services.common.settings import PlatformSettings
from services.ingress.restrictions import client_address
from services.webmail.settings import WebmailSettings

UNKNOWN = ""


def library_path(platform: PlatformSettings, settings: WebmailSettings) -> Path:
    return settings.iplib or platform.data / "webmail" / "iplib.txt"


def parse_line(line: str) -> tuple[str, str] | None:
    """('10.0.0.0/8', 'Sở TT&TT Tiền Giang') from '10.0.0.0/8 Sở TT&TT Tiền Giang'; None for blanks and comments."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    cidr, _, place = text.partition(" ")
    return str(ipaddress.ip_network(cidr, strict=False)), place.strip()


class IpLibrary:
    """Longest-prefix match of an IP over the file's networks; the file is re-read when its mtime changes."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: float | None = None
        self._entries: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []

    def entries(self) -> list[tuple[str, str]]:
        if not self.path.exists():
            return []
        found = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                parsed = parse_line(line)
            except ValueError:
                raise ValueError(f"{self.path}:{number}: {line.strip()!r} does not start with a CIDR") from None
            if parsed:
                found.append(parsed)
        return found

    def _load(self) -> None:
        stamp = self.path.stat().st_mtime if self.path.exists() else None
        if stamp != self._stamp:
            nets = [(ipaddress.ip_network(c), p) for c, p in self.entries()]
            self._entries = sorted(nets, key=lambda e: e[0].prefixlen, reverse=True)
            self._stamp = stamp

    def place(self, ip: str) -> str:
        self._load()
        address = client_address(ip)
        if address is None:
            return UNKNOWN
        for network, place in self._entries:
            if address.version == network.version and address in network:
                return place
        return UNKNOWN

    def write(self, entries: list[tuple[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(f"{c} {p}\n" for c, p in entries), encoding="utf-8")
        os.replace(tmp, self.path)

    def add(self, cidr: str, place: str) -> str:
        network = str(ipaddress.ip_network(cidr, strict=False))
        if not place.strip():
            raise ValueError("a place name is needed")
        self.write([e for e in self.entries() if e[0] != network] + [(network, place.strip())])
        return network

    def remove(self, cidr: str) -> bool:
        network = str(ipaddress.ip_network(cidr, strict=False))
        before = self.entries()
        self.write([e for e in before if e[0] != network])
        return len(before) != len(self.entries())


def main(argv: list[str], prog: str = "govmail webmail iplib") -> int:
    """`govmail admin iplib add CIDR PLACE | remove CIDR | list` (also `govmail webmail iplib …`)."""
    parser = argparse.ArgumentParser(prog=prog, description="Edit the province's IP library "
                                     "(CIDR -> place) that names where webmail logins come from (R23).")
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="add or replace a network")
    add.add_argument("cidr")
    add.add_argument("place", nargs="+")
    remove = sub.add_parser("remove", help="remove a network")
    remove.add_argument("cidr")
    sub.add_parser("list", help="print the library")
    args = parser.parse_args(argv)
    library = IpLibrary(library_path(PlatformSettings(), WebmailSettings()))
    try:
        if args.action == "add":
            print(f"{library.add(args.cidr, ' '.join(args.place))} {' '.join(args.place)}")
        elif args.action == "remove":
            if not library.remove(args.cidr):
                print(f"{args.cidr}: not in the library", file=sys.stderr)
                return 1
        else:
            for cidr, place in library.entries():
                print(f"{cidr} {place}")
    except ValueError as exc:
        print(f"govmail webmail iplib: {exc}", file=sys.stderr)
        return 2
    return 0
