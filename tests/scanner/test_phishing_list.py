"""The province's phishing list: its file format, the prefix/full-hash look-up, and `govmail scanner phishing`."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from services.scanner.phishing.hashlist import HashList, ListError, ListFile, entry
from tests.conftest import govmail_command


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def test_entries_are_stored_in_canonical_form() -> None:
    assert entry("https://Evil.Example:443/Login/./a/../") == "evil.example/Login/"
    assert entry("lừa-đảo.example") == "xn--la-o-2ua4356bkoa.example/"
    assert entry("SHA256:" + "AB" * 32) == "sha256:" + "ab" * 32
    for bad in ("", "two words", "http:///nohost"):
        with pytest.raises(ListError):
            entry(bad)


def test_prefix_set_is_compact_and_full_hash_confirms() -> None:
    listed = HashList.of({sha("evil.example/"), sha("phish.example/login/")})
    assert listed.prefixes.itemsize == 4 and len(listed.prefixes) == 2
    assert len(listed.full) == 64
    assert listed.match("http://www.evil.example/any/page.html?x=1") == "evil.example/"
    assert listed.match("https://phish.example/login/step2") == "phish.example/login/"
    assert listed.match("https://phish.example/other") is None
    # Same 4-byte prefix, different full hash: the prefix alone does not decide.
    target = sha("phish.example/login/")
    twin = target[:4] + bytes(28)
    assert listed.has_prefix(twin) and not listed.has_full(twin)


def test_sha256_lines_match_without_the_url(tmp_path: Path) -> None:
    path = tmp_path / "phishing.list"
    path.write_text("# shared by another province as hashes\nsha256:" + sha("lua-dao.example/").hex() + "\n"
                    "not a url at all\n", encoding="utf-8")
    listed = ListFile(path)
    assert listed.current().match("http://mail.lua-dao.example/dang-nhap") == "lua-dao.example/"
    assert listed.skipped == ["not a url at all"]


def test_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    listed = ListFile(tmp_path / "phishing.list")  # missing file: empty list
    assert len(listed.current()) == 0
    assert listed.add(["http://phish.example/login/", "phish.example/login/", "evil.example"]) == [
        "phish.example/login/", "evil.example/"]
    assert listed.current().match("http://phish.example/login/x") == "phish.example/login/"
    assert listed.remove(["https://PHISH.example/login/"]) == ["phish.example/login/"]
    assert listed.current().match("http://phish.example/login/x") is None
    assert listed.current().match("http://evil.example/") == "evil.example/"


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(govmail_command("scanner", "phishing", *args), env=env, capture_output=True, text=True,
                          timeout=60)


def test_cli_adds_lists_and_removes(tmp_path: Path) -> None:
    path = tmp_path / "province" / "phishing.list"
    env = {**os.environ, "GOVMAIL_DATA_DIR": str(tmp_path / "data"), "SCANNER_PHISHING_LIST": str(path)}
    added = run_cli(env, "add", "http://Dang-Nhap.example/xac-thuc/../xac-thuc/", "lua-dao.example")
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[:2] == ["added dang-nhap.example/xac-thuc/", "added lua-dao.example/"]
    assert run_cli(env, "list").stdout.splitlines() == ["dang-nhap.example/xac-thuc/", "lua-dao.example/"]
    assert ListFile(path).current().match("https://dang-nhap.example/xac-thuc/index.php") is not None
    removed = run_cli(env, "remove", "lua-dao.example")
    assert removed.returncode == 0 and removed.stdout.startswith("removed lua-dao.example/")
    assert run_cli(env, "list").stdout.splitlines() == ["dang-nhap.example/xac-thuc/"]
    bad = run_cli(env, "add", "two words")
    assert bad.returncode == 2
    assert "not a URL or expression" in bad.stderr
    assert run_cli(env, "list").stdout.splitlines() == ["dang-nhap.example/xac-thuc/"]  # nothing written
