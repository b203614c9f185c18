"""The submission listener's handler: authenticated local senders, who may send only as themselves."""

from __future__ import annotations

import email.utils
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.ingress import replies
from services.ingress.handler import IngressHandler
from services.ingress.received import summary


class SubmissionHandler(IngressHandler):
    """MX's recipient checks plus the sender checks; aiosmtpd refuses MAIL before AUTH (auth_required)."""

    async def may_send_as(self, account: str, address: str) -> bool:
        """Whether `account` may use `address` as envelope sender or in From:.

        The hook for send-as / send-on-behalf grants (then a Sender: header is set); today
        an account may send only as itself.
        """
        return address.lower() == account.lower()

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        account = str(session.auth_data or "")
        if not await self.may_send_as(account, address):
            return replies.SENDER_NOT_OWNED.format(address=address, account=account)
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    def foreign_domain(self, domain: str) -> str:
        return replies.OUTBOUND_NOT_YET.format(domain=domain)

    async def refuse_content(self, session: Session, envelope: Envelope, raw: bytes) -> str | None:
        account = str(session.auth_data or "")
        addresses = [a for _, a in email.utils.getaddresses([summary(raw)["header_from"]]) if a]
        for address in addresses or [""]:
            if not await self.may_send_as(account, address):
                return replies.FROM_NOT_OWNED.format(address=address, account=account)
        return None

    async def origin(self, session: Session, envelope: Envelope) -> dict[str, Any]:
        account_address = str(session.auth_data)
        account = await self.directory.account(account_address)
        # Local to local only, until outbound delivery exists (foreign recipients are refused at RCPT).
        return {"authenticated_as": account_address, "sender_unit": (account.unit or None) if account else None,
                "direction": "internal"}
