"""R26: mail a local user sends with a secrecy marking is rejected; ordinary sentences with the same words pass."""

from __future__ import annotations

import pytest

from schemas.events import BlobRef, MailInfo
from services.scanner import config, markings
from services.scanner.pipeline import Pipeline
from tests.scanner.scanner_mail import envelope, official_mail, pdf_with_text, zipped

REF = BlobRef(sha256="0" * 64, size=1, uri="file:///test")


def sent(listener: str = "submission", mail_from: str = "anhnv.tt@backan.gov.vn") -> MailInfo:
    return envelope(REF, 1, listener=listener, mail_from=mail_from)


@pytest.mark.parametrize("text, level, shape", [
    ("Độ mật: MẬT\nKế hoạch số 45", "MẬT", "field"),
    ("Mức độ mật: Tối mật", "TỐI MẬT", "field"),
    ("ĐỘ MẬT : TUYỆT MẬT", "TUYỆT MẬT", "field"),
    ("UBND TỈNH BẮC KẠN\n\n   TUYỆT MẬT   \n\nQuyết định số 12", "TUYỆT MẬT", "stamp"),
    ("*** TỐI MẬT ***", "TỐI MẬT", "stamp"),
    ("[MẬT] Kế hoạch bảo đảm an ninh", "MẬT", "bracket"),
    ("Gửi anh (TUYỆT  MẬT) phương án", "TUYỆT MẬT", "bracket"),
    ("TỐI MẬT: Phương án bố trí lực lượng", "TỐI MẬT", "label"),
    ("密级：机密", "机密", "field"),
    ("密 级: 绝密★长期", "绝密", "field"),
    ("关于年度工作安排的通知\n机密★5年\n各单位：", "机密", "stamp"),
    ("【绝密】关于会议安排", "绝密", "bracket"),
    ("本文件为秘密★1年，请妥善保管", "秘密", "star"),
    ("绝密：关于会议安排", "绝密", "label"),
])
def test_markings_are_found_with_their_level_and_shape(text: str, level: str, shape: str) -> None:
    assert markings.find(text) == [(level, shape)]


@pytest.mark.parametrize("text", [
    "Pháp luật bảo đảm quyền bí mật thư tín, điện thoại, điện tín.",
    "Đề nghị không chia sẻ mật khẩu hộp thư công vụ.",
    "Công tác bảo vệ bí mật nhà nước là nhiệm vụ của mọi cán bộ.",
    "BẢO VỆ BÍ MẬT NHÀ NƯỚC",
    "Độ mật: Thường",
    "Tài liệu này không phải tài liệu MẬT.",
    "MẬT KHẨU: phải có chữ hoa, chữ thường, chữ số và ký tự đặc biệt",
    "Mật ong rừng Bắc Kạn",
    "Trời tối mật mù, đường trơn.",
    "秘密花园",
    "保守国家秘密是公民的义务",
    "《秘密》是一本小说。",
    "机密文件管理规定",
    "请勿泄露个人秘密和密码。",
    "绝密行动是一部电影",
])
def test_ordinary_sentences_with_the_same_words_are_not_markings(text: str) -> None:
    assert markings.find(text) == []


def names(verdict) -> dict[str, list[str]]:
    return {s.name: s.options for s in verdict.symbols}


async def test_marked_pdf_and_html_attachments_are_found() -> None:
    m = official_mail("Tài liệu cuộc họp")
    m.add_attachment(pdf_with_text(["UBND TỈNH BẮC KẠN", "TỐI MẬT", "Phương án bảo vệ hội nghị"]),
                     maintype="application", subtype="pdf", filename="Phương án.pdf")
    m.add_attachment("<html><body><p>会议纪要</p><p>【机密】</p><p>各单位：</p></body></html>".encode(),
                     maintype="text", subtype="html", filename="纪要.html")
    verdict = await Pipeline(config.load()).scan(m.as_bytes(), sent())
    assert names(verdict)["CLASSIFIED_MARKING"] == [
        "TỐI MẬT (stamp) in attachment Phương án.pdf", "机密 (stamp) in attachment 纪要.html"]
    assert verdict.action == "reject"


async def test_a_stamp_line_in_an_html_body_stays_a_line() -> None:
    m = official_mail("Kế hoạch")
    m.set_content("<div>UBND TỈNH</div><div><b>MẬT</b></div><p>Kế hoạch số 45</p>", subtype="html")
    verdict = await Pipeline(config.load()).scan(m.as_bytes(), sent())
    assert names(verdict)["CLASSIFIED_MARKING"] == ["MẬT (stamp) in the body"]


async def test_only_mail_local_users_send_is_checked() -> None:
    pipeline = Pipeline(config.load())
    raw = official_mail("[TUYỆT MẬT] Phương án").as_bytes()
    for info, expected in (
        (sent("submission"), True),
        (sent("internal"), True),  # mail the platform writes for a local user
        (sent("mx"), False),  # from outside: not ours to refuse
        (sent("submission", mail_from=""), False),  # a bounce quotes the mail it reports
        (None, False),  # scanned on its own: no sender known
    ):
        verdict = await pipeline.scan(raw, info)
        assert ("CLASSIFIED_MARKING" in names(verdict)) is expected, info


async def test_a_document_that_cannot_be_read_is_held_not_passed() -> None:
    m = official_mail("Tài liệu")
    m.add_attachment(b"%PDF-1.7\n1 0 obj << /Type /Catalog", maintype="application", subtype="pdf",
                     filename="hỏng.pdf")
    m.add_attachment(zipped(("word/document.xml", b"<w:document><w:body><w:p><w:t>TUY")), maintype="application",
                     subtype="vnd.openxmlformats-officedocument.wordprocessingml.document", filename="cắt.docx")
    verdict = await Pipeline(config.load()).scan(m.as_bytes(), sent())
    assert [o.split(":")[0] for o in names(verdict)["CLASSIFIED_DOCUMENT_UNREADABLE"]] == ["hỏng.pdf"]
    assert "CLASSIFIED_MARKING" not in names(verdict)
    assert verdict.action == "quarantine"


def test_the_description_says_why_for_the_bounce() -> None:
    rule = config.load().rule("CLASSIFIED_MARKING")
    assert rule.action == "reject"
    assert "MẬT" in rule.description and "机密" in rule.description and "R26" in rule.description
