"""The published directory (R1, R2): unit tree with people, search in Vietnamese or Chinese, CSV/JSON/vCard export."""

from __future__ import annotations

import csv
import io

import vobject

from services.lifecycle.people import matches
from tests.lifecycle.conftest import Api

UNITS = [
    {"code": "stttt", "name": "Sở Thông tin và Truyền thông", "kind": "department", "phone": "0273 3871 234",
     "postal_address": "Số 6, đường 30/4, Phường 1, Mỹ Tho"},
    {"code": "ttcntttt", "name": "Trung tâm Công nghệ thông tin và Truyền thông", "kind": "division",
     "parent": "stttt"},
    {"code": "chogao", "name": "Huyện Chợ Gạo", "kind": "district"},
    {"code": "tph", "name": "Xã Tân Phước", "kind": "commune", "parent": "chogao"},
]
PEOPLE = [
    {"name": "Lê Minh Hiếu", "unit": "ttcntttt", "title": "Giám đốc", "phone": "0273 3888 999",
     "fax": "0273 3888 998"},
    {"name": "Nguyễn Thị Ưng", "unit": "stttt", "title": "Phó Giám đốc"},
    {"name": "张伟", "unit": "tph", "title": "Chuyên viên", "language": "zh"},
]


async def populate(root: Api, domain: str) -> None:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    for unit in UNITS:
        await root.ok("POST", "/units", {"domain": domain, **unit}, 201)
    await root.ok("POST", "/accounts", {"domain": domain, "unit": "stttt", "unit_mailbox": True}, 201)
    for person in PEOPLE:
        await root.ok("POST", "/accounts", {"domain": domain, **person}, 201)


def test_search_ignores_marks_only_when_the_query_has_none() -> None:
    assert matches("le minh hieu", "Lê Minh Hiếu")
    assert matches("Hiếu", "Lê Minh Hiếu") and not matches("Hiểu", "Lê Minh Hiếu")
    assert matches("ung", "Nguyễn Thị Ưng") and matches("đốc", "Phó Giám đốc") and matches("GIAM DOC", "Giám đốc")
    assert matches("张伟", "张伟") and matches("zhang wei", "张伟") and matches("zhangwei", "张伟")
    assert not matches("wang", "张伟")


async def test_search_finds_people_and_units_by_any_input(root: Api, domain: str) -> None:
    await populate(root, domain)

    async def names(q: str) -> list[str]:
        return [r["name"] for r in await root.ok("GET", f"/directory?domain={domain}&q={q}")]

    assert await names("hieu") == ["Lê Minh Hiếu"]
    assert await names("Hiếu") == ["Lê Minh Hiếu"]
    assert await names("giam doc") == ["Nguyễn Thị Ưng", "Lê Minh Hiếu"]  # in tree order
    assert await names("张") == ["张伟"] and await names("zhang") == ["张伟"]
    assert await names("tan phuoc") == ["Xã Tân Phước", "张伟"]  # the commune, and the person in it
    assert await names("cho gao") == ["Huyện Chợ Gạo", "Xã Tân Phước"]


async def test_exports_for_the_portal(root: Api, domain: str) -> None:
    await populate(root, domain)
    rows = await root.ok("GET", f"/directory/export?domain={domain}&format=json")
    # The tree in order: each unit, its people, then its sub-units.
    assert [(r["kind"], r["name"], r["depth"]) for r in rows] == [
        ("district", "Huyện Chợ Gạo", 0),
        ("commune", "Xã Tân Phước", 1),
        ("person", "张伟", 2),
        ("department", "Sở Thông tin và Truyền thông", 0),
        ("person", "Nguyễn Thị Ưng", 1),
        ("division", "Trung tâm Công nghệ thông tin và Truyền thông", 1),
        ("person", "Lê Minh Hiếu", 2),
    ]
    assert rows[3]["email"] == f"stttt@{domain}" and rows[3]["phone"] == "0273 3871 234"

    async with root.session.get(f"/directory/export?domain={domain}&format=csv") as response:
        assert response.content_type == "text/csv" and response.charset == "utf-8"
        table = list(csv.DictReader(io.StringIO(await response.text())))
    hieu = next(r for r in table if r["name"] == "Lê Minh Hiếu")
    assert (hieu["title"], hieu["unit_name"], hieu["email"], hieu["fax"]) == (
        "Giám đốc", "Trung tâm Công nghệ thông tin và Truyền thông", f"leminhhieu@{domain}", "0273 3888 998")

    async with root.session.get(f"/directory/export?domain={domain}&format=vcard") as response:
        assert response.content_type == "text/vcard"
        raw = await response.read()
    cards = list(vobject.readComponents(raw.decode("utf-8")))
    assert all(card.version.value == "4.0" for card in cards) and len(cards) == 7
    card = next(c for c in cards if c.fn.value == "Lê Minh Hiếu")
    assert card.title.value == "Giám đốc" and card.email.value == f"leminhhieu@{domain}"
    assert card.org.value == ["Trung tâm Công nghệ thông tin và Truyền thông"]
    assert {t.value for t in card.contents["tel"]} == {"tel:02733888999", "tel:02733888998"}
    # RFC 6350 lines are at most 75 octets, folded without splitting a UTF-8 character.
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    status, problem = await root.call("GET", f"/directory/export?domain={domain}&format=xlsx")
    assert status == 422 and "csv, json or vcard" in problem["detail"]


async def test_openapi_describes_every_route_and_its_security(root: Api) -> None:
    from services.lifecycle.api import ROUTES

    document = await root.ok("GET", "/openapi.json")
    assert document["openapi"].startswith("3.1")
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["summary"] == route.summary
        assert ("security" in operation) != route.public
        if route.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
