"""Safe Browsing v4 URL canonicalisation and look-up expressions, on the examples of Google's documentation."""

from __future__ import annotations

import pytest

from services.scanner.phishing.canonical import canonicalize, digest, expressions

# developers.google.com/safe-browsing/v4/urls-hashing, "Canonicalization": input -> canonical URL.
DOCUMENTED = [
    ("http://host/%25%32%35", "http://host/%25"),
    ("http://host/%25%32%35%25%32%35", "http://host/%25%25"),
    ("http://host/%2525252525252525", "http://host/%25"),
    ("http://host/asdf%25%32%35asd", "http://host/asdf%25asd"),
    ("http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"),
    ("http://www.google.com/", "http://www.google.com/"),
    ("http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
     "http://168.188.99.26/.secure/www.ebay.com/"),
    ("http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
     "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/"),
    ("http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
     "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+"),
    ("http://3279880203/blah", "http://195.127.0.11/blah"),
    ("http://www.google.com/blah/..", "http://www.google.com/"),
    ("www.google.com/", "http://www.google.com/"),
    ("www.google.com", "http://www.google.com/"),
    ("http://www.evil.com/blah#frag", "http://www.evil.com/blah"),
    ("http://www.GOOgle.com/", "http://www.google.com/"),
    ("http://www.google.com.../", "http://www.google.com/"),
    ("http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"),
    ("http://www.google.com/q?", "http://www.google.com/q?"),
    ("http://www.google.com/q?r?", "http://www.google.com/q?r?"),
    ("http://www.google.com/q?r?s", "http://www.google.com/q?r?s"),
    ("http://evil.com/foo#bar#baz", "http://evil.com/foo"),
    ("http://evil.com/foo;", "http://evil.com/foo;"),
    ("http://evil.com/foo?bar;", "http://evil.com/foo?bar;"),
    (b"http://\x01\x80.com/", "http://%01%80.com/"),
    ("http://notrailingslash.com", "http://notrailingslash.com/"),
    ("http://www.gotaport.com:1234/", "http://www.gotaport.com/"),
    ("  http://www.google.com/  ", "http://www.google.com/"),
    ("http:// leadingspace.com/", "http://%20leadingspace.com/"),
    ("http://%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("https://www.securesite.com/", "https://www.securesite.com/"),
    ("http://host.com/ab%23cd", "http://host.com/ab%23cd"),
    ("http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"),
]


@pytest.mark.parametrize(("url", "canonical"), DOCUMENTED)
def test_documented_canonicalisation(url: str | bytes, canonical: str) -> None:
    assert canonicalize(url).url == canonical


@pytest.mark.parametrize(("url", "canonical"), [
    ("http://0x7f.1/", "http://127.0.0.1/"),  # hex and fewer than four parts
    ("http://0300.0250.01.017/x", "http://192.168.1.15/x"),  # octal
    ("http://user:pass@Evil.Example:8080/a/./b/../c", "http://evil.example/a/c"),  # no user info, no port
    ("http://tiềngiang.vn/đăng-nhập", "http://xn--tingiang-w50d.vn/%C4%91%C4%83ng-nh%E1%BA%ADp"),  # IDN, UTF-8 path
    ("http://例子.中国/登录?账号=1", "http://xn--fsqu00a.xn--fiqs8s/%E7%99%BB%E5%BD%95?%E8%B4%A6%E5%8F%B7=1"),
])
def test_more_forms(url: str, canonical: str) -> None:
    assert canonicalize(url).url == canonical


def test_documented_expressions() -> None:
    assert expressions("http://a.b.c/1/2.html?param=1") == [
        "a.b.c/1/2.html?param=1", "a.b.c/1/2.html", "a.b.c/", "a.b.c/1/",
        "b.c/1/2.html?param=1", "b.c/1/2.html", "b.c/", "b.c/1/",
    ]
    assert expressions("http://a.b.c.d.e.f.g/1.html") == [
        "a.b.c.d.e.f.g/1.html", "a.b.c.d.e.f.g/", "c.d.e.f.g/1.html", "c.d.e.f.g/",
        "d.e.f.g/1.html", "d.e.f.g/", "e.f.g/1.html", "e.f.g/", "f.g/1.html", "f.g/",
    ]
    assert expressions("http://1.2.3.4/1/") == ["1.2.3.4/1/", "1.2.3.4/"]
    assert expressions("http://a.b.c/") == ["a.b.c/", "b.c/"]


def test_at_most_five_hosts_and_six_paths() -> None:
    found = expressions("http://a.b.c.d.e.f.g.h/1/2/3/4/5/6.html?x=1")
    hosts = {e.split("/", 1)[0] for e in found}
    paths = {"/" + e.split("/", 1)[1] for e in found}
    assert hosts == {"a.b.c.d.e.f.g.h", "d.e.f.g.h", "e.f.g.h", "f.g.h", "g.h"}
    assert paths == {"/1/2/3/4/5/6.html?x=1", "/1/2/3/4/5/6.html", "/", "/1/", "/1/2/", "/1/2/3/"}
    assert len(found) == 30


def test_hash_is_sha256_of_the_expression() -> None:
    # SHA-256 of "abc", the FIPS 180-2 test vector, as the Safe Browsing documentation also uses it.
    assert digest("abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
