"""The analytics service as a subprocess: every statistic over HTTP and `govmail stats`, the SQL endpoint, reports by `govmail report`."""

from __future__ import annotations

import asyncio
import csv
import email
import io
import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from email import policy
from pathlib import Path

from pypdf import PdfReader

from schemas.registry import RECEIVED
from services.analytics import catalog
from services.common.blobstore import FileBlobStore
from services.common.directory import unit_key, units_key
from tests.analytics.conftest import ROOT
from tests.analytics.ledger import Ledger
from tests.analytics.support import find_published, get_json, publish, wait_committed
from tests.conftest import govmail_command


def post(url: str, body: bytes = b"") -> tuple[int, dict, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get_content_type()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(govmail_command(*args), env=env, cwd=ROOT, capture_output=True, text=True,
                          encoding="utf-8", timeout=120)


def test_statistics_sql_and_reports_through_the_running_service(infra_parts, start_analytics, redis_client):
    ledger = Ledger()
    for code, name in ledger.unit_names.items():
        redis_client.sadd(units_key(ledger.domain), code)
        redis_client.hset(unit_key(ledger.domain, code), mapping={"domain": ledger.domain, "code": code, "name": name,
                                                                 "parent": ledger.parents[code]})
    service = start_analytics(ANALYTICS_REPORT_RECIPIENTS=f"quantri@{ledger.domain}",
                              ANALYTICS_REPORT_FROM=f"postmaster@{ledger.domain}")
    wait_committed(infra_parts.bootstrap, service.group, publish(infra_parts.bootstrap, ledger.events()))
    week = {"start": ledger.period[0].isoformat(), "end": ledger.period[1].isoformat()}

    # Every statistic answers over HTTP, with the ledger's figures where they are its own.
    for name in catalog.STATISTICS:
        status, body, _ = get_json(f"{service.url}/stats/{name}?{urllib.parse.urlencode(week)}")
        assert status == 200, (name, body)
        assert body["statistic"] == name and isinstance(body["rows"], list)
    status, body, _ = get_json(f"{service.url}/stats/traffic?by=account&{urllib.parse.urlencode(week)}")
    mine = {r["account"]: r["sent"] for r in body["rows"] if r["account"] in ledger.accounts}
    assert mine == {a: int(c["sent"]) for a, c in ledger.traffic().items()}
    status, index, _ = get_json(f"{service.url}/stats")
    assert [s["name"] for s in index["statistics"]] == list(catalog.STATISTICS)

    # Bad parameters are named in problem JSON.
    for query, parameter in [("traffic?by=week", "by"), ("compliance?noon=25", "noon"),
                             ("threats?tz=" + urllib.parse.quote("Asia/Sài_Gòn"), "tz"), ("traffic?start=21-11-2026", "start"),
                             ("inactive?now=2026-11-21T07:00", "now")]:
        status, body, media = get_json(f"{service.url}/stats/{query}")
        assert (status, media, body["parameter"]) == (400, "application/problem+json", parameter), query

    # The SQL endpoint: one read-only SELECT; anything else refused, ClickHouse errors explained.
    sql = "SELECT account, sum(sent) AS sent FROM mail_daily WHERE account = {a} GROUP BY account"
    status, body, _ = post(f"{service.url}/sql", sql.format(a=f"'{ledger.anh}'").encode())
    assert (status, body["columns"], body["rows"]) == (200, ["account", "sent"], [[ledger.anh, 30 + 2 * 8]])
    status, body, media = post(f"{service.url}/sql", b"DELETE FROM mail_daily WHERE 1")
    assert (status, media, body["type"]) == (403, "application/problem+json", "urn:govmail:problem:query-refused")
    status, body, _ = post(f"{service.url}/sql", b"SELECT nothing_here FROM mail_daily")
    assert status == 400 and body["type"] == "urn:govmail:problem:query-failed" and "nothing_here" in body["detail"]
    status, body, _ = get_json(f"{service.url}/sql?q={urllib.parse.quote('SELECT count() AS n FROM mail_daily')}")
    assert status == 200 and body["rows"][0][0] > 0

    # The CLI prints the same through the service: a table, CSV and JSON.
    args = ["stats", "compliance", "--by", "unit", "--start", week["start"], "--end", week["end"]]
    table = run_cli(service.env, *args)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["unit", "mailboxes", "mailbox_days", "morning_checked",
                                                    "afternoon_checked", "compliant_days", "compliance_rate"]
    as_csv = run_cli(service.env, *args, "--csv")
    rows = {r["unit"]: r for r in csv.DictReader(io.StringIO(as_csv.stdout))}
    as_json = json.loads(run_cli(service.env, *args, "--json").stdout)
    for row in as_json["rows"]:
        assert rows[row["unit"]]["compliant_days"] == str(row["compliant_days"])
    assert rows[ledger.district]["mailboxes"] == "2"
    query = run_cli(service.env, "stats", "sql", f"SELECT '{ledger.unit_names[ledger.commune]}' AS don_vi", "--csv")
    assert query.stdout == f"don_vi\n{ledger.unit_names[ledger.commune]}\n"
    wrong = run_cli(service.env, "stats", "attacked", "--param", "min_failures")
    assert wrong.returncode == 2 and "NAME=VALUE" in wrong.stderr

    # Reports: mailed through the platform by the service.
    health = run_cli(service.env, "report", "health", "--now", "--to", f"giamdoc@{ledger.domain}")
    assert health.returncode == 0, health.stderr
    sent = json.loads(health.stdout)
    assert sent["recipients"] == [f"quantri@{ledger.domain}", f"giamdoc@{ledger.domain}"]
    periodic = run_cli(service.env, "report", "periodic", "--domain", ledger.domain, "--unit", ledger.province,
                       "--kind", "year", "--year", str(ledger.monday.year))
    assert periodic.returncode == 0, periodic.stderr
    report = json.loads(periodic.stdout)
    assert report["units"] == 4
    missing = run_cli(service.env, "report", "periodic", "--domain", ledger.domain, "--unit", "khong-co",
                      "--year", "2026")
    assert missing.returncode == 1 and "no unit 'khong-co'" in missing.stderr

    found = asyncio.run(find_published(infra_parts.bootstrap, RECEIVED,
                                       lambda e: e.message_id in (sent["queue_id"], report["queue_id"])))
    by_id = {e.message_id: e for e in found}
    blobs = FileBlobStore.from_uri(Path(service.env["GOVMAIL_DATA_DIR"]).resolve().joinpath("blobs").as_uri())
    health_mail = email.message_from_bytes(blobs.get(by_id[sent["queue_id"]].mail.blob), policy=policy.default)
    assert health_mail["Subject"] == sent["subject"]
    html = health_mail.get_body(("html",)).get_content()
    assert "self" in html and "mail.received.v1" in html  # the service answered for itself; topics' freshness
    report_mail = email.message_from_bytes(blobs.get(by_id[report["queue_id"]].mail.blob), policy=policy.default)
    attachment = next(part for part in report_mail.iter_attachments() if part.get_content_type() == "application/pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(attachment.get_content())).pages)
    text = re.sub(r"[\s\x00]+", "", text)
    for name in ledger.unit_names.values():
        assert re.sub(r"\s+", "", name) in text
    assert service.stop() == 0
