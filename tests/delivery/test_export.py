"""A mailbox exports to one mbox file with every folder's mail, Vietnamese and Chinese intact."""

from __future__ import annotations

import email.policy
import mailbox
from pathlib import Path

from services.delivery import maildir
from services.delivery.export import FOLDER_HEADER, export_mbox

CT = "Content-Type: text/plain; charset=utf-8\r\n"


def test_export_writes_every_folder_to_one_mbox(tmp_path: Path) -> None:
    address = "leminhhieu@tiengiang.gov.vn"
    box = maildir.mailbox_root(tmp_path / "mail", address)
    maildir.deliver(box, "k1", ("Subject: =?utf-8?b?R2nhuqV5IG3hu51p?=\r\n" + CT + "\r\nKính gửi anh Hiếu\r\n").encode())
    maildir.deliver(box, "k2", ("Subject: report\r\n" + CT + "\r\nFrom the start of a line\r\n年度报告\r\n").encode(), folder="Sent")
    out = tmp_path / "export" / "leminhhieu.mbox"
    out.parent.mkdir()
    assert export_mbox(tmp_path / "mail", address, out) == 2
    messages = list(mailbox.mbox(out, factory=lambda f: email.message_from_binary_file(f, policy=email.policy.default)))
    by_folder = {m[FOLDER_HEADER]: m for m in messages}
    assert set(by_folder) == {"INBOX", "Sent"}
    assert by_folder["INBOX"]["Subject"] == "Giấy mời"
    assert "Kính gửi anh Hiếu" in by_folder["INBOX"].get_content()
    # mbox escapes a body line starting with "From " and the reader unescapes it.
    assert "From the start of a line\n年度报告" in by_folder["Sent"].get_content()
    assert not out.with_name(out.name + ".partial").exists()


def test_export_of_a_mailbox_that_never_got_mail_is_empty(tmp_path: Path) -> None:
    out = tmp_path / "empty.mbox"
    assert export_mbox(tmp_path / "mail", "anhnv.tt@backan.gov.vn", out) == 0
    assert out.exists() and out.read_bytes() == b""
