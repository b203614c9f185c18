"""The analytics service as a subprocess on the real broker and chDB: counts, replays, dead letters, CLI and stop."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

from aiokafka import TopicPartition

from schemas.registry import DELIVERY, RECEIVED, SCANNED
from services.analytics import stats
from services.analytics.warehouse import connect, query_dicts
from services.platform import infra
from tests.analytics.conftest import ROOT, Analytics
from tests.analytics.support import Workload, get_json, publish, rows_for, wait_committed
from tests.conftest import govmail_command


def volume(service: Analytics, by: str) -> dict:
    status, body, _ = get_json(f"{service.url}/stats/volume?by={by}")
    assert status == 200, body
    return body


def check_volume(fetch, work: Workload) -> None:
    """fetch(by) returns a volume document; every count of the workload must be exact."""
    assert rows_for(fetch("account"), set(work.expected_accounts())) == work.expected_accounts()
    assert rows_for(fetch("unit"), set(work.expected_units())) == work.expected_units()
    assert rows_for(fetch("day"), set(work.expected_day())) == work.expected_day()


def stats_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(govmail_command("stats", "volume", *args), env=env, cwd=ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


def test_volume_counts_each_recipient_of_received_delivered_rejected_and_quarantined_mail(infra_parts, start_analytics):
    work = Workload()
    service = start_analytics()
    wait_committed(infra_parts.bootstrap, service.group, publish(infra_parts.bootstrap, work.items))

    check_volume(lambda by: volume(service, by), work)

    result = stats_cli(service.env, "--by", "account", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert rows_for(document, set(work.expected_accounts())) == work.expected_accounts()

    table = stats_cli(service.env, "--by", "unit")
    assert table.returncode == 0, table.stderr
    lines = {line.split()[0]: line.split()[1:] for line in table.stdout.splitlines() if line.strip()}
    assert lines["unit"] == ["received", "delivered", "rejected", "quarantined"]
    assert lines[work.unit_a] == ["2", "1", "1", "0"]
    assert lines[work.unit_b] == ["3", "1", "0", "1"]
    assert "total" in lines
    assert service.stop() == 0


def test_bad_parameters_and_unknown_paths_get_problem_json(start_analytics):
    service = start_analytics()
    status, body, content_type = get_json(f"{service.url}/stats/volume?by=hour")
    assert (status, content_type) == (400, "application/problem+json")
    assert body["status"] == 400 and body["type"] == "urn:govmail:problem:invalid-parameter" and body["parameter"] == "by"
    assert "'hour'" in body["detail"] and body["title"]

    status, body, content_type = get_json(f"{service.url}/dead-letters?limit=lots")
    assert (status, content_type, body["parameter"]) == (400, "application/problem+json", "limit")

    status, body, content_type = get_json(f"{service.url}/stats/nothing-here")
    assert (status, content_type, body["status"]) == (404, "application/problem+json", 404)

    assert get_json(f"{service.url}/readyz")[:2] == (200, {"status": "ready", "service": "analytics"})
    with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as response:
        assert "# TYPE govmail_handle_seconds histogram" in response.read().decode()
    assert service.stop() == 0


def test_replayed_events_and_a_consumer_restarted_from_scratch_count_nothing_twice(infra_parts, start_analytics):
    work = Workload()
    service = start_analytics()
    wait_committed(infra_parts.bootstrap, service.group, publish(infra_parts.bootstrap, work.items))
    check_volume(lambda by: volume(service, by), work)

    # The same events again, and the first message republished under a new event id (a spool replay).
    first = next(event for topic, event in work.items if topic == RECEIVED)
    again = first.model_copy(update={"event_id": str(uuid.uuid4())})
    sent = publish(infra_parts.bootstrap, [*work.items, (RECEIVED, again)])
    wait_committed(infra_parts.bootstrap, service.group, sent)
    check_volume(lambda by: volume(service, by), work)
    assert service.stop() == 0

    # A new group has no committed offsets: it reads every topic again from the start into the same tables.
    fresh = start_analytics(ANALYTICS_GROUP_ID=f"govmail-analytics-replay-{work.rid}")
    wait_committed(infra_parts.bootstrap, fresh.group, sent)
    check_volume(lambda by: volume(fresh, by), work)
    assert fresh.stop() == 0


def test_broken_payloads_go_to_the_dead_letter_topic_and_table_with_their_reason(infra_parts, start_analytics):
    marker = uuid.uuid4().hex
    not_json = f"Thư hỏng {marker} — 损坏的邮件 {{".encode()
    missing_fields = json.dumps({"event_id": marker, "producer": "delivery", "recipient": "张伟"}, ensure_ascii=False).encode()
    unreadable_letter = f"not a dead letter {marker}".encode()
    service = start_analytics()
    sent = publish(infra_parts.bootstrap, [(RECEIVED, not_json), (DELIVERY, missing_fields),
                                           (f"{SCANNED}.dlq", unreadable_letter)])
    wait_committed(infra_parts.bootstrap, service.group, sent)

    letters = {}
    deadline = time.monotonic() + 60
    while len(letters) < 3:
        status, body, _ = get_json(f"{service.url}/dead-letters?limit=10000")
        assert status == 200, body
        letters = {row["source_topic"]: row for row in body["rows"] if marker in row["payload"]}
        assert time.monotonic() < deadline, f"dead letters not in ClickHouse: {letters}"
        time.sleep(0.2)

    received = letters[RECEIVED]
    assert (received["reason"], received["consumer"], received["dlq_topic"]) == (
        "invalid_payload", "analytics", f"{RECEIVED}.dlq")
    assert received["payload"] == not_json.decode() and "JSON" in received["error"]
    assert received["offset"] == sent[TopicPartition(RECEIVED, received["partition"])]
    delivery = letters[DELIVERY]
    assert delivery["reason"] == "invalid_payload" and "recipient_domain" in delivery["error"]
    assert "张伟" in delivery["payload"]
    # A dead-letter topic has no dead-letter topic of its own: the letter is kept in the table directly.
    own = letters[f"{SCANNED}.dlq"]
    assert (own["dlq_topic"], own["reason"]) == (f"{SCANNED}.dlq", "invalid_payload")
    assert service.stop() == 0


def test_sigterm_writes_and_commits_the_open_batch_and_the_cli_then_reads_chdb_itself(infra_parts, start_analytics):
    work = Workload()
    # A batch that never fills nor times out by itself: only the stop can write it.
    service = start_analytics(ANALYTICS_BATCH_ROWS="1000000", ANALYTICS_BATCH_SECONDS="3600")
    sent = publish(infra_parts.bootstrap, work.items)
    deadline = time.monotonic() + 60
    while not all(get_json(f"{service.url}/healthz")[1]["consumed"].get(f"{tp.topic}:{tp.partition}", -1) > off
                  for tp, off in sent.items()):
        assert time.monotonic() < deadline, get_json(f"{service.url}/healthz")
        time.sleep(0.2)
    assert get_json(f"{service.url}/healthz")[1]["batches"] == 0

    # While the service holds the chDB path, a CLI pointed at a dead URL cannot read it: a clear error.
    dead_url = f"http://127.0.0.1:{infra.free_port()}"
    refused = stats_cli(service.env, "--json", "--url", dead_url)
    assert refused.returncode == 1 and refused.stdout == ""
    assert f"not reachable at {dead_url}" in refused.stderr and "cannot be read directly" in refused.stderr

    assert service.stop() == 0
    wait_committed(infra_parts.bootstrap, service.group, sent, timeout=5)
    assert '"event": "batch_written"' in service.output()

    # Nothing listens now: the CLI opens the chDB folder read-only by itself.
    for by in stats.VOLUME_BY:
        result = stats_cli(service.env, "--by", by, "--json")
        assert result.returncode == 0, result.stderr
        assert "read chdb://" in result.stderr
        document = json.loads(result.stdout)
        expected = {"account": work.expected_accounts, "unit": work.expected_units, "day": work.expected_day}[by]()
        assert rows_for(document, set(expected)) == expected

    # The tables hold what the events said, Vietnamese and Chinese intact.
    client = connect(f"chdb:///{Path(service.env['GOVMAIL_DATA_DIR']).resolve() / 'clickhouse'}", readonly=True)
    try:
        subjects = query_dicts(client, "SELECT subject, rcpt_count, direction FROM mail_received FINAL "
                                       "WHERE message_id = {m:String}", {"m": f"{work.rid}0001"})
        scanned = query_dicts(client, "SELECT action, symbols FROM mail_scanned FINAL WHERE message_id = {m:String}",
                              {"m": f"{work.rid}0003"})
    finally:
        client.close()
    assert subjects == [{"subject": "Báo cáo tháng 11 — 关于年度报告的通知", "rcpt_count": 2, "direction": "inbound"}]
    assert scanned == [{"action": "reject", "symbols": ["SPAM_GTUBE"]}]
