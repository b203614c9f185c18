"""Maildir delivery is atomic and idempotent, including after a crash between its steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.delivery import maildir


def files(box: Path, sub: str) -> list[Path]:
    return sorted((box / sub).iterdir())


def test_delivery_lands_in_new_and_a_replay_makes_no_second_copy(tmp_path: Path) -> None:
    mailbox = maildir.mailbox_root(tmp_path, "leminhhieu@tiengiang.gov.vn")
    data = "Subject: Giấy mời\r\n\r\n邀请函\r\n".encode()
    first = maildir.deliver(mailbox, "k1", data)
    again = maildir.deliver(mailbox, "k1", data)
    assert not first.duplicate and again.duplicate
    box = mailbox / "Maildir"
    assert [p.read_bytes() for p in files(box, "new")] == [data]
    assert files(box, "tmp") == []


def test_a_replay_after_the_user_read_the_message_makes_no_second_copy(tmp_path: Path) -> None:
    mailbox = maildir.mailbox_root(tmp_path, "anhnv@backan.gov.vn")
    first = maildir.deliver(mailbox, "k2", b"Subject: a\r\n\r\nb\r\n")
    seen = first.path.parent.parent / "cur" / (first.path.name + ":2,S")
    first.path.rename(seen)
    assert maildir.deliver(mailbox, "k2", b"Subject: a\r\n\r\nb\r\n").duplicate
    assert files(mailbox / "Maildir", "new") == []


def test_crash_after_rename_but_before_ledger_done_is_resolved_without_duplicate(tmp_path: Path) -> None:
    mailbox = maildir.mailbox_root(tmp_path, "lan@backan.gov.vn")
    first = maildir.deliver(mailbox, "k3", b"x")
    ledger = mailbox / ".govmail" / "delivered" / "k3"
    ledger.write_text(f"pending {first.path.name}")  # as if the process died right after the rename
    assert maildir.deliver(mailbox, "k3", b"x").duplicate
    assert ledger.read_text().startswith("done ")
    assert len(files(mailbox / "Maildir", "new")) == 1


def test_crash_before_rename_delivers_on_replay(tmp_path: Path) -> None:
    mailbox = maildir.mailbox_root(tmp_path, "lan@backan.gov.vn")
    ledger = mailbox / ".govmail" / "delivered" / "k4"
    ledger.parent.mkdir(parents=True)
    ledger.write_text("pending 123.M1P1Qk4.host,S=1")  # died before the message reached new/
    result = maildir.deliver(mailbox, "k4", b"y")
    assert not result.duplicate and result.path.read_bytes() == b"y"


def test_junk_is_a_maildirplusplus_folder(tmp_path: Path) -> None:
    mailbox = maildir.mailbox_root(tmp_path, "lan@backan.gov.vn")
    result = maildir.deliver(mailbox, "k5", b"spam", folder="Junk")
    assert result.path.parent == mailbox / "Maildir" / ".Junk" / "new"


@pytest.mark.parametrize("address", ["../etc@x.vn", "a/b@x.vn", ".hidden@x.vn", "a@../x"])
def test_addresses_that_would_escape_the_mail_tree_are_refused(tmp_path: Path, address: str) -> None:
    with pytest.raises(ValueError):
        maildir.mailbox_root(tmp_path, address)
