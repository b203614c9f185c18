"""ClickHouse reads the events' JSON itself: as strictly as their models, on real chDB; what it will not read is screened by the model."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ValidationError

from schemas import events
from schemas.registry import ACTIVITY, DELIVERY
from services.analytics import rows
from services.analytics.input_structure import InputStructure, UnsupportedField, column_type, structure
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import UnreadableEvents, insert_new, query_dicts
from services.common.bus import encode
from tests.analytics.support import committed_past, find_published, publish_events, running_ingestor, until


class Symbol(BaseModel):
    name: str
    group: str = ""


class Sample(BaseModel):
    subject: str
    unit: str | None = None
    action: Literal["opened", "replied"]
    sizes: list[int]
    symbols: list[Symbol]
    check_ms: dict[str, float]
    details: dict[str, Any]
    at: datetime


def test_each_field_becomes_the_column_type_that_refuses_what_the_model_refuses():
    found = structure(Sample)
    assert found.columns == (
        ("subject", "String"),
        ("unit", "Nullable(String)"),
        ("action", "Enum8('opened' = 1, 'replied' = 2)"),
        ("sizes", "Array(Int64)"),
        ("symbols", "Array(Tuple(`name` String, `group` String))"),
        ("check_ms", "Map(String, Float64)"),
        ("details", "String"),
        ("at", "DateTime64(3, 'UTC')"),
    )
    # A free object is read as its text, and checked to be an object.
    assert found.free_objects == ("details",)
    assert "CONSTRAINT details_is_an_object CHECK startsWith(`details`, '{')" in found.ddl
    assert found.settings["input_format_json_read_objects_as_strings"] == 1
    assert structure(Symbol).settings["input_format_json_read_objects_as_strings"] == 0
    assert column_type(Literal["tỉnh", "it's"]) == "Enum8('tỉnh' = 1, 'it\\'s' = 2)"
    for unsupported in (int | str, set[str], dict[int, str]):
        with pytest.raises(UnsupportedField):
            column_type(unsupported)


def delivery(**changes: Any) -> dict[str, Any]:
    event = events.MailDelivery(
        producer="delivery", message_id="0019a3ce3a95ae8e25d94", recipient="lethithu@tiengiang.gov.vn",
        recipient_domain="TienGiang.gov.vn", recipient_unit="VPUBND", mail_from="zhangwei@example.cn",
        direction="inbound", status="delivered", final=True, detail="Đã giao vào Hộp thư đến — 已投递", size=2048)
    return {**json.loads(encode(event)), **changes}


def line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


# Events the model refuses, each with the word of pydantic's error that names what is wrong, and
# the row ClickHouse names (for a missing field it names none).
REFUSED = [
    (delivery(status="mất tích"), "status", 3),
    (without(delivery(), "recipient"), "recipient", None),
    (delivery(recipient=None), "recipient", 3),
    (delivery(producer=42), "producer", 3),
    (delivery(final="có"), "final", 3),
    (delivery(symbols="SPAM_X"), "symbols", 3),
    (delivery(occurred_at="hôm qua"), "occurred_at", 3),
]


@pytest.mark.parametrize(("event", "field", "row"), REFUSED, ids=[f"{f}-{r}" for _, f, r in REFUSED])
def test_clickhouse_refuses_the_event_its_model_refuses(client, event, field, row):
    with pytest.raises(ValidationError, match=field):
        events.MailDelivery.model_validate_json(line(event))
    good = [line(delivery(event_id=str(uuid.uuid4()))) for _ in range(3)]
    with pytest.raises(UnreadableEvents) as caught:
        insert_new(client, "mail_delivery", [*good, line(event)])
    assert (caught.value.table, caught.value.row) == ("mail_delivery", row)
    assert query_dicts(client, "SELECT count() AS n FROM mail_delivery") == [{"n": 0}]


def test_a_record_that_is_not_one_object_is_refused_by_the_count_of_rows(client):
    first, second = line(delivery()), line(delivery(event_id=str(uuid.uuid4())))
    for lines in ([first, b""], [b"[" + first + b"," + second + b"]"], [first + second]):
        with pytest.raises(UnreadableEvents, match=r"read \d rows from \d events"):
            insert_new(client, "mail_delivery", lines)


def test_an_event_missing_a_field_with_a_default_is_refused_and_its_model_form_is_read(client):
    short = without(without(delivery(), "detail"), "attempt")
    event = events.MailDelivery.model_validate_json(line(short))  # the model fills in the defaults
    with pytest.raises(UnreadableEvents):
        insert_new(client, "mail_delivery", [line(short)])
    assert insert_new(client, "mail_delivery", [rows.canonical_line(DELIVERY, line(short))]) == 1
    stored = query_dicts(client, "SELECT event_id, detail, attempt, recipient_domain, recipient_unit, message_id, "
                                 "status FROM mail_delivery")
    # Rows as before: the domain in lower case, missing options as ''.
    assert stored == [{"event_id": event.event_id, "detail": "", "attempt": 1, "recipient_domain": "tiengiang.gov.vn",
                       "recipient_unit": "VPUBND", "message_id": "0019a3ce3a95ae8e25d94", "status": "delivered"}]


def test_a_free_object_is_kept_as_its_text_and_must_be_an_object(client):
    created = events.AccountEvent(producer="lifecycle", kind="account_created", domain="tiengiang.gov.vn",
                                  address="tranvanbinh@tiengiang.gov.vn",
                                  details={"full_name": "Trần Văn Bình", "名字": "陈文平", "quota": 2048})
    assert insert_new(client, "account_events", [encode(created)]) == 1
    stored = query_dicts(client, "SELECT details, address, unit FROM account_events")
    assert [json.loads(r["details"]) for r in stored] == [created.details]
    assert stored[0]["unit"] == ""
    not_an_object = {**json.loads(encode(created)), "event_id": str(uuid.uuid4()), "details": "Trần Văn Bình"}
    with pytest.raises(ValidationError):
        events.AccountEvent.model_validate_json(line(not_an_object))
    with pytest.raises(UnreadableEvents, match="details_is_an_object"):
        insert_new(client, "account_events", [line(not_an_object)])


async def test_the_ingest_screens_what_clickhouse_will_not_read(infra_parts, tmp_path, monkeypatch):
    """Invalid events go to the DLQ with pydantic's reason, a valid one ClickHouse still refuses with its own, the rest are stored."""
    bootstrap = infra_parts.bootstrap
    rid = uuid.uuid4().hex[:10]
    # A structure stricter than the model (attempt unsigned), standing in for a gap between the two.
    spec = rows.TABLES["mail_delivery"]
    stricter = InputStructure(tuple((n, "UInt32" if n == "attempt" else t) for n, t in spec.input.columns))
    monkeypatch.setitem(rows.TABLES, "mail_delivery", dataclasses.replace(spec, input=stricter))

    def mine(**changes: Any) -> dict[str, Any]:
        return delivery(event_id=str(uuid.uuid4()), recipient=f"lethithu.{rid}@tiengiang.gov.vn", **changes)

    stored = [mine(), without(mine(), "detail")]
    invalid = [mine(status="mất tích"), without(mine(), "mail_from"), mine(final="có")]
    unstorable = mine(attempt=-1)
    opened = events.MailboxActivity(producer="webmail", mailbox=f"lethithu.{rid}@tiengiang.gov.vn",
                                    actor=f"lethithu.{rid}@tiengiang.gov.vn", action="opened",
                                    folder="Công văn đến/年度报告")
    items = [(DELIVERY, line(e)) for e in [stored[0], invalid[0], unstorable, invalid[1], stored[1], invalid[2]]]
    sent = await publish_events(bootstrap, [*items, (DELIVERY, f"{{không phải JSON {rid}".encode()), (ACTIVITY, opened)])

    settings = AnalyticsSettings(group_id=f"govmail-analytics-screen-{rid}", batch_seconds=0.2, max_backoff=0.5)
    async with running_ingestor(bootstrap, tmp_path / "clickhouse", settings) as ingestor:
        await until(committed_past(bootstrap, settings.group_id, sent), timeout=90, what="the offsets to be committed")
        mailbox = {"r": f"%{rid}%"}
        rows_stored = await ingestor.warehouse.call(
            query_dicts, "SELECT event_id, detail, attempt FROM mail_delivery WHERE recipient LIKE {r:String} "
                         "ORDER BY event_id", mailbox)
        activity = await ingestor.warehouse.call(
            query_dicts, "SELECT folder FROM mailbox_activity WHERE mailbox LIKE {r:String}", mailbox)
    assert rows_stored == sorted([{"event_id": e["event_id"], "detail": e.get("detail", ""), "attempt": 1}
                                  for e in stored], key=lambda r: r["event_id"])
    assert activity == [{"folder": "Công văn đến/年度报告"}]

    letters = await find_published(bootstrap, f"{DELIVERY}.dlq",
                                   lambda letter: letter.consumer == "analytics" and rid in letter.payload)
    by_id = {event_id_of(letter.payload): letter for letter in letters}
    assert set(by_id) == {e["event_id"] for e in [*invalid, unstorable]} | {"not json"}
    for event, field in zip(invalid, ["status", "mail_from", "final"], strict=True):
        assert by_id[event["event_id"]].reason == "invalid_payload"
        assert field in by_id[event["event_id"]].error
    assert by_id["not json"].reason == "invalid_payload"
    refused = by_id[unstorable["event_id"]]
    assert refused.reason == "unstorable" and "attempt" in refused.error
    assert {letter.source_topic for letter in letters} == {DELIVERY}


def event_id_of(payload: str) -> str:
    try:
        return json.loads(payload)["event_id"]
    except ValueError:
        return "not json"
