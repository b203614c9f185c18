"""The submission listener's handler: authenticated local senders, who may send only as themselves."""

from __future__ import annotations

import email.utils
from typing import Any

import redis.exceptions
from aiosmtpd.smtp import SMTP, Envelope, Session

from schemas.events import AuthEvent
from schemas.registry import AUTH
from services.common import logging as log
from services.common.directory import Account
from services.ingress import replies
from services.ingress.handler import IngressHandler, peer_ip
from services.ingress.restrictions import OutboundCap

logger = log.get(__name__)


class SubmissionHandler(IngressHandler):
    """MX's recipient checks plus the sender checks; aiosmtpd refuses MAIL before AUTH (auth_required)."""

    cap: OutboundCap | None = None  # the daily outbound cap (R22); app.py sets it

    async def may_send_as(self, account: str, address: str) -> bool:
        """Whether `account` may use `address` as envelope sender or in From:.

        The hook for send-as / send-on-behalf grants (then a Sender: header is set); today
        an account may send only as itself.
        """
        return address.lower() == account.lower()

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        account = str(session.auth_data or "")
        try:
            sender = await self.directory.account(account)
            if await self.sending_disabled(sender, account, peer_ip(session)):
                return replies.SENDING_DISABLED
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            logger.warning("directory_unavailable", error=str(exc))
            return replies.DIRECTORY_DOWN
        if not await self.may_send_as(account, address):
            return replies.SENDER_NOT_OWNED.format(address=address, account=account)
        reply = await super().handle_MAIL(server, session, envelope, address, mail_options)
        if reply.startswith("250") and sender is not None:
            envelope.sender = sender  # kept for DATA, which needs its unit
            # The sender's service class limits what it may send (R12), as the recipients' limit what they take.
            envelope.size_limits[address] = sender.limits.max_message_bytes
        return reply

    async def sending_disabled(self, found: Account | None, account: str, ip: str) -> bool:
        """Whether the account's sending is locked, locking it now if it has used up today's cap.

        Only sending stops: the account still logs in and reads its mail, and mail to it still arrives on MX.
        """
        if found is None or found.sending_locked:
            return True
        if self.cap is None or not await self.cap.exhausted(account):
            return False
        if await self.cap.lock(account):
            logger.warning("outbound_cap_reached", username=account, client_ip=ip, limit=self.cap.limit)
            event = AuthEvent(producer="ingress", username=account, ip=ip, service="smtp", outcome="blocked",
                              reason="outbound_cap")
            try:
                await self.publisher.publish(AUTH, event)
            except Exception as exc:  # the lock holds without its event; the log line above records it
                logger.warning("auth_event_publish_failed", event_id=event.event_id, topic=AUTH, error=str(exc))
        return True

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.cap is not None and reply.startswith("250"):
            try:
                await self.cap.count(str(session.auth_data))
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                # The message is already durable: answering 451 now would only make the client send it twice.
                logger.warning("outbound_count_failed", username=str(session.auth_data), error=str(exc))
        return reply

    def foreign_domain(self, domain: str) -> str:
        return replies.OUTBOUND_NOT_YET.format(domain=domain)

    async def refuse_content(self, session: Session, envelope: Envelope, headers: dict[str, str]) -> str | None:
        account = str(session.auth_data or "")
        addresses = [a for _, a in email.utils.getaddresses([headers["header_from"]]) if a]
        for address in addresses or [""]:
            if not await self.may_send_as(account, address):
                return replies.FROM_NOT_OWNED.format(address=address, account=account)
        return None

    async def origin(self, session: Session, envelope: Envelope) -> dict[str, Any]:
        account = envelope.sender
        # Local to local only, until outbound delivery exists (foreign recipients are refused at RCPT).
        return {"authenticated_as": str(session.auth_data), "sender_unit": (account.unit or None) if account else None,
                "direction": "internal"}
