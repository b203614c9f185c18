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
