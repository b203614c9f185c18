"""Lookalike domains, links whose text lies, and display names that name a government unit."""

from __future__ import annotations

import random

import pytest

from services.scanner.checks.impersonation import names_government
from services.scanner.message import parse
from services.scanner.phishing.links import host, links, shown_host
from services.scanner.phishing.lookalike import distance, imitation, one_edit, skeleton
from tests.scanner.sender_auth_setup import simple_mail

OWN = "tiengiang.gov.vn"


@pytest.mark.parametrize(("domain", "kind"), [
    ("tіengiang.gov.vn", "homograph"),  # Cyrillic і
    ("xn--tengiang-thh.gov.vn", "homograph"),  # the same, as punycode
    ("tiengiạng.gov.vn", "homograph"),  # a dot below the a
    ("mail.tіengiang.gov.vn", "homograph"),  # subdomains of a lookalike look alike too
    ("tlengiang.gov.vn", "homograph"),  # l for i
    ("tiengiang.gov.vn.xac-thuc.example", "prefix"),
    ("tiengiang-gov.vn", "typo"),
    ("tiengiamg.gov.vn", "typo"),
    ("tiegniang.gov.vn", "typo"),  # two letters swapped
    ("tiengiang.gov.vn", None),
    ("so-tttt.tiengiang.gov.vn", None),  # the province's own subdomain
    ("backan.gov.vn", None),
    ("angiang.gov.vn", None),
    ("example.com", None),
])
def test_imitation(domain: str, kind: str | None) -> None:
    assert imitation(domain, OWN) == kind


def test_one_edit_is_distance_one() -> None:
    # The one-pass test must agree with the full Damerau–Levenshtein table on every kind of pair.
    rng = random.Random(4)
    letters = "aegiđnt.-ă"
    for _ in range(20_000):
        a = "".join(rng.choice(letters) for _ in range(rng.randint(0, 8)))
        b = list(a)
        for _ in range(rng.randint(0, 2)):
            kind, at = rng.randint(0, 3), rng.randint(0, max(len(b) - 2, 0))
            if kind == 0 and b:
                b[at] = rng.choice(letters)
            elif kind == 1:
                b.insert(at, rng.choice(letters))
            elif kind == 2 and b:
                del b[at]
            elif kind == 3 and len(b) > 1:
                b[at], b[at + 1] = b[at + 1], b[at]
        b = "".join(b)
        assert one_edit(a, b) == (distance(a, b) == 1), (a, b)
    assert one_edit("tiengiang.gov.vn", "tiengiamg.gov.vn") and one_edit("tiengiang", "tiegniang")
    assert not one_edit("hanoi.gov.vn", "hanam.gov.vn") and not one_edit("backan.gov.vn", "backan.gov.vn")


def test_skeleton_and_distance() -> None:
    assert skeleton("раураl.com") == skeleton("paypal.com")  # Cyrillic р, а, у
    assert skeleton("rnail.gov.vn") == skeleton("mail.gov.vn")
    assert skeleton("đồngnai.gov.vn") == "dongnal.gov.vn"
    assert distance("tiengiang", "tiengiang") == 0
    assert distance("tiengiang", "tiegniang") == 1
    assert distance("hanoi", "hanam") == 2


HTML = """<html><body>
<p>Đăng nhập tại <a href="http://dichvucong-gov.example.net/login">https://dichvucong.gov.vn/</a>.</p>
<p><a href="https://www.tiengiang.gov.vn/van-ban">tiengiang.gov.vn/van-ban</a></p>
<p><a href="mailto:vanthu@tiengiang.gov.vn">vanthu@tiengiang.gov.vn</a> <a href="http://x.example/">Xem chi tiết</a></p>
<map><area href="http://area.example/" alt="bản đồ"></map>
</body></html>"""


def test_links_of_html_and_text_parts() -> None:
    text = "请访问http://登录.example/账号，或 www.tiengiang.gov.vn/tin-tuc。Xem (https://a.example/x)."
    found = [(link.url, link.text) for link in links(parse(simple_mail("a@example.net", text, HTML)))]
    assert found == [
        ("http://登录.example/账号", ""),
        ("www.tiengiang.gov.vn/tin-tuc", ""),
        ("https://a.example/x", ""),
        ("http://dichvucong-gov.example.net/login", "https://dichvucong.gov.vn/"),
        ("https://www.tiengiang.gov.vn/van-ban", "tiengiang.gov.vn/van-ban"),
        ("http://x.example/", "Xem chi tiết"),
        ("http://area.example/", ""),
    ]


@pytest.mark.parametrize(("text", "shown"), [
    ("https://dichvucong.gov.vn/", "dichvucong.gov.vn"),
    ("www.Tiengiang.gov.vn/van-ban", "www.tiengiang.gov.vn"),
    ("dichvucong.gov.vn.", "dichvucong.gov.vn"),
    ("Xem chi tiết", ""),
    ("Bấm vào đây: dichvucong.gov.vn", ""),  # a sentence, not an address
    ("查看详情", ""),
])
def test_shown_host(text: str, shown: str) -> None:
    assert shown_host(text) == shown


def test_host_of_idn_links_is_unicode() -> None:
    assert host("http://xn--tengiang-thh.gov.vn/x") == "tіengiang.gov.vn"
    assert host("WWW.Example.VN.:8080/path") == "www.example.vn"


@pytest.mark.parametrize("name", [
    "UBND tỉnh Tiền Giang", "Uỷ ban nhân dân tỉnh Tiền Giang", "Uy ban nhan dan tinh Tien Giang",
    "Sở Thông tin và Truyền thông", "SỞ TÀI CHÍNH TIỀN GIANG", "Văn phòng UBND tỉnh", "Cục Thuế tỉnh Tiền Giang",
    "Bộ Công an", "Công an tỉnh Tiền Giang", "某某市人民政府办公室", "广州市公安局", "国务院办公厅",
])
def test_government_names(name: str) -> None:
    assert names_government(name) is not None


@pytest.mark.parametrize("name", [
    "Nguyễn Văn Sở", "Sổ tay công chức", "Số liệu thống kê", "Bộ phận hỗ trợ khách hàng", "Công ty TNHH Ánh Dương",
    "张伟", "王芳（市场部）", "Trần Quốc Bảo",
])
def test_ordinary_names(name: str) -> None:
    assert names_government(name) is None
