"""The health self-check report (R30): what the platform can tell about itself, gathered, rendered and mailed.

Consumer lag is measured from the data, not from the broker: Tansu reports wrong end offsets,
so the report says, per consumer group, how much mail waits for it (received but not scanned
after a grace time: the scanner's group; scanned but without any delivery outcome: delivery's)
and how old the newest event of each topic is (analytics' own freshness).
"""

from __future__ import annotations

import html
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from services.analytics import anomalies, stats
from services.analytics.period import Period
from services.analytics.rows import MAIN_TABLES
from services.analytics.warehouse import query_dicts
from services.common import ready
from services.common.settings import PlatformSettings

SERVICES = ("lifecycle", "analytics", "scanner", "delivery", "ingress")
GRACE_MINUTES = 5


def health_urls(platform: PlatformSettings) -> dict[str, str]:
    host = "127.0.0.1" if platform.host in ("", "0.0.0.0", "::") else platform.host
    base = platform.health_port_base
    return {
        "lifecycle": f"http://{host}:{platform.admin_port}/healthz",
        "analytics": f"http://{host}:{platform.analytics_port}/healthz",
        "scanner": f"http://{host}:{base}/healthz",
        "delivery": f"http://{host}:{base + 1}/healthz",
        "ingress": f"http://{host}:{base + 2}/healthz",
    }


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def probe(url: str, timeout: float = 2.0) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"unreachable ({type(exc).__name__})"


def liveness(platform: PlatformSettings, self_service: str = "analytics") -> list[dict[str, Any]]:
    """Per service: its readiness marker (and whether that pid lives) and its health endpoint's answer."""
    urls = health_urls(platform)
    result = []
    for service in SERVICES:
        marker = ready.marker(platform.run_dir, service)
        try:
            pid = int(marker.read_text().strip())
        except (FileNotFoundError, ValueError):
            pid = 0
        # The service writing this report answers for itself (its own HTTP loop may be busy with us).
        http = "self" if service == self_service and pid == os.getpid() else probe(urls[service])
        alive = bool(pid) and pid_alive(pid)
        result.append({"service": service, "ready_marker": bool(pid), "pid": pid, "pid_alive": alive, "health": http,
                       "ok": alive and (http in ("self", "HTTP 200"))})
    return result


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # removed while we walked
    return total


def disk(platform: PlatformSettings) -> dict[str, Any]:
    """Free space of the data file system and what each part of the data folder takes."""
    data = platform.data
    data.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(data)
    parts = {name: folder_bytes(data / name) for name in ("mail", "blobs", "spool", "clickhouse")}
    return {"total_bytes": usage.total, "used_bytes": usage.used, "free_bytes": usage.free,
            "used_share": round(usage.used / usage.total, 4) if usage.total else None, "parts": parts}


def mailbox_sizes(mail_root: Path) -> dict[str, int]:
    """On-disk size of every mailbox folder `mail_root/<domain>/<localpart>`, by address."""
    sizes: dict[str, int] = {}
    if not mail_root.is_dir():
        return sizes
    for domain in mail_root.iterdir():
        if domain.is_dir():
            for box in domain.iterdir():
                if box.is_dir():
                    sizes[f"{box.name}@{domain.name}"] = folder_bytes(box)
    return sizes


_LAG_SQL = """
WITH received AS (
    SELECT message_id, min(received_at) AS at FROM mail_received
    WHERE received_at >= {since:DateTime64(3, 'UTC')} AND received_at < {cutoff:DateTime64(3, 'UTC')}
    GROUP BY message_id
),
scanned AS (SELECT DISTINCT message_id FROM mail_scanned WHERE received_at >= {since:DateTime64(3, 'UTC')}),
to_deliver AS (
    SELECT message_id, min(received_at) AS at FROM mail_scanned
    WHERE received_at >= {since:DateTime64(3, 'UTC')} AND received_at < {cutoff:DateTime64(3, 'UTC')}
      AND action != 'reject'
    GROUP BY message_id
),
outcomes AS (SELECT DISTINCT message_id FROM mail_delivery WHERE occurred_at >= {since:DateTime64(3, 'UTC')})
SELECT 'govmail-scanner' AS group_, countIf(s.message_id = '') AS waiting,
       toString(minIf(r.at, s.message_id = '')) AS oldest
FROM received AS r LEFT JOIN scanned AS s ON s.message_id = r.message_id
UNION ALL
SELECT 'govmail-delivery', countIf(o.message_id = ''), toString(minIf(d.at, o.message_id = ''))
FROM to_deliver AS d LEFT JOIN outcomes AS o ON o.message_id = d.message_id
"""


def consumer_lag(client: Client, now: datetime, hours: int = 24) -> list[dict[str, Any]]:
    """Mail waiting for the scanner and delivery groups (older than the grace time), oldest first."""
    params = {"since": now - timedelta(hours=hours), "cutoff": now - timedelta(minutes=GRACE_MINUTES)}
    rows = query_dicts(client, _LAG_SQL, params)
    return [{"group": r["group_"], "waiting": int(r["waiting"]), "oldest": r["oldest"] if int(r["waiting"]) else ""}
            for r in rows]


def freshness(client: Client, now: datetime) -> list[dict[str, Any]]:
    """Per topic: the newest event analytics holds and its age in seconds (the analytics group's lag, at most)."""
    parts = " UNION ALL ".join(
        f"SELECT '{topic}' AS topic, count() AS events, max(occurred_at) AS newest FROM {spec.table}"
        for topic, spec in MAIN_TABLES.items())
    rows = query_dicts(client, parts)
    result = []
    for row in sorted(rows, key=lambda r: r["topic"]):
        newest = row["newest"].replace(tzinfo=UTC) if row["newest"].tzinfo is None else row["newest"]
        has = int(row["events"]) > 0
        result.append({"topic": row["topic"], "events": int(row["events"]),
                       "newest": newest.isoformat() if has else "",
                       "age_s": round((now - newest).total_seconds()) if has else None})
    return result


_DLQ_SQL = """
SELECT dlq_topic, count() AS letters, countIf(occurred_at >= {since:DateTime64(3, 'UTC')}) AS new_letters
FROM dead_letters FINAL GROUP BY dlq_topic ORDER BY dlq_topic
"""


def dlq_sizes(client: Client, since: datetime) -> list[dict[str, Any]]:
    return [{**r, "letters": int(r["letters"]), "new_letters": int(r["new_letters"])}
            for r in query_dicts(client, _DLQ_SQL, {"since": since})]


@dataclass
class HealthReport:
    generated_at: datetime
    period: Period
    services: list[dict[str, Any]]
    lag: list[dict[str, Any]]
    freshness: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    disk: dict[str, Any]
    largest_mailboxes: list[dict[str, Any]]
    flow: list[dict[str, Any]]
    threats: list[dict[str, Any]]
    attacked: list[dict[str, Any]]
    places: list[dict[str, Any]]
    sending: list[dict[str, Any]]
    inactive: list[dict[str, Any]]
    quota: list[dict[str, Any]] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """One line per thing an administrator should look at, for the subject and the top of the mail."""
        found = [f"service {s['service']} is down ({s['health']})" for s in self.services if not s["ok"]]
        found += [f"{g['group']}: {g['waiting']} messages waiting since {g['oldest']}" for g in self.lag if g["waiting"]]
        found += [f"{d['dlq_topic']}: {d['new_letters']} new dead letters" for d in self.dead_letters if d["new_letters"]]
        if self.disk["used_share"] and self.disk["used_share"] > 0.85:
            found.append(f"disk {self.disk['used_share']:.0%} full")
        found += [f"mailbox {q['account']} at {q['share']:.0%} of its quota" for q in self.quota]
        found += [f"{a['account']} attacked: {a['failures']} failed logins from {a['source_ips']} IPs" for a in self.attacked]
        found += [f"{s['account']} sent {s['sent']} messages on {s['day']} (usually {s['mean']:.1f})" for s in self.sending]
        return found

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("generated_at", "period")}
        return {"generated_at": self.generated_at.isoformat(), "period": self.period.as_dict(),
                "problems": self.problems, **data}


def gather(client: Client, platform: PlatformSettings, now: datetime | None = None, days: int = 1,
           tz: str = "Asia/Ho_Chi_Minh", quotas: dict[str, int] | None = None) -> HealthReport:
    """Everything the report shows; `quotas` maps addresses to their quota in octets (from the directory)."""
    now = now or datetime.now(UTC)
    period = Period.last_days(days, tz, now)
    sizes = mailbox_sizes(platform.mail_root)
    largest = sorted(({"account": a, "bytes": b} for a, b in sizes.items()), key=lambda r: -r["bytes"])[:10]
    quota = []
    for address, limit in (quotas or {}).items():
        used = sizes.get(address.lower(), 0)
        if limit and used / limit >= 0.8:
            quota.append({"account": address, "bytes": used, "quota": limit, "share": round(used / limit, 4)})
    return HealthReport(
        generated_at=now,
        period=period,
        services=liveness(platform),
        lag=consumer_lag(client, now),
        freshness=freshness(client, now),
        dead_letters=dlq_sizes(client, now - timedelta(days=days)),
        disk=disk(platform),
        largest_mailboxes=largest,
        flow=stats.traffic(client, "direction", period),
        threats=anomalies.threats(client, period, "day"),
        attacked=anomalies.brute_force(client, period, min_failures=10, limit=10),
        places=anomalies.unusual_places(client, period)[:20],
        sending=anomalies.abnormal_sending(client, period)[:20],
        inactive=anomalies.inactive(client, now),
        quota=sorted(quota, key=lambda q: -q["share"]),
    )


def table_html(title: str, rows: list[dict[str, Any]], empty: str = "none") -> str:
    head = f"<h2>{html.escape(title)}</h2>"
    if not rows:
        return head + f"<p>{html.escape(empty)}</p>"
    columns = list(rows[0])
    header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in columns) + "</tr>" for r in rows)
    return head + f"<table border='1' cellpadding='4' cellspacing='0'><tr>{header}</tr>{body}</table>"


def render(report: HealthReport) -> tuple[str, str, str]:
    """Subject, plain text and HTML of the report mail."""
    local = report.generated_at.astimezone(ZoneInfo(report.period.tz))
    problems = report.problems
    status = f"{len(problems)} vấn đề / problems" if problems else "OK"
    subject = f"[govmail] Báo cáo tự kiểm tra sức khỏe hệ thống — health self-check {local:%Y-%m-%d %H:%M}: {status}"
    text_lines = [subject, "", *(f"- {p}" for p in problems or ["Không có vấn đề. No problems found."])]
    disk_info = report.disk
    disk_rows = [{"part": k, "bytes": v} for k, v in disk_info["parts"].items()] + [
        {"part": "free on the file system", "bytes": disk_info["free_bytes"]}]
    sections = [
        f"<h1>{html.escape(subject)}</h1>",
        f"<p>Kỳ báo cáo / period: {report.period.start} – {report.period.end} ({html.escape(report.period.tz)})</p>",
        "<h2>Vấn đề / Problems</h2><ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in problems or ["none"]) + "</ul>",
        table_html("Dịch vụ / Service liveness", report.services),
        table_html("Độ trễ xử lý / Consumer lag (mail waiting per group)", report.lag),
        table_html("Sự kiện mới nhất / Newest event per topic (analytics lag)", report.freshness),
        table_html("Hàng đợi lỗi / Dead-letter queues", report.dead_letters),
        table_html(f"Ổ đĩa / Disk ({disk_info['used_share']:.0%} used)" if disk_info["used_share"] is not None
                   else "Disk", disk_rows),
        table_html("Hộp thư lớn nhất / Largest mailboxes", report.largest_mailboxes),
        table_html("Hộp thư gần đầy / Mailboxes near their quota", report.quota),
        table_html("Lưu lượng thư / Mail flow", report.flow),
        table_html("Thư rác, virus, lừa đảo / Spam, virus, phishing", report.threats),
        table_html("Tài khoản bị tấn công / Accounts under attack", report.attacked),
        table_html("Đăng nhập từ nơi lạ / Logins from new places", report.places),
        table_html("Gửi thư bất thường / Abnormal sending", report.sending),
        table_html("Tài khoản lâu không dùng / Long-inactive accounts", report.inactive),
    ]
    body = "<html><head><meta charset='utf-8'></head><body>" + "".join(sections) + "</body></html>"
    return subject, "\n".join(text_lines) + "\n", body
