"""aiosmtpd's SMTP without two per-command costs: a class built per address parsed, a socket write per reply line."""

from __future__ import annotations

import re
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import AnyStr

from aiosmtpd.smtp import SMTP

# `<local@domain>` with dot-atoms of ASCII atext: for these the RFC 5322 parser gives back exactly the
# text between the brackets. tests/ingress/test_lean.py holds the two ways equal.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(rf"<(?P<addr>{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*)>(?P<rest>.*)", re.DOTALL)


def _simple_path(arg: str) -> tuple[str, str] | None:
    """Address and parameters of a plain `<local@domain> [params]`, or None when the full parser must judge it."""
    simple = _SIMPLE_PATH.fullmatch(arg) if "=?" not in arg else None  # "=?" may start an RFC 2047 word
    if simple is None:
        return None
    rest = simple["rest"]
    if rest[:1] in (" ", "\t"):
        rest = rest.lstrip()  # the parser takes blanks after ">" as CFWS (and all whitespace with them)
    if rest[:1] == "(":
        return None  # a comment, which the parser would take as CFWS too
    return simple["addr"], rest


class LeanSMTP(SMTP):
    """Same replies, same parsing; fewer system calls and no throwaway classes on every message."""

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        # Lines of a multi-line reply waiting for its last line, so the reply leaves in one write.
        self._held: list[bytes] = []
        super().connection_made(transport)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd's version defines a typing.Protocol class on every call (for a type annotation);
        # building it costs more than parsing the address.
        if not arg:
            return "", ""
        # The full parser builds a token tree and walks it again for the address: most of MAIL's cost.
        simple = _simple_path(arg)
        if simple is not None:
            addr, rest = simple
        else:
            try:
                address, rest = get_angle_addr(arg) if arg.lstrip().startswith("<") else get_addr_spec(arg)
            except HeaderParseError:
                return None, None
            addr = address.addr_spec
        if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return addr, rest

    async def push(self, status: AnyStr) -> None:
        response = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii") if isinstance(status, str) else status
        if response[3:4] == b"-" and b"\n" not in response:  # one line of a reply that goes on
            # EHLO answers in six lines; one write each would be six sends and six wake-ups of the client.
            self._held.append(response + b"\r\n")
            return
        held, self._held = self._held, []
        await super().push(b"".join(held) + response if held else response)
