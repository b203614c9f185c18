"""The summary's shortcut for common header shapes gives exactly what email.policy.default gives, on real mail."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import default

import pytest

from services.ingress.received import SUMMARY_FIELDS, summary
from services.scanner import corpus


def reference(raw: bytes) -> dict[str, str]:
    """The summary as the full header parser makes it (the shortcut must never differ from this)."""
    headers = BytesHeaderParser(policy=default).parsebytes(raw)
    out = {}
    for name, key in SUMMARY_FIELDS.items():
        value = headers.get(name)
        out[key] = "" if value is None else str(value)[:998]
    return out


HEADERS = [
    # Raw UTF-8 (SMTPUTF8), extra blanks, folding, encoded words, quoting, comments, groups, several addresses.
    b"From: Nguy\xe1\xbb\x85n V\xc4\x83n Anh <anh.nv@tiengiang.gov.vn>\r\nSubject: C\xc3\xb4ng v\xc4\x83n s\xe1\xbb\x91 11\r\n",
    "From:   Văn thư   Sở  Nội vụ\t<vanthu@snv.tiengiang.gov.vn>  \r\nSubject: 关于年度报告的通知\r\n".encode(),
    "From: 张伟 <zhangwei@gd.gov.cn>\r\nSubject: Re: Báo cáo\r\n\tquý III\r\nMessage-ID: <a1.b2@gd.gov.cn>\r\n".encode(),
    b"From: =?utf-8?B?Tmd1eeG7hW4gVsSDbiBBbmg=?= <anh@tiengiang.gov.vn>\r\n"
    b"Subject: =?utf-8?Q?C=C3=B4ng_v=C4=83n?= =?utf-8?B?5YWz5LqO?=\r\n",
    b'From: "Tr\xe1\xba\xa7n, B\xc3\xacnh" <binh@tiengiang.gov.vn>\r\nSubject: =?gb2312?B?udjT2g==?=\r\n',
    b"From: J. Smith <j.smith@example.org>\r\nMessage-ID: < spaced@example.org >\r\n",
    b"From: anh@tiengiang.gov.vn (Nguyen Van Anh)\r\nMessage-ID: <x@[127.0.0.1]>\r\n",
    b"From: <anh@tiengiang.gov.vn>\r\nSubject: plain  ascii\t with  blanks \r\n",
    b"From: anh@tiengiang.gov.vn, binh@tiengiang.gov.vn\r\n",
    b"From: Ban Gi\xc3\xa1m \xc4\x91\xe1\xbb\x91c: anh@tiengiang.gov.vn;\r\n",
    b"From: Latin1 caf\xe9 <cafe@example.fr>\r\nSubject: caf\xe9 cr\xe8me\r\n",
    b"From: Name<noblank@example.org>\r\nFrom: second@example.org\r\nSubject: one\r\nSubject: two\r\n",
    b"From: broken <@>\r\nSubject: =?utf-8?B?not base64?=\r\nMessage-ID: not-an-id\r\n",
    b"FROM: UPPER <upper@example.org>\r\nsubject: lower\r\nmessage-id: <m@example.org>\r\n",
    b"From: =?utf-8?q?Nguy=E1=BB=85n?= <x@y.vn>\r\nSubject:\r\n",
]


@pytest.mark.parametrize("head", HEADERS)
def test_summary_matches_the_header_parser_on_tricky_headers(head: bytes) -> None:
    raw = head + b"\r\nN\xe1\xbb\x99i dung.\r\n"
    assert summary(raw) == reference(raw)


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n", b"\n\r"])
def test_the_header_block_ends_where_the_parser_ends_it_whatever_the_line_endings(ending: bytes) -> None:
    lines = [b"From: Nguy\xe1\xbb\x85n V\xc4\x83n Anh <anh@tiengiang.gov.vn>", b"Subject: B\xc3\xa1o c\xc3\xa1o",
             b"\tqu\xc3\xbd III", b"", b"Message-ID: <body@example.org>", b"Subject: not a header"]
    raw = ending.join(lines) + ending
    assert summary(raw) == reference(raw)
    assert summary(raw)["header_message_id"] == ""


def test_summary_matches_the_header_parser_on_the_corpus() -> None:
    differences = []
    count = 0
    for group in corpus.ALLOWED_GROUPS:
        for name, raw in corpus.messages(group):
            count += 1
            if summary(raw) != reference(raw):
                differences.append(name)
    assert count == 3000
    assert differences == []
