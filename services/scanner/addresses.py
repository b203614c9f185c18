"""The (display name, address) pairs of a message's address headers, never failing on a malformed one."""

from __future__ import annotations

from services.scanner.message import ParsedMail


def addresses(mail: ParsedMail, header: str) -> list[tuple[str, str]]:
    """(display name, lower-case address) for each address in `header`; [] when it is absent or unreadable.

    Parsed once per message: sender authentication, homographs and impersonation all read From.
    """
    return mail.derived(f"addresses:{header.lower()}", lambda m: parse_addresses(m, header))


def parse_addresses(mail: ParsedMail, header: str) -> list[tuple[str, str]]:
    try:
        value = mail.header_object(header)
        return [(a.display_name, a.addr_spec.lower()) for a in getattr(value, "addresses", ()) if a.domain]
    except Exception:  # noqa: BLE001 - a header the parser cannot read names nobody
        return []


def domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")
