"""Every naming example printed in decisions 003 (Tien Giang) and 004 (Bac Kan), art. 4, plus collision sequences."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import aiohttp
import pytest

from services.lifecycle import cli
from services.lifecycle.naming import (
    InvalidName,
    collision_steps,
    person_candidates,
    place_label,
    unit_label,
    unit_localpart,
)
from tests.lifecycle.test_api import post

# (kind, code, name) of the units the seeds name.
TG_STTTT = ("department", "stttt", "Sở Thông tin và Truyền thông")
TG_TTCNTTTT = ("division", "ttcntttt", "Trung tâm Công nghệ thông tin và Truyền thông")
TG_CHOGAO = ("district", "cg", "Ủy ban nhân dân huyện Chợ Gạo")
TG_TXGOCONG = ("district", "gc", "Thị xã Gò Công")
TG_TANPHUOC = ("district", "tph", "Huyện Tân Phước")
TG_MYPHUOC = ("commune", "mph", "Xã Mỹ Phước")
TG_PTCKH = ("division", "ptckh", "Phòng Tài chính - Kế hoạch")
BK_TT = ("department", "tt", "Sở Thông tin và Truyền thông")
BK_TX = ("district", "tx", "Thị xã Bắc Kạn")
BK_DUONGQUANG = ("commune", "dq", "Xã Dương Quang")
BK_PHONGCN = ("division", "phongcn", "Phòng Công nghệ thông tin")

# Each example with where it is printed and the unit chain, root first.
UNIT_EXAMPLES = [
    # 003 art. 4.1a: "Sở thông tin và truyền thông có dạng: stttt@tiengiang.gov.vn"
    ("003 art. 4.1a", "tiengiang", [TG_STTTT], "stttt"),
    # 003 art. 4.1b: "Ủy ban nhân dân huyện Chợ Gạo có dạng: chogao@tiengiang.gov.vn"
    ("003 art. 4.1b", "tiengiang", [TG_CHOGAO], "chogao"),
    # 003 art. 4.1b, the form line: "…@tiengiang.gov.vn; txgocong@tiengiang.gov.vn"
    ("003 art. 4.1b", "tiengiang", [TG_TXGOCONG], "txgocong"),
    # 003 art. 4.1c: "xã Mỹ Phước thuộc … huyện Tân Phước có dạng: tanphuoc.myphuoc@tiengiang.gov.vn"
    ("003 art. 4.1c", "tiengiang", [TG_TANPHUOC, TG_MYPHUOC], "tanphuoc.myphuoc"),
    # 003 art. 4.1d: "phòng Tài chính - Kế hoạch thuộc … huyện Tân Phước có dạng: tanphuoc.ptckh@…"
    ("003 art. 4.1d", "tiengiang", [TG_TANPHUOC, TG_PTCKH], "tanphuoc.ptckh"),
    # 003 art. 4.1d: "Trung tâm công nghệ thông tin và truyền thông thuộc Sở … có dạng: stttt.ttcntttt@…"
    ("003 art. 4.1d", "tiengiang", [TG_STTTT, TG_TTCNTTTT], "stttt.ttcntttt"),
    # 004 art. 4.1a: "xã Dương Quang thuộc thị xã Bắc Kạn … duongquang.tx@backan.gov.vn"
    ("004 art. 4.1a", "backan", [BK_TX, BK_DUONGQUANG], "duongquang.tx"),
    # 004 art. 4.1a: "phòng Công nghệ thông tin thuộc Sở Thông tin và Truyền thông … phongcn.tt@backan.gov.vn"
    ("004 art. 4.1a", "backan", [BK_TT, BK_PHONGCN], "phongcn.tt"),
]


@pytest.mark.parametrize(("article", "scheme", "chain", "expected"), UNIT_EXAMPLES)
def test_every_unit_example_of_the_seeds(article: str, scheme: str, chain: Any, expected: str) -> None:
    assert unit_localpart(scheme, chain) == expected, article


def first(n: int, *args: Any, **kwargs: Any) -> list[str]:
    return list(itertools.islice(person_candidates(*args, **kwargs), n))


def test_tien_giang_person_example() -> None:
    # 003 art. 4.2a: "tài khoản của Lê Minh Hiếu là công chức Sở … sẽ là: leminhhieu@tiengiang.gov.vn"
    assert first(1, "tiengiang", "Lê Minh Hiếu") == ["leminhhieu"]


def test_tien_giang_collision_example() -> None:
    # 003 art. 4.2b: "leminhhieu; lminhhieu; lmhieu; leminhhieu77; leminhhieu78 (77, 78 là 02 số cuối
    # của năm sinh …)": the fourth Lê Minh Hiếu was born in 1977, the fifth in 1978.
    assert first(4, "tiengiang", "Lê Minh Hiếu", 1977) == [
        "leminhhieu",
        "lminhhieu",
        "lmhieu",
        "leminhhieu77",
    ]
    assert first(4, "tiengiang", "Lê Minh Hiếu", 1978)[3] == "leminhhieu78"


def test_bac_kan_person_example() -> None:
    # 004 art. 4.1b: "Nguyễn Văn Anh thuộc Sở Thông tin và Truyền thông … anhnv.tt@backan.gov.vn",
    # and the form without the unit: "<Tên> + <viết tắt của họ và tên đệm>".
    assert first(1, "backan", "Nguyễn Văn Anh", unitbox="tt") == ["anhnv.tt"]
    assert first(1, "backan", "Nguyễn Văn Anh") == ["anhnv"]


def test_bac_kan_collisions_add_the_birth_year_then_numbers_before_the_unit() -> None:
    assert first(4, "backan", "Nguyễn Văn Anh", 1985, unitbox="tt") == [
        "anhnv.tt",
        "anhnv85.tt",
        "anhnv1.tt",
        "anhnv2.tt",
    ]
    assert first(3, "backan", "Đặng Thị Ưng", None) == ["ungdt", "ungdt1", "ungdt2"]


def test_pinyin_default_sequence() -> None:
    # Full pinyin, initials + given name, birth year, numbers.
    assert first(5, "pinyin", "王小明", 1990) == [
        "wangxiaoming",
        "wxming",
        "wangxiaoming90",
        "wangxiaoming1",
        "wangxiaoming2",
    ]
    assert first(3, "pinyin", "张伟", None) == ["zhangwei", "zwei", "zhangwei1"]


def test_collision_sequence_is_configurable() -> None:
    steps = "family_initial,initials,full,year"
    assert collision_steps("pinyin", steps) == ("family_initial", "initials", "full", "year", "number")
    assert first(5, "pinyin", "王小明", 1988, steps=steps) == [
        "wxiaoming",
        "wxming",
        "wangxiaoming",
        "wxiaoming88",
        "wxiaoming1",
    ]
    assert first(3, "tiengiang", "Lê Minh Hiếu", 1977, steps=["given_initials", "number"]) == [
        "hieulm",
        "hieulm1",
        "hieulm2",
    ]


@pytest.mark.parametrize("steps", ["full,bogus", "full,full", "number,full", "year,number", "year"])
def test_bad_collision_sequences_are_refused(steps: str) -> None:
    with pytest.raises(InvalidName):
        collision_steps("tiengiang", steps)


def test_default_steps_of_each_scheme() -> None:
    assert collision_steps("tiengiang") == ("full", "family_initial", "initials", "year", "number")
    assert collision_steps("backan") == ("given_initials", "year", "number")
    with pytest.raises(InvalidName):
        collision_steps("hanoi")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Chợ Gạo", "chogao"),
        ("Huyện Chợ Gạo", "chogao"),
        ("UBND huyện Cái Bè", "caibe"),
        ("Thị xã Gò Công", "txgocong"),
        ("Thành phố Mỹ Tho", "tpmytho"),
        ("Thị trấn Vĩnh Bình", "vinhbinh"),
        ("Phường 1", "phuong1"),
        ("Xã Đồng Sơn", "dongson"),
        ("北京", "beijing"),
    ],
)
def test_place_names_drop_or_shorten_their_title(name: str, label: str) -> None:
    assert place_label(name) == label


def test_kinds_that_use_the_code_ignore_the_name() -> None:
    assert unit_label("tiengiang", "department", "STTTT", "Sở Thông tin và Truyền thông") == "stttt"
    # Bac Kan's districts keep the box name of the decision's appendix (tx), not their name.
    assert unit_label("backan", "district", "tx", "Thị xã Bắc Kạn") == "tx"
    assert unit_label("tiengiang", "district", "tx", "Thị xã Bắc Kạn") == "txbackan"


def test_a_department_under_the_province_is_not_prefixed() -> None:
    province = ("unit", "ubndtinh", "Ủy ban nhân dân tỉnh Tiền Giang")
    assert unit_localpart("tiengiang", [province, TG_STTTT]) == "stttt"
    assert unit_localpart("tiengiang", [province, TG_STTTT, TG_TTCNTTTT]) == "stttt.ttcntttt"


# Through the admin API against the session's Redis.


async def add_units(
    http: aiohttp.ClientSession, domain: str, units: list[tuple[tuple[str, str, str], str]]
) -> None:
    for (kind, code, name), parent in units:
        body = {"domain": domain, "code": code, "name": name, "kind": kind, "parent": parent}
        status, answer = await post(http, "/units", body)
        assert status == 201, answer


async def address(http: aiohttp.ClientSession, **body: Any) -> str:
    status, answer = await post(http, "/accounts", body)
    assert status == 201, answer
    return answer["address"]


async def test_tien_giang_examples_through_the_api(http: aiohttp.ClientSession, domain: str) -> None:
    assert (await post(http, "/domains", {"name": domain, "scheme": "tiengiang"}))[0] == 201
    await add_units(
        http,
        domain,
        [
            (TG_STTTT, ""),
            (TG_TTCNTTTT, "stttt"),
            (TG_CHOGAO, ""),
            (TG_TANPHUOC, ""),
            (TG_MYPHUOC, "tph"),
            (TG_PTCKH, "tph"),
        ],
    )
    boxes = [
        await address(http, domain=domain, unit=code, unit_mailbox=True)
        for code in ("stttt", "ttcntttt", "cg", "mph", "ptckh")
    ]
    assert boxes == [
        f"{local}@{domain}"
        for local in ("stttt", "stttt.ttcntttt", "chogao", "tanphuoc.myphuoc", "tanphuoc.ptckh")
    ]
    people = [
        await address(http, domain=domain, name="Lê Minh Hiếu", unit="stttt", birth_year=year)
        for year in (1980, 1981, 1982, 1977, 1978)
    ]
    assert people == [
        f"{local}@{domain}" for local in ("leminhhieu", "lminhhieu", "lmhieu", "leminhhieu77", "leminhhieu78")
    ]


async def test_bac_kan_examples_through_the_api(http: aiohttp.ClientSession, domain: str) -> None:
    assert (await post(http, "/domains", {"name": domain, "scheme": "backan"}))[0] == 201
    await add_units(http, domain, [(BK_TT, ""), (BK_TX, ""), (BK_DUONGQUANG, "tx"), (BK_PHONGCN, "tt")])
    boxes = [
        await address(http, domain=domain, unit=code, unit_mailbox=True) for code in ("tt", "dq", "phongcn")
    ]
    assert boxes == [f"{local}@{domain}" for local in ("tt", "duongquang.tx", "phongcn.tt")]
    anh = [
        await address(http, domain=domain, name="Nguyễn Văn Anh", unit="tt", birth_year=1985)
        for _ in range(2)
    ]
    assert anh == [f"anhnv.tt@{domain}", f"anhnv85.tt@{domain}"]
    assert await address(http, domain=domain, name="Nguyễn Văn Anh") == f"anhnv@{domain}"


async def test_configured_pinyin_sequence_through_the_api(http: aiohttp.ClientSession, domain: str) -> None:
    status, created = await post(
        http, "/domains", {"name": domain, "scheme": "pinyin", "collisions": ["full", "initials", "year"]}
    )
    assert status == 201 and created["collisions"] == "full,initials,year,number"
    got = [await address(http, domain=domain, name="王小明", birth_year=1990) for _ in range(4)]
    assert got == [
        f"{local}@{domain}" for local in ("wangxiaoming", "wxming", "wangxiaoming90", "wangxiaoming1")
    ]


async def test_a_bad_collision_sequence_is_a_problem(http: aiohttp.ClientSession, domain: str) -> None:
    async with http.post("/domains", json={"name": domain, "collisions": ["number", "full"]}) as response:
        assert response.status == 422
        assert response.content_type == "application/problem+json"
        assert "last" in (await response.json(content_type=None))["detail"]


async def test_a_unit_mailbox_whose_address_is_taken_is_a_conflict(
    http: aiohttp.ClientSession, domain: str
) -> None:
    # Two communes whose names fold alike in one district would share tanphuoc.myphuoc.
    assert (await post(http, "/domains", {"name": domain}))[0] == 201
    twin = ("commune", "mph2", "Xã Mỹ Phuóc")
    await add_units(http, domain, [(TG_TANPHUOC, ""), (TG_MYPHUOC, "tph"), (twin, "tph")])
    assert await address(http, domain=domain, unit="mph", unit_mailbox=True) == f"tanphuoc.myphuoc@{domain}"
    status, answer = await post(http, "/accounts", {"domain": domain, "unit": "mph2", "unit_mailbox": True})
    assert status == 409 and f"tanphuoc.myphuoc@{domain}" in answer["detail"]


async def test_the_cli_configures_a_collision_sequence(
    service: Any, http: aiohttp.ClientSession, domain: str
) -> None:
    argv = [
        "domain",
        "add",
        domain,
        "--scheme",
        "pinyin",
        "--collisions",
        "initials,full",
        "--url",
        service.url,
        "--token-file",
        str(service.token_path),
    ]
    assert await asyncio.to_thread(cli.main, argv) == 0
    async with http.get("/domains") as response:
        listed = {d["name"]: d for d in await response.json()}
    assert listed[domain]["collisions"] == "initials,full,number"
    got = [await address(http, domain=domain, name="张伟", birth_year=1990) for _ in range(3)]
    assert got == [f"{local}@{domain}" for local in ("zwei", "zhangwei", "zwei1")]


def generated_names(count: int, seed: int) -> list[tuple[str, int]]:
    """Realistic Vietnamese names: a handful of family names carry most people, as in the country."""
    rng = random.Random(seed)
    families = (
        ["Nguyễn"] * 38
        + ["Trần"] * 11
        + ["Lê"] * 10
        + ["Phạm"] * 7
        + ["Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
    )
    middles = ["Văn", "Thị", "Minh", "Hữu", "Đức", "Ngọc", "Thanh", "Quốc", "Thu", "Xuân", ""]
    givens = [
        "Anh",
        "Hiếu",
        "Hùng",
        "Lan",
        "Hương",
        "Dũng",
        "Tuấn",
        "Ưng",
        "Phước",
        "Thảo",
        "Nga",
        "Sơn",
        "Khoa",
        "Yến",
        "Đạt",
        "Linh",
        "Trâm",
        "Quý",
        "Tâm",
        "Vy",
    ]
    names = []
    for _ in range(count):
        parts = [rng.choice(families), rng.choice(middles), rng.choice(givens)]
        names.append((" ".join(p for p in parts if p), rng.randint(1960, 2004)))
    return names


def allocate(scheme: str, names: list[tuple[str, int]]) -> list[str]:
    """What reservation does, minus Redis: the first free candidate of each person in turn."""
    taken: set[str] = set()
    given = []
    for name, year in names:
        local = next(c for c in person_candidates(scheme, name, year) if c not in taken)
        taken.add(local)
        given.append(local)
    return given


@pytest.mark.parametrize("scheme", ["tiengiang", "backan"])
def test_ten_thousand_generated_names_get_distinct_addresses_in_a_fixed_order(scheme: str) -> None:
    names = generated_names(10_000, seed=20101)
    given = allocate(scheme, names)
    assert len(set(given)) == len(given) == 10_000
    assert allocate(scheme, names) == given
    # The pool is small, so collisions went deep into the sequence: some got the year, some a number.
    assert any(local[-2:].isdigit() and local[-3].isalpha() for local in given)
    assert any(local[-3:].isdigit() for local in given)
