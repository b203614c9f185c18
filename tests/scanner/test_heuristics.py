"""Header and HTML heuristics: each fires on what it describes, and together they never push the allowed ham over a threshold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.events import BlobRef
from services.scanner import config, corpus
from services.scanner.checks import bayes
from services.scanner.pipeline import Pipeline
from tests.scanner.scanner_mail import envelope

ARRIVED = datetime(2025, 3, 14, 2, 0, tzinfo=UTC)
REF = BlobRef(sha256="0" * 64, size=1, uri="file:///test")


def mail(headers: str, body: str = "Kính gửi anh Hiếu, gửi anh báo cáo tháng 11.\n",
         ctype: str = "text/plain") -> bytes:
    return (f"From: =?utf-8?b?xJDhurduZyBUaOG7iyDGr25n?= <dangthiung@backan.gov.vn>\r\n{headers}"
            f"MIME-Version: 1.0\r\nContent-Type: {ctype}; charset=utf-8\r\n\r\n{body}").encode()


STANDARD = ("To: leminhhieu@tiengiang.gov.vn\r\nSubject: =?utf-8?b?QsOhbyBjw6Fv?=\r\n"
            "Message-ID: <a1@backan.gov.vn>\r\n")
DATED = STANDARD + "Date: Fri, 14 Mar 2025 08:55:00 +0700\r\n"


def names(verdict) -> dict[str, list[str]]:
    return {s.name: s.options for s in verdict.symbols}


@pytest.fixture
def pipeline():
    bayes.use(None)
    yield Pipeline(config.load())
    bayes.reset()


@pytest.mark.parametrize("date, expected", [
    ("Fri, 14 Mar 2025 08:55:00 +0700", set()),
    ("Sat, 15 Mar 2025 09:00:00 +0700", set()),  # clocks drift: less than a day ahead is fine
    ("Mon, 17 Mar 2025 09:00:00 +0700", {"HDR_DATE_FUTURE"}),
    ("Thu, 06 Mar 2025 09:00:00 +0700", {"HDR_DATE_PAST"}),
    ("Thứ sáu, 14 tháng 3 2025", {"HDR_DATE_INVALID"}),
    (None, {"HDR_DATE_MISSING"}),
])
async def test_date_is_measured_against_arrival(pipeline: Pipeline, date: str | None, expected: set[str]) -> None:
    raw = mail(STANDARD + (f"Date: {date}\r\n" if date else ""))
    verdict = await pipeline.scan(raw, envelope(REF, len(raw), received_at=ARRIVED))
    assert set(names(verdict)) == expected


async def test_an_arrival_time_without_a_zone_counts_as_utc(pipeline: Pipeline) -> None:
    raw = mail(STANDARD + "Date: Mon, 17 Mar 2025 09:00:00 +0700\r\n")
    verdict = await pipeline.scan(raw, envelope(REF, len(raw), received_at=ARRIVED.replace(tzinfo=None)))
    assert set(names(verdict)) == {"HDR_DATE_FUTURE"}


async def test_message_id_received_chain_subject_and_recipients(pipeline: Pipeline) -> None:
    raw = mail("To: undisclosed-recipients:;\r\nSubject: =?utf-8?b?S0hVWeG6vk4gTcODSSBD4buwQyBT4buQQyAkJCQ=?=\r\n"
               "Message-ID: khong-co-dau-ngoac\r\nDate: Fri, 14 Mar 2025 08:55:00 +0700\r\n"
               "Received: by mx.backan.gov.vn; Fri, 14 Mar 2025 09:00:00 +0700\r\n"
               "Received: from relay; Sun, 16 Mar 2025 09:00:00 +0700\r\n"
               "Received: from somewhere without a date\r\n")
    found = names(await pipeline.scan(raw))
    assert found["HDR_MSGID_INVALID"] == ["khong-co-dau-ngoac"]
    assert found["HDR_SUBJECT_CAPS"] == found["HDR_SUBJECT_PUNCTUATION"] == ["KHUYẾN MÃI CỰC SỐC $$$"]
    assert found["HDR_RECIPIENTS_HIDDEN"] == ["undisclosed-recipients:;"]
    assert found["HDR_RECEIVED_BACKWARDS"][0].startswith("Received #1 is 2 days")
    assert found["HDR_RECEIVED_INVALID"] == ["Received #3 has no valid date"]


async def test_chinese_and_lowercase_subjects_do_not_shout(pipeline: Pipeline) -> None:
    for subject in ("关于年度报告的通知 — BÁO CÁO", "Giấy mời họp giao ban tuần?", "Re: Re: Fwd: báo cáo Q4"):
        raw = mail(DATED.replace("=?utf-8?b?QsOhbyBjw6Fv?=", subject))
        assert not {"HDR_SUBJECT_CAPS", "HDR_SUBJECT_PUNCTUATION"} & set(names(await pipeline.scan(raw))), subject


async def test_hidden_html_text_in_each_of_its_disguises(pipeline: Pipeline) -> None:
    html = ("<html><body style='background-color: #FFF'>"
            "<p>Nhận quà tặng ngay hôm nay</p>"
            "<span style='visibility:hidden'>báo cáo tháng mười một</span>"
            "<p style='color:white'>关于年度报告的通知 请各单位报送</p>"
            "<font color='#036' style='background-color:#003366'>giấy mời họp giao ban</font>"
            "<p style='color:#333'>Văn bản hiển thị bình thường cho người đọc</p>"
            "</body></html>")
    found = names(await pipeline.scan(mail(DATED, html, "text/html")))
    assert [o.split(":")[0] for o in found["HTML_HIDDEN_TEXT"]] == ["visibility", "colour #ffffff on the same background",
                                                                    "colour #003366 on the same background"]
    assert "HTML_ONLY" in found


async def test_text_and_html_versions_that_disagree(pipeline: Pipeline) -> None:
    plain = " ".join(f"baocao{i}" for i in range(40))
    html = "<p>" + " ".join(f"khuyenmai{i}" for i in range(40)) + "</p>"
    boundary = "=_b"
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{plain}\r\n"
            f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{boundary}--\r\n")
    raw = mail(DATED, body, f'multipart/alternative; boundary="{boundary}"')
    found = names(await pipeline.scan(raw))
    assert list(found) == ["HTML_TEXT_MISMATCH"]
    same = body.replace("khuyenmai", "baocao")
    assert names(await pipeline.scan(mail(DATED, same, f'multipart/alternative; boundary="{boundary}"'))) == {}


async def test_heuristics_alone_push_no_allowed_ham_over_a_threshold(pipeline: Pipeline) -> None:
    over = []
    for name, raw in corpus.messages("easy-ham-1"):
        verdict = await pipeline.scan(raw)
        if verdict.action != "accept":
            over.append((name, verdict.score, [s.name for s in verdict.symbols]))
    assert over == []
