"""Reports in process on real chDB, Redis and the broker: the periodic PDF, the unit-tree roll-up, reminders and the schedule."""

from __future__ import annotations

import asyncio
import email
import io
import re
from datetime import UTC, date, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from pypdf import PdfReader

from schemas.registry import RECEIVED
from services.analytics import health, migrations, pdf, periodic, reports
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import Warehouse, insert_new
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher, encode
from services.common.directory import (
    DOMAINS,
    RedisDirectory,
    Unit,
    account_key,
    accounts_key,
)
from services.common.settings import PlatformSettings
from services.common.system_mail import SystemMailer
from tests.analytics.ledger import Ledger
from tests.analytics.support import find_published


def squeeze(text: str) -> str:
    # pypdf reads fpdf2's embedded Identity encoding CMap one byte at a time, so every character of
    # the extracted text comes with a NUL before it (the mapping to Unicode itself is right); and
    # the spacing may differ. Compare without NULs and whitespace.
    return re.sub(r"[\s\x00]+", "", text)


def ledger_tree(ledger: Ledger) -> periodic.UnitTree:
    return periodic.UnitTree({code: Unit(domain=ledger.domain, code=code, name=name, parent=ledger.parents[code])
                              for code, name in ledger.unit_names.items()})


async def loaded_warehouse(ledger: Ledger, path: Path) -> Warehouse:
    from services.analytics import rows

    warehouse = Warehouse(f"chdb:///{path}")
    await warehouse.open()
    await warehouse.call(migrations.apply)
    by_table: dict[str, list] = {}
    for topic, event in ledger.events():
        by_table.setdefault(rows.table_of(topic), []).append(encode(event))
    for table, table_rows in by_table.items():
        await warehouse.call(insert_new, table, table_rows)
    return warehouse


async def test_the_periodic_report_rolls_up_the_unit_tree_and_its_pdf_has_vietnamese_and_chinese(tmp_path):
    ledger = Ledger()
    warehouse = await loaded_warehouse(ledger, tmp_path / "clickhouse")
    try:
        tree = ledger_tree(ledger)
        report = await warehouse.call(periodic.build, tree, ledger.province, "year", ledger.monday.year,
                                      "Asia/Ho_Chi_Minh", date(ledger.monday.year, 12, 31))
    finally:
        await warehouse.close()
    by_unit = {r["unit"]: r for r in report.rows}
    # Depth first from the province: district, its commune, then the office.
    assert [r["unit"] for r in report.rows] == [ledger.province, ledger.district, ledger.commune, ledger.office]
    assert [r["level"] for r in report.rows] == [0, 1, 2, 1]
    truth = ledger.traffic()
    year = {a: c for a, c in truth.items()}  # the ledger's mail all falls within the year

    def received_below(*units: str) -> int:
        return sum(int(c["received"]) for a, c in year.items() if ledger.unit_of(a) in units)

    assert by_unit[ledger.commune]["received"] == received_below(ledger.commune)
    assert by_unit[ledger.district]["received"] == received_below(ledger.district, ledger.commune)
    assert by_unit[ledger.province]["received"] == received_below(*ledger.unit_names)
    assert by_unit[ledger.province]["units"] == 4 and by_unit[ledger.commune]["units"] == 1
    assert [m["month"] for m in report.monthly] == [f"{ledger.monday.year}-{m:02d}" for m in range(1, 13)]

    document = pdf.render(report)
    reader = PdfReader(io.BytesIO(document))
    text = squeeze("".join(page.extract_text() for page in reader.pages))
    for name in ledger.unit_names.values():
        assert squeeze(name) in text, name
    for chart in ("Lưulượngtheotháng", "Tuânthủkiểmtrahộpthư", "Bấtthường", "Hiệuquảxửlý"):
        assert chart in text
    assert "信息传媒厅" in text and "蔡贝县" in text and "和庆社" in text


def test_the_health_report_is_due_at_its_local_time_and_periodic_reports_on_their_days():
    now = datetime(2026, 11, 21, 0, 30, tzinfo=UTC)  # 07:30 in Ho Chi Minh City
    assert reports.next_health_time(now, "07:00", "Asia/Ho_Chi_Minh") == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    assert reports.next_health_time(now, "08:15", "Asia/Ho_Chi_Minh") == datetime(2026, 11, 21, 1, 15, tzinfo=UTC)
    assert reports.next_health_time(now, "07:00", "Asia/Shanghai") == datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert reports.periodic_due(date(2026, 7, 1)) == ("h1", 2026)
    assert reports.periodic_due(date(2026, 12, 1)) == ("year", 2026)
    assert reports.periodic_due(date(2026, 12, 2)) is None
    with pytest.raises(ValueError, match="h1, h2 or year"):
        periodic.report_period("q3", 2026, "Asia/Ho_Chi_Minh")


@pytest.fixture
def platform(platform_env: dict[str, str]) -> PlatformSettings:
    return PlatformSettings(data_dir=Path(platform_env["GOVMAIL_DATA_DIR"]),
                            kafka_bootstrap=platform_env["GOVMAIL_KAFKA_BOOTSTRAP"],
                            redis_url=platform_env["GOVMAIL_REDIS_URL"],
                            admin_port=int(platform_env["GOVMAIL_ADMIN_PORT"]),
                            analytics_port=int(platform_env["GOVMAIL_ANALYTICS_PORT"]),
                            health_port_base=int(platform_env["GOVMAIL_HEALTH_PORT_BASE"]))


async def test_reminders_and_the_scheduled_health_report_go_out_as_mail_through_the_bus(platform, redis_client, tmp_path):
    ledger = Ledger()
    redis_client.sadd(DOMAINS, ledger.domain)
    for address, (unit, kind, name) in ledger.accounts.items():
        redis_client.hset(account_key(address), mapping={"address": address, "domain": ledger.domain,
                                                         "localpart": address.split("@")[0], "name": name,
                                                         "kind": kind, "unit": unit})
        redis_client.sadd(accounts_key(ledger.domain), address)
    settings = AnalyticsSettings(report_recipients=f"quantri@{ledger.domain}", report_domain=ledger.domain,
                                 report_from=f"postmaster@{ledger.domain}", health_at="07:00",
                                 scheduler_poll_seconds=0.05)
    warehouse = await loaded_warehouse(ledger, tmp_path / "clickhouse")
    publisher = KafkaPublisher(platform.bootstrap, "test-reports")
    directory = RedisDirectory.from_url(platform.redis)
    await publisher.start()
    try:
        mailer = SystemMailer(publisher, FileBlobStore.from_uri(platform.blobs), directory, "analytics")
        reporter = reports.Reporter(platform, settings, warehouse.call, mailer, directory)
        # 21 November is 14 days before the units' deadline; 1 December 14 days before the province's.
        sent = await reporter.send_reminders(date(2026, 11, 21))
        assert [(s["deadline"], s["lead_days"]) for s in sent] == [("2026-12-05", 14)]
        assert set(sent[0]["recipients"]) == {f"quantri@{ledger.domain}", ledger.vanthu}
        both = await reporter.send_reminders(date(2026, 12, 1))
        assert [(s["deadline"], s["lead_days"]) for s in both] == [("2026-12-15", 14)]
        assert await reporter.send_reminders(date(2026, 11, 22)) == []

        # The schedule with a fake clock: at 07:00 local the health report and the day's reminders go out.
        moments = iter([datetime(2026, 11, 27, 23, 59, tzinfo=UTC)] * 2 + [datetime(2026, 11, 28, 0, 0, tzinfo=UTC)] * 50)
        clock_now = [datetime(2026, 11, 27, 23, 59, tzinfo=UTC)]

        def clock() -> datetime:
            clock_now[0] = next(moments, clock_now[0])
            return clock_now[0]

        stop = asyncio.Event()
        errors: list = []
        task = asyncio.create_task(reports.schedule(reporter, stop, clock, lambda n, e: errors.append((n, e))))
        found = await find_published(platform.bootstrap, RECEIVED,
                                     lambda e: e.producer == "analytics" and ledger.domain in e.mail.mail_from
                                     and "2026-11-28 07:00" in e.mail.subject, timeout=60)
        stop.set()
        await task
        assert errors == []
        assert len({e.message_id for e in found}) == 1
        event = found[0]
        assert event.mail.listener == "internal" and event.mail.rcpt_to == [f"quantri@{ledger.domain}"]
        raw = FileBlobStore.from_uri(platform.blobs).get(event.mail.blob)
        message = email.message_from_bytes(raw, policy=policy.default)
        body = message.get_body(("html",)).get_content()
        assert "Dịch vụ / Service liveness" in body and "Consumer lag" in body and "govmail-scanner" in body
        reminder = await find_published(platform.bootstrap, RECEIVED,
                                         lambda e: e.producer == "analytics" and ledger.vanthu in e.mail.rcpt_to
                                         and "05/12/2026" in e.mail.subject, timeout=30)
        # 28 November is 7 days before 5 December: a second reminder (keyed apart from the first).
        assert {"14", "7"} <= {re.search(r"\((\d+) ngày", e.mail.subject).group(1) for e in reminder}
    finally:
        await publisher.stop()
        await directory.close()
        await warehouse.close()


def test_the_health_report_says_what_is_wrong(platform, tmp_path):
    ledger = Ledger()
    (platform.mail_root / ledger.domain / "leminhhieu").mkdir(parents=True)
    (platform.mail_root / ledger.domain / "leminhhieu" / "1.eml").write_bytes(b"x" * 9000)
    from services.analytics.warehouse import connect

    client = connect(f"chdb:///{tmp_path / 'ch'}")
    try:
        migrations.apply(client)
        report = health.gather(client, platform, now=ledger.at(3, 7), days=7,
                               quotas={ledger.hieu: 10000})
    finally:
        client.close()
    # Nothing runs in this test: every service is reported down, the mailbox near its quota is named.
    assert {s["service"] for s in report.services if not s["ok"]} == set(health.SERVICES)
    assert report.quota == [{"account": ledger.hieu, "bytes": 9000, "quota": 10000, "share": 0.9}]
    assert f"mailbox {ledger.hieu} at 90% of its quota" in report.problems
    subject, text, body = health.render(report)
    assert "problems" in subject and "service delivery is down" in text and "Ổ đĩa / Disk" in body
    assert report.disk["parts"]["mail"] == 9000
    assert timedelta(0) < report.generated_at - ledger.at(0, 0)
