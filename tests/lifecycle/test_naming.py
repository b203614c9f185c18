"""Address generation: Vietnamese folding of every letter and tone, pinyin, and the schemes' collision order."""

from __future__ import annotations

import itertools
import unicodedata

import pytest

from services.lifecycle.naming import InvalidName, fold, name_words, person_candidates, unit_code

# Every Vietnamese vowel with every tone, and đ, with the letter it folds to.
VIETNAMESE = {
    "a": "à á ả ã ạ ă ằ ắ ẳ ẵ ặ â ầ ấ ẩ ẫ ậ",
    "d": "đ",
    "e": "è é ẻ ẽ ẹ ê ề ế ể ễ ệ",
    "i": "ì í ỉ ĩ ị",
    "o": "ò ó ỏ õ ọ ô ồ ố ổ ỗ ộ ơ ờ ớ ở ỡ ợ",
    "u": "ù ú ủ ũ ụ ư ừ ứ ử ữ ự",
    "y": "ỳ ý ỷ ỹ ỵ",
}
TABLE = [(letter, base) for base, letters in VIETNAMESE.items() for letter in letters.split()]


def test_the_table_has_every_vietnamese_letter_with_a_mark() -> None:
    assert len(TABLE) == 17 + 1 + 11 + 5 + 17 + 11 + 5
    assert len({letter for letter, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("letter", "base"), TABLE)
def test_every_lower_case_letter_and_tone_folds_to_its_base(letter: str, base: str) -> None:
    assert fold(letter) == base


@pytest.mark.parametrize(("letter", "base"), TABLE)
def test_every_upper_case_letter_and_tone_folds_to_its_base(letter: str, base: str) -> None:
    assert fold(letter.upper()) == base.upper()


@pytest.mark.parametrize(("letter", "base"), TABLE)
def test_decomposed_input_folds_the_same(letter: str, base: str) -> None:
    # Input typed on some systems arrives in NFD (base letter + combining marks).
    assert fold(unicodedata.normalize("NFD", letter)) == base
    assert name_words(unicodedata.normalize("NFD", f"Lê {letter}n")) == ["le", f"{base}n"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Lê Minh Hiếu", ["le", "minh", "hieu"]),
        ("Nguyễn Văn Anh", ["nguyen", "van", "anh"]),
        ("Đặng Thị Ưng", ["dang", "thi", "ung"]),
        ("  TRẦN   QUỐC  HÙNG ", ["tran", "quoc", "hung"]),
        ("Phạm Thị Ngọc-Ánh", ["pham", "thi", "ngoc", "anh"]),
        ("Hồ Thị Hương Giang", ["ho", "thi", "huong", "giang"]),
        ("张伟", ["zhang", "wei"]),
        ("王 小明", ["wang", "xiao", "ming"]),
        ("吕洁", ["lv", "jie"]),
    ],
)
def test_names_become_lower_case_ascii_words(name: str, words: list[str]) -> None:
    assert name_words(name) == words


@pytest.mark.parametrize("name", ["", "   ", "Иван Петров", "Lê Minh 3", "Nguyễn <script>", "a" * 70])
def test_names_that_cannot_make_an_address_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        name_words(name)


def first(scheme: str, name: str, birth_year: int | None, n: int) -> list[str]:
    return list(itertools.islice(person_candidates(scheme, name, birth_year), n))


def test_tien_giang_collision_order_follows_decision_003() -> None:
    # 003 art. 4.2b: leminhhieu, lminhhieu, lmhieu, leminhhieu77, then further numbers.
    assert first("tiengiang", "Lê Minh Hiếu", 1977, 7) == [
        "leminhhieu",
        "lminhhieu",
        "lmhieu",
        "leminhhieu77",
        "leminhhieu1",
        "leminhhieu2",
        "leminhhieu3",
    ]


def test_tien_giang_without_birth_year_goes_straight_to_numbers() -> None:
    assert first("tiengiang", "Nguyễn Văn Anh", None, 5) == [
        "nguyenvananh",
        "nvananh",
        "nvanh",
        "nguyenvananh1",
        "nguyenvananh2",
    ]


def test_numbers_skip_the_two_digit_birth_year_forms() -> None:
    numbers = first("tiengiang", "Lê Minh Hiếu", None, 3 + 12)[3:]
    assert numbers[:9] == [f"leminhhieu{n}" for n in range(1, 10)]
    assert numbers[9:] == [f"leminhhieu{n}" for n in range(100, 103)]


def test_two_word_names_do_not_repeat_a_candidate() -> None:
    assert first("tiengiang", "张伟", 1990, 4) == ["zhangwei", "zwei", "zhangwei90", "zhangwei1"]


def test_one_word_names_have_no_initials_form() -> None:
    assert first("tiengiang", "Hiếu", 1977, 3) == ["hieu", "hieu77", "hieu1"]


def test_han_characters_pypinyin_does_not_know_are_refused() -> None:
    with pytest.raises(InvalidName):
        name_words("王\U00030000")  # CJK extension G: Python knows it as Han, pypinyin has no reading


def test_bac_kan_person_is_given_name_then_initials() -> None:
    assert first("backan", "Nguyễn Văn Anh", 1985, 3) == ["anhnv", "anhnv85", "anhnv1"]


def test_reserved_addresses_are_never_given_to_a_person() -> None:
    assert first("tiengiang", "Ad Min", None, 2) == ["amin", "admin1"]


def test_unit_codes_are_folded_and_checked() -> None:
    assert unit_code("STTTT") == "stttt"
    assert unit_code("Sở") == "so"
    with pytest.raises(InvalidName):
        unit_code("st tt")
    with pytest.raises(InvalidName):
        unit_code("")
