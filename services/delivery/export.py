"""A mailbox's mail as one mbox file (R18): for its owner, or for hand-over when an account is closed."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

from services.delivery.maildir import mailbox_root

FOLDER_HEADER = "X-Govmail-Folder"


def export_mbox(mail_root: Path, address: str, out: Path) -> int:
    """Write every message of every folder of `address` to `out` (mboxrd); returns how many were written.

    The folder each message came from is kept in an X-Govmail-Folder header so that an import can
    rebuild the tree. The file is written beside `out` and renamed, so a reader never sees half of it.
    """
    maildir_path = mailbox_root(mail_root, address) / "Maildir"
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    target = mailbox.mbox(partial, create=True)
    count = 0
    try:
        target.lock()
        if maildir_path.is_dir():
            source = mailbox.Maildir(maildir_path, factory=None, create=False)
            folders = [("INBOX", source)] + [(name, source.get_folder(name)) for name in sorted(source.list_folders())]
            for name, folder in folders:
                for key in sorted(folder.keys()):
                    message = mailbox.mboxMessage(folder.get_message(key))
                    del message[FOLDER_HEADER]
                    message[FOLDER_HEADER] = name
                    target.add(message)
                    count += 1
        target.flush()
    finally:
        target.unlock()
        target.close()
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, out)
    return count
