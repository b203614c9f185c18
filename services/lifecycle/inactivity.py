"""Inactivity (R9): no login for the lock period → notice then lock; for the delete period → notice, export, delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.common import logging as log
from services.common.directory import Account, accounts_key
from services.common.system_mail import SystemMailer, compose
from services.lifecycle.admins import SYSTEM
from services.lifecycle.changes import AccountChanges
from services.lifecycle.operations import Lifecycle

logger = log.get(__name__)

# What the notices say, per account language (Account.language).
NOTICES = {
    "lock": {
        "vi": ("Thông báo khóa hộp thư do không sử dụng",
               "Hộp thư {address} không được đăng nhập từ {since}. Theo quy định, hộp thư đã bị khóa. "
               "Vui lòng liên hệ quản trị viên đơn vị để mở lại."),
        "zh": ("邮箱因长期未使用已被锁定", "邮箱 {address} 自 {since} 起未登录，依规定已被锁定。请联系单位管理员解锁。"),
        "en": ("Mailbox locked after inactivity",
               "The mailbox {address} has not been used since {since} and is now locked. "
               "Ask your unit administrator to unlock it."),
    },
    "delete": {
        "vi": ("Thông báo xóa hộp thư do không sử dụng",
               "Hộp thư {address} không được đăng nhập từ {since}. Theo quy định, hộp thư bị xóa; "
               "thư đã được sao lưu để bàn giao."),
        "zh": ("邮箱因长期未使用将被删除", "邮箱 {address} 自 {since} 起未登录，依规定将被删除；邮件已导出备份以便移交。"),
        "en": ("Mailbox deleted after inactivity",
               "The mailbox {address} has not been used since {since} and is deleted; its mail was exported "
               "for hand-over."),
    },
}


def last_activity(account: Account) -> datetime:
    """Issue, last login, or last password (re)issue, whichever is latest."""
    stamps = [account.created_at, account.last_login_at, account.password_changed_at]
    return max(datetime.fromisoformat(s) for s in stamps if s)


@dataclass
class InactivityReport:
    locked: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # queue ids of the notices sent


class InactivityJob:
    def __init__(self, core: Lifecycle, changes: AccountChanges, mailer: SystemMailer,
                 lock_after: timedelta, delete_after: timedelta):
        self.core = core
        self.changes = changes
        self.mailer = mailer
        self.lock_after = lock_after
        self.delete_after = delete_after

    async def run(self) -> InactivityReport:
        """One pass over every personal account; safe to rerun (a step already taken is not taken again)."""
        report = InactivityReport()
        now = self.core.clock()
        for domain in await self.core.store.domains():
            for address in sorted(await self.core.store.redis.smembers(accounts_key(domain.name))):
                account = await self.core.store.account(address)
                if account is None or account.kind != "personal" or account.status == "deleted":
                    continue
                # Unit mailboxes are used through their holder's grant, so their own logins say nothing.
                since = last_activity(account)
                idle = now - since
                if idle >= self.delete_after:
                    report.notices.append(await self._notice(account, "delete", since))
                    await self.changes.close(SYSTEM, account.address, "inactivity",
                                             action="account.inactivity_delete", kind="account_deleted")
                    report.deleted.append(account.address)
                elif idle >= self.lock_after and account.status == "active":
                    report.notices.append(await self._notice(account, "lock", since))
                    async with self.core._action(SYSTEM, "account.inactivity_lock", account.address) as trace_id:
                        await self.core._update(
                            trace_id, SYSTEM, account.address, "account.inactivity_lock",
                            {"status": "locked", "locked_reason": "inactivity", "inactivity_notice": "lock"},
                            kind="account_locked",
                        )
                    report.locked.append(account.address)
        logger.info("inactivity_run", locked=len(report.locked), deleted=len(report.deleted))
        return report

    async def _notice(self, account: Account, step: str, since: datetime) -> str:
        """Mail the notice; keyed by account, step and the activity it is about, so a rerun sends the same one."""
        subject, text = NOTICES[step].get(account.language, NOTICES[step]["vi"])
        sender = f"postmaster@{account.domain}"
        message = compose(sender, [account.address], subject,
                          text.format(address=account.address, since=f"{since:%Y-%m-%d}"),
                          headers={"X-Govmail-Notice": f"inactivity-{step}"})
        key = f"inactivity:{account.address}:{step}:{since.isoformat()}"
        return await self.mailer.send(message, sender, [account.address], key=key)
