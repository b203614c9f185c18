"""SMTP AUTH for submission: password check against the directory, brute-force guard, and auth events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
import redis.exceptions
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from schemas.events import AuthEvent
from schemas.registry import AUTH
from services.common import logging as log
from services.common.bus import Publisher
from services.common.directory import Directory
from services.ingress import replies
from services.ingress.bruteforce import AuthGuard
from services.ingress.handler import peer_ip
from services.ingress.restrictions import refusal
from services.lifecycle.credentials import login_state, rehash_after_login
from services.lifecycle.passwords import DEFAULT_POLICY, PasswordPolicy, hash_password, verify_password

logger = log.get(__name__)

# Webmail submission tokens (R15): after a webmail login the webmail does not know the user's password,
# so it stores a random token under this key (value: the username, expiring with the web session) and
# authenticates to submission with AUTH PLAIN username + token. Every submission policy then applies to
# webmail mail as to any client's. Tokens carry this prefix so a normal password never costs a lookup.
SUBMIT_TOKEN_PREFIX = "wmtok."


def submit_token_key(token: str) -> str:
    return f"gm:submit-token:{token}"


class SubmissionAuthenticator:
    """aiosmtpd `authenticator=`: returns a coroutine that the submission SMTP class awaits.

    A locked username or IP gets the same 535 5.7.8 as a wrong password, even with the right
    password, so an attacker learns nothing about the lock or about which accounts exist.
    """

    client_type = "smtp"  # what an account's allowed_clients must name for this listener (R24)

    def __init__(self, directory: Directory, guard: AuthGuard, publisher: Publisher,
                 zone: ZoneInfo | None = None, policy: PasswordPolicy = DEFAULT_POLICY,
                 redis_client: aioredis.Redis | None = None):
        self.directory = directory
        self.guard = guard
        self.publisher = publisher
        self.zone = zone or ZoneInfo("Asia/Ho_Chi_Minh")
        self.policy = policy
        self.redis = redis_client  # for re-hashing an old-format password after a good login
        self._publishing: set[asyncio.Task[None]] = set()

    @cached_property
    def _decoy_hash(self) -> str:
        # Unknown users cost one scrypt too, so response time does not tell which accounts exist.
        return hash_password("govmail-decoy-password")

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> Coroutine[Any, Any, AuthResult]:
        return self.check(session, mechanism, auth_data)

    async def check(self, session: Session, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        username = auth_data.login.decode("utf-8", "replace").strip().lower()
        password = auth_data.password.decode("utf-8", "replace")
        ip = peer_ip(session)
        try:
            return await self._check(username, password, ip, mechanism)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            logger.warning("directory_unavailable", error=str(exc))
            return AuthResult(success=False, handled=False, message=replies.AUTH_TEMPFAIL)

    async def _check(self, username: str, password: str, ip: str, mechanism: str) -> AuthResult:
        if await self.guard.locked(username, ip):
            self.emit(username, ip, "blocked", mechanism, "locked")
            return AuthResult(success=False, handled=False)
        if password.startswith(SUBMIT_TOKEN_PREFIX) and await self._token_matches(username, password):
            return await self._token_login(username, ip, mechanism)
        account = await self.directory.account(username) if "@" in username else None
        stored = account.password_hash if account is not None and account.password_hash else self._decoy_hash
        matches = await asyncio.to_thread(verify_password, password, stored)
        if account is not None and account.status == "active" and account.password_hash and matches:
            # The restrictions (R24) are checked only after the right password: a guesser gets the
            # same 535 whether the password or the place/hour/client is wrong, so learns nothing about
            # them, and a blocked login is not a failure, so it cannot lock the real user out.
            blocked = refusal(account, ip, self.client_type, datetime.now(self.zone))
            if blocked:
                self.emit(username, ip, "blocked", mechanism, blocked)
                return AuthResult(success=False, handled=False)
            # Mail clients need the class's "smtp" feature (R12); the webmail's token path above does not:
            # webmail sending is governed by the class's "webmail" feature, checked at the webmail's login.
            service_class = await self.directory.service_class(account.service_class)
            if not service_class.allows("smtp"):
                self.emit(username, ip, "blocked", mechanism, "feature_not_allowed")
                return AuthResult(success=False, handled=False,
                                  message=replies.SMTP_NOT_ALLOWED.format(service_class=service_class.name))
            # A mail client cannot change a password: a one-time or expired one is changed in webmail
            # first (R10, R11). Saying so reveals nothing: the password was right.
            state = login_state(account, datetime.now(UTC), self.policy)
            if state != "ok":
                self.emit(username, ip, "blocked", mechanism, f"password_{state}")
                return AuthResult(success=False, handled=False, message=replies.PASSWORD_CHANGE_FIRST)
            if self.redis is not None:
                await rehash_after_login(self.redis, account.address, password, account.password_hash)
            await self.guard.succeeded(username)
            self.emit(username, ip, "success", mechanism)
            return AuthResult(success=True, auth_data=account.address.lower())
        reason = ("unknown_user" if account is None or account.status == "deleted"
                  else "account_locked" if account.status == "locked" else "bad_password")
        verdict = await self.guard.failed(username, ip)
        self.emit(username, ip, "failure", mechanism, reason)
        if verdict == "lockout":
            self.emit(username, ip, "lockout", mechanism, "too_many_failures")
        return AuthResult(success=False, handled=False)

    async def _token_matches(self, username: str, token: str) -> bool:
        return await self.guard.redis.get(submit_token_key(token)) == username

    async def _token_login(self, username: str, ip: str, mechanism: str) -> AuthResult:
        """A webmail token: the webmail checked password and restrictions (R24) at its own login, against
        the user's real IP; here the client is the webmail host, so only the account's state is checked.
        A token that does not match falls through to the password check and counts as a failure there."""
        account = await self.directory.account(username)
        if account is None or account.status != "active":
            verdict = await self.guard.failed(username, ip)
            self.emit(username, ip, "failure", mechanism, "account_locked")
            if verdict == "lockout":
                self.emit(username, ip, "lockout", mechanism, "too_many_failures")
            return AuthResult(success=False, handled=False)
        self.emit(username, ip, "success", mechanism, "webmail_token")
        return AuthResult(success=True, auth_data=username)

    def emit(self, username: str, ip: str, outcome: str, mechanism: str, reason: str = "") -> None:
        """Publish in the background: the SMTP reply must not wait for the broker."""
        event = AuthEvent(producer="ingress", username=username, ip=ip, service="smtp", outcome=outcome,
                          mechanism=mechanism, reason=reason)
        logger.info("smtp_auth", username=username, client_ip=ip, outcome=outcome, mechanism=mechanism,
                    reason=reason, event_id=event.event_id)
        task = asyncio.create_task(self._publish(event))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, event: AuthEvent) -> None:
        try:
            await self.publisher.publish(AUTH, event)
        except Exception as exc:  # an auth event lost to a broker fault must not break the session
            logger.warning("auth_event_publish_failed", event_id=event.event_id, topic=AUTH, error=str(exc))

    async def drain(self, timeout: float) -> None:
        if self._publishing:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._publishing, return_exceptions=True), timeout)
