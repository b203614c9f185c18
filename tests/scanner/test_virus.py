"""The built-in virus engine: signatures from data files, archive limits that stop zip bombs, dangerous file types."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from services.scanner import archive, config, filetypes, signatures
from services.scanner.checks import virus
from services.scanner.pipeline import Pipeline
from services.scanner.signatures import SignatureError
from tests.scanner.scanner_mail import eicar, with_attachment, zipped

# A file the province's CERT reported, and the bytes its variants share (invented for the test).
REPORTED = "Tờ trình phê duyệt — 审批报告 — dropper\n".encode() * 3
PATTERN = b"govmail-test-dropper-7f3a"


@pytest.fixture
def operator_signatures(tmp_path: Path):
    path = tmp_path / "signatures.toml"
    path.write_text(f"""
[[hash]]
name = "Province.Dropper.A"
sha256 = "{hashlib.sha256(REPORTED).hexdigest()}"

[[pattern]]
name = "Province.Dropper.Pattern"
hex = "{PATTERN.hex()}"

[[pattern]]
name = "Văn bản giả mạo"
text = "MÃ ĐỘC THỬ NGHIỆM — 测试病毒"
""", encoding="utf-8")
    virus.configure(archive.Limits(), path)
    yield path
    virus.configure(archive.Limits())


def names(verdict) -> dict[str, list[str]]:
    return {s.name: s.options for s in verdict.symbols}


async def test_operator_signatures_match_by_hash_and_by_pattern_inside_archives(operator_signatures) -> None:
    pipeline = Pipeline(config.load())
    by_hash = await pipeline.scan(with_attachment(zipped(("to-trinh.doc", REPORTED)), "Tờ trình.zip"))
    assert names(by_hash)["VIRUS_SIGNATURE"] == ["Province.Dropper.A in Tờ trình.zip/to-trinh.doc"]
    assert by_hash.action == "reject"
    variant = b"\x00junk before " + PATTERN + b" junk after"
    nested = zipped(("a.zip", zipped(("b/bien-the.dat", variant))))
    by_pattern = await pipeline.scan(with_attachment(nested, "biến thể.zip"))
    assert names(by_pattern)["VIRUS_SIGNATURE"] == ["Province.Dropper.Pattern in biến thể.zip/a.zip/b/bien-the.dat"]
    text = await pipeline.scan(with_attachment("Nội dung: MÃ ĐỘC THỬ NGHIỆM — 测试病毒".encode(), "ghi-chu.txt"))
    assert names(text)["VIRUS_SIGNATURE"] == ["Văn bản giả mạo in ghi-chu.txt"]
    # A changed byte is another file: the hash no longer matches.
    other = await pipeline.scan(with_attachment(REPORTED + b"!", "to-trinh.doc"))
    assert "VIRUS_SIGNATURE" not in names(other)


def test_eicar_matches_by_its_pattern_and_its_shipped_hash() -> None:
    engine = signatures.load()
    assert engine.hashes[hashlib.sha256(eicar()).hexdigest()] == signatures.EICAR
    assert engine.match(eicar()) == [signatures.EICAR]
    assert engine.match(b"prefix " + eicar()) == [signatures.EICAR]
    assert engine.match("Báo cáo tháng 11".encode()) == []


@pytest.mark.parametrize("body, error", [
    ('[[hash]]\nname = "x"\nsha256 = "abc"\n', "not 64 hex digits"),
    ('[[pattern]]\nname = "ngắn"\ntext = "MZ"\n', "shorter than 8 bytes"),
    ('[[pattern]]\ntext = "no name here at all"\n', "KeyError"),
    ("[[hash]\n", "Expected"),
])
def test_unusable_signature_files_are_refused(tmp_path: Path, body: str, error: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SignatureError, match=error):
        signatures.load(path)


def walk(data: bytes, **limits) -> archive.Walk:
    return archive.walk_part("tệp.zip", "tệp.zip", data, archive.Limits(**limits), lambda: None)


def test_archive_limits_each_stop_the_walk_with_their_own_problem() -> None:
    members = zipped(*((f"tờ-{i}.txt", b"x") for i in range(30)))
    found = walk(members, max_members=10)
    assert [p.kind for p in found.problems] == ["members"]
    assert len(found.items) == 1 + 10  # the archive and the first ten files

    big = zipped(("một.bin", bytes(range(256)) * 4000), ("hai.bin", bytes(range(256)) * 4000))
    found = walk(big, max_total=1_500_000)
    assert [(p.kind, p.path) for p in found.problems] == [("size", "tệp.zip/hai.bin")]

    bomb = zipped(("số-không.bin", b"\0" * 3_000_000))
    assert [p.kind for p in walk(bomb).problems] == ["ratio"]
    assert walk(bomb, max_ratio=10_000).problems == []  # an operator may allow it

    nested = b"inner"
    for level in range(4):
        nested = zipped((f"lớp-{level}.zip" if level else "lõi.txt", nested))
    assert [p.kind for p in walk(nested, max_depth=2).problems] == ["depth"]
    assert walk(nested, max_depth=4).problems == []


def test_encrypted_and_corrupt_archives_are_reported_not_passed() -> None:
    # zipfile cannot encrypt: set the "encrypted" flag bit in the local and the central header.
    data = bytearray(zipped(("bí-mật.exe", b"ciphertext")))
    data[6] |= 0x1
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1
    assert [(p.kind, p.path) for p in walk(bytes(data)).problems] == [("encrypted", "tệp.zip/bí-mật.exe")]
    truncated = zipped(("báo-cáo.txt", "Báo cáo".encode() * 100))[:-30]
    assert [p.kind for p in walk(truncated).problems] == ["corrupt"]


async def test_zip_bomb_limits_raise_symbols_that_hold_the_message() -> None:
    pipeline = Pipeline(config.load())
    many = await pipeline.scan(with_attachment(zipped(*((f"{i}.txt", b"x") for i in range(1001))), "nhiều.zip"))
    assert list(names(many)) == ["ARCHIVE_TOO_MANY_FILES"] and many.action == "quarantine"
    virus.configure(archive.Limits(max_total=100_000))
    try:
        big = await pipeline.scan(with_attachment(zipped(("lớn.bin", bytes(range(256)) * 1000)), "lớn.zip"))
    finally:
        virus.configure(archive.Limits())
    assert list(names(big)) == ["ARCHIVE_TOO_BIG"] and big.action == "quarantine"


@pytest.mark.parametrize("name, data, kinds", [
    ("Báo cáo.pdf.exe", b"", ["double_extension", "executable"]),
    ("hoá đơn.PDF   .Scr", b"", ["double_extension", "executable"]),
    ("ảnh\u202egnp.js", b"", ["double_extension", "script"]),
    ("cập nhật", b"MZ" + b"\0" * 58 + (64).to_bytes(4, "little") + b"PE\0\0", ["executable"]),
    ("công cụ", b"\x7fELF\x02\x01\x01", ["executable"]),
    ("thu-moi.vbs", b"", ["script"]),
    ("Bảng lương.xlsm", b"", ["macro"]),
    ("report.pdf", b"%PDF-1.7", []),
    ("ảnh.tar.gz", b"", []),
    ("MZ-notes.txt", b"MZ is how DOS programs start", []),
])
def test_dangerous_file_types(name: str, data: bytes, kinds: list[str]) -> None:
    assert sorted(kind for kind, _ in filetypes.dangers(name, data)) == sorted(kinds)
