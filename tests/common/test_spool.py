"""The spool keeps each accepted message until every recipient is finished, and survives reopening."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from schemas.events import MailInfo, MailReceived
from services.common.blobstore import FileBlobStore
from services.common.spool import Spool


def received(blobs: FileBlobStore, message_id: str, rcpts: list[str]) -> MailReceived:
    ref = blobs.put("Subject: Thông báo họp\r\n\r\n会议通知\r\n".encode())
    info = MailInfo(mail_from="vanthu@tiengiang.gov.vn", rcpt_to=rcpts, blob=ref, size=ref.size, listener="mx",
                    direction="inbound", received_at=datetime.now(UTC), subject="Thông báo họp")
    return MailReceived(producer="test", message_id=message_id, mail=info)


def test_message_stays_until_every_recipient_is_finished(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    spool = Spool(tmp_path / "spool")
    event = received(blobs, "m1", ["leminhhieu@tiengiang.gov.vn", "张伟@tiengiang.gov.vn"])
    spool.record(event)
    assert [e.event_id for e in Spool(tmp_path / "spool").unfinished()] == [event.event_id]
    assert spool.finish("m1", "LeMinhHieu@tiengiang.gov.vn") is False
    assert spool.pending_recipients("m1") == ["张伟@tiengiang.gov.vn"]
    assert spool.finish("m1", "张伟@tiengiang.gov.vn") is True
    assert spool.unfinished() == []
    assert spool.finish("m1", "张伟@tiengiang.gov.vn") is True  # a replayed outcome is harmless


def test_accepting_costs_one_file_and_finishing_leaves_nothing(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    spool = Spool(tmp_path / "spool")
    spool.record(received(blobs, "m3", ["lan@backan.gov.vn", "hung@backan.gov.vn"]))
    assert sorted(p.name for p in spool.root.iterdir()) == ["m3.json"]
    assert len(spool) == 1 and spool.is_pending("m3", "lan@backan.gov.vn")
    spool.finish("m3", "lan@backan.gov.vn")
    assert not spool.is_pending("m3", "lan@backan.gov.vn") and spool.is_pending("m3", "hung@backan.gov.vn")
    spool.finish("m3", "hung@backan.gov.vn")
    assert list(spool.root.iterdir()) == []


def test_unfinished_respects_age_and_touch(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    spool = Spool(tmp_path / "spool")
    spool.record(received(blobs, "m2", ["a@x.vn"]))
    assert spool.unfinished(older_than=3600) == []
    assert len(spool.unfinished(older_than=0)) == 1
    spool.discard("m2")
    assert spool.unfinished() == []


def test_blob_store_is_content_addressed_and_detects_corruption(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    one = blobs.put("Nội dung công văn".encode())
    assert blobs.put("Nội dung công văn".encode()) == one
    assert blobs.get(one).decode() == "Nội dung công văn"
    blobs.path_of(one.sha256).write_bytes(b"tampered")
    try:
        blobs.get(one)
    except OSError as exc:
        assert "corrupt" in str(exc)
    else:
        raise AssertionError("corruption went unnoticed")
