"""Per-account limits on using the account: where, when and with which client it may log in (R24), and its daily outbound cap (R22)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from services.common.directory import Account, account_key

CLIENT_TYPES = ("smtp", "imap", "pop3", "webmail")
Refusal = Literal["network", "hours", "client"]

_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_TWO_DAYS = int(timedelta(days=2).total_seconds())


def parse_networks(items: list[str]) -> list[str]:
    """CIDRs (IPv4 or IPv6) in their normal form; a bare address is a /32 or /128. ValueError names the bad one."""
    networks = []
    for item in items:
        text = item.strip()
        try:
            # strict=False: "10.1.2.3/8" means the network 10.0.0.0/8, as administrators usually mean it.
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IPv4 or IPv6 network (CIDR)") from None
    return networks


def parse_hours(text: str) -> tuple[time, time] | None:
    """'HH:MM-HH:MM' as (start, end), end exclusive; '' is any time. ValueError on anything else."""
    text = text.strip().replace(" ", "")
    if not text:
        return None
    match = _HOURS.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a range of hours like 07:00-19:00")
    start = time(int(match[1]), int(match[2]))
    end = time(int(match[3]), int(match[4]))
    if start == end:
        raise ValueError(f"{text!r} is empty; leave the hours unset to allow any time")
    return start, end


def format_hours(hours: tuple[time, time] | None) -> str:
    return "" if hours is None else f"{hours[0]:%H:%M}-{hours[1]:%H:%M}"


def parse_clients(items: list[str]) -> list[str]:
    clients = [item.strip().lower() for item in items if item.strip()]
    unknown = [c for c in clients if c not in CLIENT_TYPES]
    if unknown:
        raise ValueError(f"unknown client type {unknown[0]!r}; known: {', '.join(CLIENT_TYPES)}")
    return sorted(set(clients))


def client_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address as the administrator writes it, or None when `ip` is not an address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    # A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; the administrator wrote a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _in_networks(ip: str, networks: list[str]) -> bool:
    address = client_address(ip)
    return address is not None and any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def _in_hours(spec: str, now: time) -> bool:
    hours = parse_hours(spec)
    if hours is None:
        return True
    start, end = hours
    return start <= now < end if start < end else now >= start or now < end


def refusal(account: Account, ip: str, client: str, now: datetime) -> Refusal | None:
    """Why `account` may not log in from `ip` with `client` at `now` (local time), or None when it may.

    A restriction that no longer parses refuses rather than allows: failing closed is the safe side.
    """
    if account.allowed_networks and not _in_networks(ip, account.allowed_networks):
        return "network"
    try:
        if not _in_hours(account.allowed_hours, now.time()):
            return "hours"
    except ValueError:
        return "hours"
    if account.allowed_clients and client not in account.allowed_clients:
        return "client"
    return None


class OutboundCap:
    """Messages accepted from each account per local day, counted in Redis so the cap holds across replicas.

    We count messages, not recipients: recipients per message are limited separately (R22), and the
    setting an operator tunes reads as "messages per day". The check runs at MAIL FROM and the count at
    the 250 after DATA, so sessions sending at the same moment can overshoot by at most one message each.
    """

    def __init__(self, client: aioredis.Redis, limit: int, zone: ZoneInfo):
        self.redis = client
        self.limit = limit
        self.zone = zone

    def _key(self, address: str) -> str:
        return f"gm:sent:{datetime.now(self.zone):%Y-%m-%d}:{address.lower()}"

    async def exhausted(self, address: str) -> bool:
        return int(await self.redis.get(self._key(address)) or 0) >= self.limit

    async def count(self, address: str) -> None:
        key = self._key(address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, _TWO_DAYS)
            await pipe.execute()

    async def lock(self, address: str) -> bool:
        """Lock the account's sending; False when it was locked already (by another session or replica).

        The day's count starts over, so an administrator who unlocks the account gives it a fresh allowance
        instead of seeing it locked again by its next message.
        """
        key = account_key(address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, "sending_locked")
            pipe.hset(key, "sending_locked", "1")
            pipe.delete(self._key(address))
            before, _, _ = await pipe.execute()
        return before != "1"
