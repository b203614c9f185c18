"""MIME parsing for the checks: decoded text in the right charset, decoded file names, and no crash on bad input."""

from __future__ import annotations

import os

import pytest

from services.scanner import config
from services.scanner.message import parse
from services.scanner.pipeline import Pipeline
from tests.scanner.scanner_mail import SAMPLES


def test_vietnamese_quoted_printable_text_is_decoded() -> None:
    mail = parse((SAMPLES / "clean-vi.eml").read_bytes())
    plain, html, csv = mail.parts
    assert "Kính gửi anh Lê Minh Hiếu" in plain.text
    assert "Trung tâm Công nghệ thông tin và Truyền thông tỉnh Bắc Kạn" in plain.text
    assert "<b>Lê Minh Hiếu</b>" in html.text
    assert csv.filename == "Báo cáo tháng 11.csv"
    assert "Xã Dương Quang;42;40" in csv.text
    assert mail.defects == []


def test_gb2312_label_decodes_characters_only_gb18030_has() -> None:
    mail = parse((SAMPLES / "clean-zh.eml").read_bytes())
    body, attachment = mail.parts
    assert "根据《电子邮件系统管理办法》" in body.text
    assert "王喆" in body.text  # 喆 is in GBK/GB18030, not in GB2312
    assert attachment.filename == "年度报告模板.txt"
    assert attachment.text.startswith("年度报告模板")


def test_unknown_charset_is_a_defect_and_text_is_still_read() -> None:
    mail = parse((SAMPLES / "malformed-mime.eml").read_bytes())
    assert "Kính gửi chị Đặng Thị Ưng" in mail.parts[0].text
    assert "part 1: unknown charset 'x-vn-unknown-charset'" in mail.defects
    assert any("CloseBoundaryNotFoundDefect" in d for d in mail.defects)
    assert any("Base64" in d for d in mail.defects)


def outlook_style(subject: bytes, sender: bytes) -> bytes:
    """A message with a folded Content-Type and a file name sent as an encoded word, as Outlook writes it."""
    return (b"From: " + sender + b"\r\nTo: leminhhieu@tiengiang.gov.vn\r\nSubject: " + subject + b"\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"b1\"\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain;\r\n\tcharset=\"utf-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + "Kính gửi anh Hiếu, 关于年度报告的通知。\r\n".encode() +
            b"--b1\r\nContent-Type: application/octet-stream;\r\n\tname=\"=?UTF-8?B?UXV54bq/dCDEkeG7i25oIHPhu5EgMTIucGRmLmV4ZQ==?=\"\r\n"
            b"Content-Disposition: attachment;\r\n\tfilename=\"=?UTF-8?B?UXV54bq/dCDEkeG7i25oIHPhu5EgMTIucGRmLmV4ZQ==?=\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b1--\r\n")


def test_folded_parameters_and_encoded_word_file_names_are_read() -> None:
    mail = parse(outlook_style(b"=?utf-8?b?QsOhbyBjw6Fv?=", "Nguyễn Văn Anh <anhnv@backan.gov.vn>".encode()))
    body, attachment = mail.parts
    assert (body.content_type, body.text) == ("text/plain", "Kính gửi anh Hiếu, 关于年度报告的通知。")
    assert (attachment.content_type, attachment.filename) == ("application/octet-stream", "Quyết định số 12.pdf.exe")
    assert attachment.data.startswith(b"MZ")
    assert mail.header("subject") == "Báo cáo"
    assert mail.defects == []


def test_headers_are_read_per_message_even_when_values_repeat() -> None:
    # Parsed header objects are kept across messages: each message must still read its own.
    first = parse(outlook_style(b"Plain subject", b"=?utf-8?q?L=C3=AA_Minh_Hi=E1=BA=BFu?= <leminhhieu@tiengiang.gov.vn>"))
    again = parse(outlook_style(b"Plain subject", b"=?utf-8?q?L=C3=AA_Minh_Hi=E1=BA=BFu?= <leminhhieu@tiengiang.gov.vn>"))
    other = parse(outlook_style(b"=?utf-8?b?5YWz5LqO5bm05bqm5oql5ZGK55qE6YCa55+l?=", b"zhangwei@example.cn"))
    for mail in (first, again):
        assert mail.header("from") == "Lê Minh Hiếu <leminhhieu@tiengiang.gov.vn>"
        assert [(a.display_name, a.addr_spec) for a in mail.header_object("from").addresses] == [
            ("Lê Minh Hiếu", "leminhhieu@tiengiang.gov.vn")]
        assert mail.header("subject") == "Plain subject"
    assert (other.header("from"), other.header("subject")) == ("zhangwei@example.cn", "关于年度报告的通知")
    assert other.header("reply-to") == "" and other.header_object("reply-to") is None


def nested(depth: int) -> bytes:
    head = b"From: =?utf-8?q?L=C3=AA_Minh_Hi=E1=BA=BFu?= <leminhhieu@tiengiang.gov.vn>\r\n"
    body = b"".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode() for i in range(depth))
    return head + body + "Content-Type: text/plain; charset=utf-8\r\n\r\nXin chào\r\n".encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe" * 300,
        os.urandom(4096),
        b"Subject: =?utf-8?b?!!!?=\r\nContent-Type: text/plain; charset=\"\r\n\r\nx",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n====",
        nested(50),
        nested(5000),
    ],
    ids=["empty", "binary", "random", "bad-headers", "empty-boundary", "only-padding", "nested-50", "nested-5000"],
)
async def test_garbage_never_crashes_the_scan(raw: bytes) -> None:
    mail = parse(raw)
    assert mail.parts  # there is always something for the checks to look at
    verdict = await Pipeline(config.load()).scan(raw)
    assert not [s.name for s in verdict.symbols if s.name.startswith("CHECK_")]


async def test_nesting_beyond_the_parser_is_reported() -> None:
    verdict = await Pipeline(config.load()).scan(nested(5000))
    (bad,) = verdict.symbols
    assert bad.name == "MIME_BAD"
    assert bad.options[0].startswith("unparsable: RecursionError")
