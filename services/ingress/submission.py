"""The submission listener's handler: authenticated local senders, who send as themselves or for a mailbox that granted it."""

from __future__ import annotations

import email.policy
import email.utils
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import Any

import redis.exceptions
from aiosmtpd.smtp import SMTP, Envelope, Session

from schemas.events import AuthEvent
from schemas.registry import AUTH
from services.common import logging as log
from services.common.directory import Account
from services.delivery.headers import BURN, SEPARATE, asks
from services.ingress import replies
from services.ingress.handler import IngressHandler, declared_size, peer_ip
from services.ingress.restrictions import OutboundCap
from services.ingress.streaming import Draft

logger = log.get(__name__)

# Control headers by which a sender asks delivery for a feature of R15 (the webmail adds them, but any
# client may), with the feature of the service class (R12) each needs and its name in the refusal.
FEATURE_HEADERS = ((BURN, "burn", "burn-after-reading"), (SEPARATE, "separate", "separate delivery"))


@dataclass(frozen=True)
class Delegation:
    """What the header block says about who sends: refused, the account itself, or a mailbox it holds a grant on."""

    refusal: str | None = None
    kind: str = ""  # "", "send_as" or "send_on_behalf"
    mailbox: str = ""
    add_sender: bool = False  # send-on-behalf without a Sender: header from the client: ingress adds it


def header_addresses(head: bytes, name: str) -> list[str]:
    """Addresses in every `name` header of the header block at the start of `head`."""
    try:
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(head)
        values = [str(v) for v in headers.get_all(name, [])]
    except Exception:  # malformed headers: the scanner judges them; here they own no address
        return []
    return [a for _, a in email.utils.getaddresses(values) if a]


class SubmissionHandler(IngressHandler):
    """MX's recipient checks plus the sender checks; aiosmtpd refuses MAIL before AUTH (auth_required)."""

    cap: OutboundCap | None = None  # the daily outbound cap (R22); app.py sets it

    async def grant_kind(self, account: str, address: str) -> str | None:
        """How `account` may use `address`: "self", "send_as", "send_on_behalf", or None (not at all)."""
        if address.lower() == account.lower():
            return "self"
        grant = await self.directory.grant(address, account)
        if grant is None:
            return None
        if "send_as" in grant.rights:
            return "send_as"
        return "send_on_behalf" if "send_on_behalf" in grant.rights else None

    async def may_send_as(self, account: str, address: str) -> bool:
        """Whether `account` may use `address` as envelope sender: itself, or a mailbox that granted it (R16)."""
        return await self.grant_kind(account, address) is not None

    def open_message(self, session: Session, envelope: Envelope) -> Draft:
        draft = super().open_message(session, envelope)
        draft.set_header_hook(lambda head: self.sender_header(session, envelope, head))
        return draft

    async def sender_header(self, session: Session, envelope: Envelope, head: bytes) -> bytes:
        """Sender: <account> when the account sends on behalf of the From: mailbox and the client set none."""
        found = await self.delegation(session, envelope, head)
        return f"Sender: {session.auth_data}\r\n".encode() if found.add_sender else b""

    async def delegation(self, session: Session, envelope: Envelope, head: bytes) -> Delegation:
        """Judge From: and Sender: once per message (the header hook and the content check both ask)."""
        if envelope.delegation is None:
            try:
                envelope.delegation = await self._judge_headers(str(session.auth_data or ""), head)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                logger.warning("directory_unavailable", error=str(exc))
                envelope.delegation = Delegation(refusal=replies.DIRECTORY_DOWN)
        return envelope.delegation

    async def _judge_headers(self, account: str, head: bytes) -> Delegation:
        senders = header_addresses(head, "sender")
        for address in senders:
            if address.lower() != account.lower():
                return Delegation(refusal=replies.SENDER_HEADER_NOT_OWNED.format(address=address, account=account))
        found = Delegation()
        for address in header_addresses(head, "from") or [""]:
            kind = await self.grant_kind(account, address) if address else None
            if kind is None:
                return Delegation(refusal=replies.FROM_NOT_OWNED.format(address=address, account=account))
            if kind != "self" and not found.kind:
                found = Delegation(kind=kind, mailbox=address.lower(),
                                   add_sender=kind == "send_on_behalf" and not senders)
        return found

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        account = str(session.auth_data or "")
        try:
            sender = await self.directory.account(account)
            if await self.sending_disabled(sender, account, peer_ip(session)):
                return replies.SENDING_DISABLED
            assert sender is not None  # sending_disabled refuses an account that is not there
            if not await self.may_send_as(account, address):
                return replies.SENDER_NOT_OWNED.format(address=address, account=account)
            # The sender's service class limits what it may send (R12), as the recipients' limit what they take.
            sender_class = await self.directory.service_class(sender.service_class)
            limit = sender_class.max_message_bytes
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            logger.warning("directory_unavailable", error=str(exc))
            return replies.DIRECTORY_DOWN
        declared = declared_size(mail_options)
        if declared > limit:
            return replies.DECLARED_TOO_BIG.format(size=declared, limit=limit, address=account)
        reply = await super().handle_MAIL(server, session, envelope, address, mail_options)
        if reply.startswith("250"):
            envelope.sender = sender  # kept for DATA, which needs its unit
            envelope.sender_class = sender_class  # kept for RCPT: may it write outside the province?
            envelope.size_limits[account] = limit
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

    def foreign_domain(self, domain: str, envelope: Envelope) -> str | None:
        """Authenticated senders may write to the world if their class allows it (R12); the message is then outbound."""
        if envelope.sender_class is not None and not envelope.sender_class.allows("external"):
            return replies.EXTERNAL_NOT_ALLOWED.format(domain=domain, service_class=envelope.sender_class.name)
        envelope.outbound = True
        return None

    async def refuse_content(self, session: Session, envelope: Envelope, headers: dict[str, str]) -> str | None:
        draft = envelope.draft
        head = bytes(draft.head) if draft else b""
        return (await self.delegation(session, envelope, head)).refusal or self.feature_refusal(envelope, head)

    @staticmethod
    def feature_refusal(envelope: Envelope, head: bytes) -> str | None:
        """The refusal of a control header that asks for a feature the sender's class lacks (R12), else None.

        Judged with delivery's own reading of the header, so whatever delivery would act on is refused here.
        """
        sender_class = envelope.sender_class
        if sender_class is None:
            return None
        for header, feature, description in FEATURE_HEADERS:
            if not sender_class.allows(feature) and asks(head, header):
                return replies.FEATURE_NOT_ALLOWED.format(service_class=sender_class.name, feature=description,
                                                          header=header)
        return None

    async def origin(self, session: Session, envelope: Envelope) -> dict[str, Any]:
        account = envelope.sender
        delegation = envelope.delegation or Delegation()
        return {"authenticated_as": str(session.auth_data), "sender_unit": (account.unit or None) if account else None,
                "direction": "outbound" if envelope.outbound else "internal",
                "delegation": delegation.kind, "delegated_mailbox": delegation.mailbox}
