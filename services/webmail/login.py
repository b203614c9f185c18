"""Webmail login (R10, R21, R23, R24): the password, the brute-force guard shared with ingress, restrictions, places."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from schemas.events import AuthEvent
from schemas.registry import AUTH
from services.common import logging as log
from services.common.bus import Publisher
from services.common.directory import Account, RedisDirectory, account_key
from services.common.system_mail import SystemMailer, compose
from services.ingress.bruteforce import AuthGuard
from services.ingress.restrictions import refusal
from services.lifecycle.passwords import hash_password, verify_password
from services.webmail import i18n
from services.webmail.iplib import IpLibrary
from services.webmail.records import DAY, Records

logger = log.get(__name__)
CLIENT_TYPE = "webmail"  # what an account's allowed_clients must name for the webmail (R24)


def places_key(username: str) -> str:
    """Hash place -> epoch of the account's last successful login from there (R23)."""
    return f"gm:webmail:places:{username.lower()}"


def place_label(place: str, ip: str) -> str:
    """The library's place, else the client's network (/24, /48), so unknown places are still told apart."""
    if place:
        return place
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(ip)
        prefix = 24 if address.version == 4 else 48
        return f"? {ipaddress.ip_network(f'{ip}/{prefix}', strict=False)}"
    return "?"


class WebmailNotAllowed(Exception):
    """The password was right, but the account's service class does not include the webmail (R12)."""

    def __init__(self, service_class: str):
        super().__init__(f"the service class {service_class} does not include webmail")
        self.service_class = service_class


class LoginDesk:
    """Checks one login attempt the way submission does, so web and SMTP share locks and answers."""

    def __init__(self, directory: RedisDirectory, guard: AuthGuard, publisher: Publisher, records: Records,
                 iplib: IpLibrary, mailer: SystemMailer | None, zone: ZoneInfo, place_memory_days: int,
                 alert_sender: str = ""):
        self.directory = directory
        self.redis: aioredis.Redis = directory.redis
        self.guard = guard
        self.publisher = publisher
        self.records = records
        self.iplib = iplib
        self.mailer = mailer
        self.zone = zone
        self.place_memory = place_memory_days * DAY
        self.alert_sender = alert_sender

    @cached_property
    def _decoy_hash(self) -> str:
        # Unknown users cost one hash too, so the answer's timing does not tell which accounts exist.
        return hash_password("govmail-decoy-password")

    async def attempt(self, username: str, password: str, ip: str) -> tuple[Account | None, str]:
        """The account when the login succeeds (else None), and the place it came from.

        Every refusal looks the same to the client: a lock, a wrong password, an unknown user and
        a restriction are told apart only in the auth event and the log. The one exception is
        WebmailNotAllowed, raised only after the right password.
        """
        username = username.strip().lower()
        place = self.iplib.place(ip)
        if await self.guard.locked(username, ip):
            await self._outcome(username, ip, place, "blocked", "locked")
            return None, place
        account = await self.directory.account(username) if "@" in username else None
        stored = account.password_hash if account is not None and account.password_hash else self._decoy_hash
        matches = await asyncio.to_thread(verify_password, password, stored)
        if account is not None and account.status == "active" and account.password_hash and matches:
            # As on submission: restrictions only after the right password, and a blocked login is no failure.
            blocked = refusal(account, ip, CLIENT_TYPE, datetime.now(self.zone))
            if blocked:
                await self._outcome(username, ip, place, "blocked", blocked)
                return None, place
            # Unlike a restriction, this is said plainly: the password was right, and the user must know
            # to use a mail client instead. Not a failure either, so the brute-force counters stay as they are.
            service_class = await self.directory.service_class(account.service_class)
            if not service_class.allows("webmail"):
                await self._outcome(username, ip, place, "blocked", "feature_not_allowed")
                raise WebmailNotAllowed(service_class.name)
            await self.guard.succeeded(username)
            new_place = await self._remember_place(username, place_label(place, ip))
            await self._outcome(username, ip, place, "success", "new_place" if new_place else "")
            if new_place:
                await self._alert(account, ip, place)
            return account, place
        reason = ("unknown_user" if account is None or account.status == "deleted"
                  else "account_locked" if account.status == "locked" else "bad_password")
        verdict = await self.guard.failed(username, ip)
        await self._outcome(username, ip, place, "failure", reason)
        if verdict == "lockout":
            await self._outcome(username, ip, place, "lockout", "too_many_failures")
        return None, place

    async def _remember_place(self, username: str, label: str) -> bool:
        """Record the place; True when the account has logged in before but not from here recently.

        The very first login has nothing to compare with and sends no alert.
        """
        key = places_key(username)
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.hset(key, label, f"{now:.0f}")
            known, _ = await pipe.execute()
        recent = {p for p, at in known.items() if float(at) >= now - self.place_memory}
        return bool(known) and label not in recent

    async def _alert(self, account: Account, ip: str, place: str) -> None:
        if self.mailer is None:
            return
        language = account.language
        when = datetime.now(self.zone).strftime("%Y-%m-%d %H:%M")
        body = i18n.text("alert_body", language).format(
            address=account.address, place=place or i18n.text("unknown_place", language), ip=ip, time=when)
        sender = self.alert_sender or f"postmaster@{account.domain}"
        message = compose(sender, [account.address], i18n.text("alert_subject", language), body)
        try:
            await self.mailer.send(message, sender, [account.address], key=f"login-alert:{account.address}:{when}:{ip}")
        except Exception as exc:  # the login itself stands; the auth event and the log record the place
            logger.warning("login_alert_failed", username=account.address, error=str(exc))

    async def _outcome(self, username: str, ip: str, place: str, outcome: str, reason: str) -> None:
        event = AuthEvent(producer="webmail", username=username, ip=ip, service="webmail", outcome=outcome,
                          mechanism="password", reason=reason, place=place)
        logger.info("webmail_login", username=username, client_ip=ip, outcome=outcome, reason=reason, place=place,
                    event_id=event.event_id)
        if await self.redis.exists(account_key(username)):  # no records for names a guesser made up
            await self.records.login(username, ip, outcome, place, reason)
        try:
            await self.publisher.publish(AUTH, event)
        except Exception as exc:  # a lost event must not decide the login; the log line above keeps it
            logger.warning("auth_event_publish_failed", event_id=event.event_id, topic=AUTH, error=str(exc))
