"""A mailbox's files under its quota: deliver, remove and measure, one writer at a time per mailbox."""

from __future__ import annotations

from pathlib import Path

from services.delivery import maildir, quota
from services.delivery.maildir import Delivered


class Mailboxes:
    """Blocking file work; callers run it in a thread."""

    def __init__(self, mail_root: Path):
        self.mail_root = mail_root

    def root(self, address: str) -> Path:
        return maildir.mailbox_root(self.mail_root, address)

    def deliver(self, address: str, key: str, data: bytes, folder: str, limit: int,
                ignore_quota: bool = False) -> tuple[Delivered | None, quota.Usage]:
        """The delivered file (None when it does not fit the quota) and the usage after it.

        Only the quota check and its record are done under the mailbox lock (no fsync there), so
        several copies for one mailbox are written side by side.
        """
        box = self.root(address)
        md = maildir.ensure_maildir(box / "Maildir")
        size = len(data)
        if maildir.ledger_name(box, key) is not None:  # a replay, or a crash part-way through
            result = maildir.deliver(box, key, data, folder)
            with quota.locked(md):
                if not result.duplicate:
                    quota.add(md, size)
                return result, quota.read(md, limit)
        with quota.locked(md):
            usage = quota.read(md, limit)
            if not ignore_quota and not usage.fits(size):
                return None, usage
            quota.add(md, size)  # reserved now, so concurrent copies cannot overfill the mailbox together
        try:
            result = maildir.deliver(box, key, data, folder)
        except BaseException:
            with quota.locked(md):
                quota.add(md, -size, -1)
            raise
        if result.duplicate:  # a replay of the same copy raced this one
            with quota.locked(md):
                quota.add(md, -size, -1)
            return result, usage
        return result, quota.Usage(usage.quota, usage.used + size, usage.count + 1)

    def remove(self, address: str, key: str) -> bool:
        """Remove the copy delivered under `key`, wherever the user moved it; False when it is not there."""
        box = self.root(address)
        name = maildir.ledger_name(box, key)
        if name is None:
            return False
        md = box / "Maildir"
        with quota.locked(md):
            path = maildir.find(box, name)
            if path is None:
                return False
            size = quota.file_size(path)
            path.unlink()
            quota.add(md, -size, -1)
            return True
