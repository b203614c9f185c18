"""A known week of mail, logins and administration, as plain records and as bus events, with its statistics worked out in Python.

The ground truth here follows the definitions of docs/analytics.md with plain loops over the
plan; it shares no code with the SQL of services/analytics.
"""

from __future__ import annotations

import calendar
import math
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas import events
from schemas.events import derived_event_id
from schemas.registry import ACCOUNTS, ACTIVITY, AUDIT, AUTH, DELIVERY, RECEIVED, SCANNED
from tests.analytics.support import Item

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass
class Mail:
    number: int
    sender: str
    rcpts: list[str]
    direction: str
    at: datetime
    action: str = "accept"
    groups: list[str] = field(default_factory=list)
    # recipient -> [(status, time)], in order
    outcomes: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)
    size: int = 3000
    message_id: str = ""

    @property
    def local_rcpts(self) -> list[str]:
        return [] if self.direction == "outbound" else self.rcpts


@dataclass
class Ledger:
    rid: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    items: list[Item] = field(default_factory=list)
    mails: list[Mail] = field(default_factory=list)
    activity: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # (mailbox, message_id, action, at)
    logins: list[tuple[str, str, str, str, datetime]] = field(default_factory=list)  # (user, ip, outcome, place, at)
    audits: list[tuple[str, str, str, str]] = field(default_factory=list)  # (admin, action, target, outcome)

    def __post_init__(self) -> None:
        # A Monday of its own far ahead (before 2080: the 10-year TTLs must stay within DateTime):
        # no other test's mail shares its days, and no TTL drops it.
        start = date(2070, 1, 6) + timedelta(days=7 * (int(self.rid, 16) % 500))
        self.monday = start - timedelta(days=start.weekday())
        self.domain = f"r{self.rid}.tiengiang.gov.vn"
        self.province, self.district, self.commune, self.office = (
            f"tinh{self.rid}", f"caibe{self.rid}", f"hoakhanh{self.rid}", f"stttt{self.rid}")
        self.unit_names = {
            self.province: "Ủy ban nhân dân tỉnh Tiền Giang",
            self.district: "Huyện Cái Bè 蔡贝县",
            self.commune: "Xã Hòa Khánh 和庆社",
            self.office: "Sở Thông tin và Truyền thông 信息传媒厅",
        }
        self.parents = {self.province: "", self.district: self.province, self.commune: self.district,
                        self.office: self.province}
        self.hieu = f"leminhhieu@{self.domain}"
        self.anh = f"nguyenvananh@{self.domain}"
        self.ung = f"dangthiung@{self.domain}"
        self.wei = f"zhangwei@{self.domain}"
        self.vanthu = f"vanthu.caibe@{self.domain}"  # a unit mailbox
        self.accounts = {self.hieu: (self.office, "personal", "Lê Minh Hiếu"),
                         self.anh: (self.district, "personal", "Nguyễn Văn Anh"),
                         self.ung: (self.commune, "personal", "Đặng Thị Ưng"),
                         self.wei: (self.commune, "personal", "张伟"),
                         self.vanthu: (self.district, "unit", "Văn thư huyện Cái Bè")}
        self.outsider = f"partner@{self.rid}.example.cn"
        self.created_at = self.at(-400, 8, 0)
        self._build()

    # --- time: local wall clock of the province, as UTC ---------------------------------
    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        local = datetime(self.monday.year, self.monday.month, self.monday.day, hour, minute, tzinfo=TZ)
        return (local + timedelta(days=day)).astimezone(UTC)

    @property
    def period(self) -> tuple[date, date]:
        return self.monday, self.monday + timedelta(days=6)

    # --- the plan --------------------------------------------------------------------------
    def _build(self) -> None:
        for address, (unit, kind, name) in self.accounts.items():
            self.items.append((ACCOUNTS, events.AccountEvent(
                producer="lifecycle", occurred_at=self.created_at, kind="account_created", domain=self.domain,
                address=address, unit=unit, actor="admin@tiengiang.gov.vn",
                details={"kind": kind, "service_class": "standard", "display_name": name})))
        d = self.at
        # Monday: inbound mail to three, all delivered; opened at known times, one replied.
        m1 = self.mail(self.outsider, [self.hieu, self.anh, self.ung], "inbound", d(0, 8, 30),
                       outcomes="delivered", delivered_after=timedelta(seconds=20))
        self.open(self.hieu, m1, d(0, 9, 0))
        self.open(self.hieu, m1, d(0, 14, 0))  # a second opening: the first one counts
        self.reply(self.hieu, m1, d(0, 15, 30))
        self.open(self.anh, m1, d(1, 10, 0))  # the next day: not the same working day
        self.open(self.ung, m1, d(0, 11, 45))
        self.open(self.ung, m1, d(0, 13, 5))
        # Monday: GTUBE spam rejected; spam to Junk (delivered); EICAR quarantined; phishing rejected.
        self.mail(self.outsider, [self.hieu], "inbound", d(0, 9, 10), action="reject", groups=["spam"])
        m3 = self.mail(self.outsider, [self.anh, self.wei], "inbound", d(0, 10, 0), action="add_header",
                       groups=["spam"], outcomes="delivered", delivered_after=timedelta(seconds=5))
        self.open(self.wei, m3, d(0, 16, 0))
        self.mail(self.outsider, [self.ung], "inbound", d(0, 11, 0), action="quarantine", groups=["virus"],
                  outcomes="quarantined", delivered_after=timedelta(seconds=3))
        self.mail(self.outsider, [self.vanthu], "inbound", d(1, 9, 0), action="reject", groups=["phishing", "spam"])
        # Tuesday: outbound delivered; outbound deferred then bounced; internal delivered and opened.
        self.mail(self.hieu, [self.outsider], "outbound", d(1, 9, 30), outcomes="delivered",
                  delivered_after=timedelta(minutes=1))
        m7 = self.mail(self.anh, [f"nobody@{self.rid}.example.com"], "outbound", d(1, 10, 0))
        self.outcome(m7, m7.rcpts[0], "deferred", d(1, 10, 1))
        self.outcome(m7, m7.rcpts[0], "bounced", d(1, 12, 0))
        m8 = self.mail(self.ung, [self.vanthu, self.wei], "internal", d(1, 14, 0), outcomes="delivered",
                       delivered_after=timedelta(seconds=2))
        self.open(self.vanthu, m8, d(1, 15, 0))
        self.reply(self.vanthu, m8, d(2, 8, 0))
        self.open(self.wei, m8, d(1, 14, 10))
        self.open(self.wei, m3, d(1, 9, 0))  # opened again on Tuesday morning: a check, not a first opening
        # Friday evening delivery, opened Monday: the same working day (the next Monday) for Saturday mail only.
        m9 = self.mail(self.outsider, [self.hieu, self.anh], "inbound", d(4, 18, 0), outcomes="delivered",
                       delivered_after=timedelta(seconds=10))
        self.open(self.hieu, m9, d(4, 18, 30))
        m10 = self.mail(self.outsider, [self.anh], "inbound", d(5, 10, 0), outcomes="delivered",
                        delivered_after=timedelta(seconds=10))
        self.open(self.anh, m10, d(7, 8, 0))  # Saturday mail opened Monday morning: same working day
        # Recalled mail: an activity that is neither an opening nor a reply.
        self.activity.append((self.hieu, m9.message_id, "recalled", d(4, 18, 40)))
        # Abnormal sending: Nguyễn Văn Anh sends 2 a day for ten days before, then 25 on Wednesday.
        for back in range(1, 11):
            for k in range(2):
                self.mail(self.anh, [self.outsider], "outbound", d(2 - back, 9, 10 + k))
        for k in range(25):
            self.mail(self.anh, [self.outsider], "outbound", d(2, 9, 0) + timedelta(minutes=k))
        # Logins: a brute force on Lê Minh Hiếu from three IPs; places for Đặng Thị Ưng.
        for k in range(12):
            self.login(self.hieu, f"198.51.100.{k % 3 + 1}", "failure", "", d(2, 2, k))
        self.login(self.hieu, "198.51.100.1", "lockout", "", d(2, 2, 13))
        self.login(self.ung, "203.162.4.10", "success", "Tiền Giang", d(-20, 8, 0))
        self.login(self.ung, "203.162.4.11", "success", "Tiền Giang", d(0, 8, 0))
        self.login(self.ung, "113.160.1.1", "success", "Bắc Kạn", d(3, 8, 0))  # new place
        self.login(self.wei, "203.162.4.12", "success", "Tiền Giang", d(-200, 8, 0))  # 6+ months idle by then
        self.login(self.hieu, "203.162.4.13", "success", "", d(1, 8, 0))
        self.login(self.anh, "203.162.4.14", "success", "Tiền Giang", d(1, 8, 0))
        # The unit mailbox never logs in: idle since its creation (400 days: past 12 months).
        for admin, action, target in [("admin@tiengiang.gov.vn", "account.create", self.hieu),
                                      ("admin@tiengiang.gov.vn", "account.lock", self.wei),
                                      ("quantri.caibe@tiengiang.gov.vn", "unit.add", self.commune)]:
            self.audit(admin, action, target, "ok", d(1, 11, 0))
        self.audit("quantri.caibe@tiengiang.gov.vn", "account.delete", self.hieu, "denied", d(1, 11, 5))

    def mail(self, sender: str, rcpts: list[str], direction: str, at: datetime, action: str = "accept",
             groups: list[str] | None = None, outcomes: str | None = None,
             delivered_after: timedelta = timedelta(seconds=1), number_hint: bool = False) -> Mail:
        number = len(self.mails) + 1
        mail = Mail(number, sender, rcpts, direction, at, action, groups or [], size=3000 + number,
                    message_id=f"{self.rid}m{number:05d}")
        self.mails.append(mail)
        if outcomes:
            for rcpt in rcpts:
                self.outcome(mail, rcpt, outcomes, at + delivered_after)
        return mail

    def outcome(self, mail: Mail, rcpt: str, status: str, at: datetime) -> None:
        mail.outcomes.setdefault(rcpt, []).append((status, at))

    def open(self, mailbox: str, mail: Mail, at: datetime) -> None:
        self.activity.append((mailbox, mail.message_id, "opened", at))

    def reply(self, mailbox: str, mail: Mail, at: datetime) -> None:
        self.activity.append((mailbox, mail.message_id, "replied", at))

    def login(self, user: str, ip: str, outcome: str, place: str, at: datetime) -> None:
        self.logins.append((user, ip, outcome, place, at))

    def audit(self, admin: str, action: str, target: str, outcome: str, at: datetime) -> None:
        self.audits.append((admin, action, target, outcome))
        self.items.append((AUDIT, events.AdminAudit(producer="lifecycle", occurred_at=at, admin=admin, action=action,
                                                    target=target, outcome=outcome, details={"lý do": "kiểm tra"})))

    def unit_of(self, address: str) -> str:
        return self.accounts[address][0]

    # --- the events --------------------------------------------------------------------------
    def events(self) -> list[Item]:
        items = list(self.items)
        for mail in self.mails:
            items += self.mail_events(mail)
        for mailbox, message_id, action, at in self.activity:
            items.append((ACTIVITY, events.MailboxActivity(
                producer="webmail", occurred_at=at, message_id=message_id, mailbox=mailbox,
                unit=self.unit_of(mailbox), actor=mailbox, action=action)))
        for user, ip, outcome, place, at in self.logins:
            items.append((AUTH, events.AuthEvent(producer="webmail", occurred_at=at, username=user, ip=ip,
                                                 service="webmail", outcome=outcome, mechanism="password",
                                                 reason="" if outcome == "success" else "bad password",
                                                 place=place)))
        return items

    def mail_events(self, mail: Mail) -> list[Item]:
        local_sender = mail.direction != "inbound"
        info = events.MailInfo(
            mail_from=mail.sender, rcpt_to=mail.rcpts, size=mail.size,
            blob=events.BlobRef(sha256="cd" * 32, size=mail.size, uri="file:///data/blobs/cd"),
            listener="submission" if local_sender else "mx", client_ip="203.162.4.191",
            header_from=mail.sender, subject=f"Công văn số {mail.number} — 第{mail.number}号文件",
            sender_domain=mail.sender.rpartition("@")[2],
            sender_unit=self.unit_of(mail.sender) if local_sender else None,
            direction=mail.direction, received_at=mail.at)
        received = events.MailReceived(producer="ingress", occurred_at=mail.at, message_id=mail.message_id,
                                       mail=info)
        symbols = [events.Symbol(name=f"{g.upper()}_TEST", score=10.0, group=g) for g in mail.groups]
        verdict = events.Verdict(action=mail.action, score=10.0 * len(symbols), required_score=6.0, symbols=symbols,
                                 scanner_version="ledger")
        scanned = events.MailScanned(event_id=derived_event_id("scan", received.event_id), producer="scanner",
                                     occurred_at=mail.at + timedelta(seconds=1), trace_id=received.trace_id,
                                     message_id=received.message_id, mail=info, verdict=verdict)
        items: list[Item] = [(RECEIVED, received), (SCANNED, scanned)]
        for rcpt, outcomes in mail.outcomes.items():
            for attempt, (status, at) in enumerate(outcomes, start=1):
                items.append((DELIVERY, events.MailDelivery(
                    event_id=derived_event_id("delivery", received.message_id or "", rcpt, status, str(attempt)),
                    producer="delivery", occurred_at=at, trace_id=received.trace_id, message_id=received.message_id,
                    recipient=rcpt, recipient_domain=rcpt.rpartition("@")[2],
                    recipient_unit=self.unit_of(rcpt) if rcpt in self.accounts else None,
                    mail_from=mail.sender, sender_unit=info.sender_unit, direction=mail.direction, status=status,
                    final=status != "deferred", attempt=attempt, size=mail.size, action=mail.action)))
        return items

    # --- ground truth -----------------------------------------------------------------------
    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(TZ).date()

    def in_period(self, moment: datetime) -> bool:
        return self.period[0] <= self.local_day(moment) <= self.period[1]

    def traffic(self) -> dict[str, Counter]:
        """Per account: the columns of `traffic`, by the definitions of docs/analytics.md."""
        per: dict[str, Counter] = defaultdict(Counter)
        for mail in self.mails:
            if not self.in_period(mail.at):
                continue
            for rcpt in mail.local_rcpts:
                per[rcpt]["received"] += 1
                per[rcpt]["received_bytes"] += mail.size
            if mail.direction != "inbound":
                per[mail.sender]["sent"] += 1
                per[mail.sender]["sent_bytes"] += mail.size
            concerned = [mail.sender] if mail.direction == "outbound" else mail.rcpts
            for account in concerned:
                per[account]["spam"] += mail.action != "accept" and "spam" in mail.groups
                per[account]["virus"] += "virus" in mail.groups
                per[account]["phishing"] += "phishing" in mail.groups
        for mail in self.mails:
            for rcpt, outcomes in mail.outcomes.items():
                account = mail.sender if mail.direction == "outbound" else rcpt
                for status, at in outcomes:
                    if self.in_period(at):
                        per[account][status] += 1
        return {a: c for a, c in per.items() if a in self.accounts}

    def deliveries(self) -> list[tuple[str, Mail, datetime]]:
        return [(rcpt, mail, outcomes[0][1]) for mail in self.mails if mail.direction != "outbound"
                for rcpt, outcomes in mail.outcomes.items() if outcomes[0][0] == "delivered"
                and self.in_period(outcomes[0][1])]

    def first(self, mailbox: str, mail: Mail, action: str) -> datetime | None:
        times = [at for box, mid, act, at in self.activity
                 if box == mailbox and mid == mail.message_id and act == action]
        return min(times) if times else None

    def efficiency(self) -> dict[str, dict]:
        per: dict[str, dict] = {}
        for rcpt, mail, delivered in self.deliveries():
            row = per.setdefault(rcpt, {"delivered": 0, "opened": 0, "replied": 0, "same": 0, "opens": [],
                                        "replies": []})
            row["delivered"] += 1
            opened, replied = self.first(rcpt, mail, "opened"), self.first(rcpt, mail, "replied")
            day = self.local_day(delivered)
            working = day + timedelta(days={5: 2, 6: 1}.get(day.weekday(), 0))
            if opened:
                row["opened"] += 1
                row["opens"].append(max((opened - delivered).total_seconds(), 0))
                row["same"] += self.local_day(opened) <= working
            if replied:
                row["replied"] += 1
                row["replies"].append(max((replied - delivered).total_seconds(), 0))
        return per

    def compliance(self, noon: int = 12) -> dict[str, dict[str, int]]:
        """Per mailbox: working days, mornings and afternoons checked, days complied."""
        result = {}
        days = [self.monday + timedelta(days=k) for k in range(7) if k < 5]
        for mailbox, (_, kind, _) in self.accounts.items():
            row = {"mailbox_days": 0, "morning": 0, "afternoon": 0, "compliant": 0}
            for day in days:
                checks = [at.astimezone(TZ) for box, _, act, at in self.activity
                          if box == mailbox and act in ("opened", "replied") and self.local_day(at) == day]
                morning = any(c.hour < noon for c in checks)
                afternoon = any(c.hour >= noon for c in checks)
                row["mailbox_days"] += 1
                row["morning"] += morning
                row["afternoon"] += afternoon
                row["compliant"] += (morning or afternoon) if kind == "unit" else (morning and afternoon)
            result[mailbox] = row
        return result

    def threats(self) -> dict[str, Counter]:
        per: dict[str, Counter] = defaultdict(Counter)
        for mail in self.mails:
            day = self.local_day(mail.at).isoformat()
            per[day]["scanned"] += 1
            per[day]["spam"] += mail.action != "accept" and "spam" in mail.groups
            per[day]["virus"] += "virus" in mail.groups
            per[day]["phishing"] += "phishing" in mail.groups
            per[day]["rejected"] += mail.action == "reject"
            per[day]["quarantined"] += mail.action == "quarantine"
        return per

    def attacked(self, min_failures: int) -> dict[str, tuple[int, int, dict[str, int]]]:
        failures: dict[str, Counter] = defaultdict(Counter)
        lockouts: Counter = Counter()
        for user, ip, outcome, _, at in self.logins:
            if not self.in_period(at):
                continue
            if outcome == "failure":
                failures[user][ip] += 1
            elif outcome in ("lockout", "blocked"):
                lockouts[user] += 1
        return {u: (sum(c.values()), lockouts[u], dict(c)) for u, c in failures.items()
                if sum(c.values()) >= min_failures}

    def new_places(self) -> set[tuple[str, str]]:
        seen: dict[str, set[str]] = defaultdict(set)
        found = set()
        for user, _, outcome, place, at in sorted(self.logins, key=lambda x: x[4]):
            if outcome != "success" or not place:
                continue
            if seen[user] and place not in seen[user] and self.in_period(at):
                found.add((user, place))
            seen[user].add(place)
        return found

    def sending_spikes(self, window: int = 30, sigmas: float = 3.0, min_sent: int = 10) -> set[tuple[str, str, int]]:
        daily: dict[str, Counter] = defaultdict(Counter)
        for mail in self.mails:
            if mail.direction != "inbound":
                daily[mail.sender][self.local_day(mail.at)] += 1
        found = set()
        for account, counts in daily.items():
            for day, sent in counts.items():
                if not self.in_period(datetime(day.year, day.month, day.day, 12, tzinfo=TZ)):
                    continue
                history = [counts.get(day - timedelta(days=k), 0) for k in range(1, window + 1)]
                mean = sum(history) / window
                sd = math.sqrt(max(sum(h * h for h in history) / window - mean * mean, 0))
                if sent >= min_sent and sent > mean + sigmas * sd:
                    found.add((account, day.isoformat(), sent))
        return found

    def inactive(self, now: datetime, warn_days: int = 30) -> dict[str, str]:
        def add_months(moment: datetime, months: int) -> datetime:
            # As ClickHouse's addMonths: the same day of the month, or the month's last day.
            month = moment.month - 1 + months
            year, month = moment.year + month // 12, month % 12 + 1
            return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))

        result = {}
        for account in self.accounts:
            logins = [at for user, _, outcome, _, at in self.logins if user == account and outcome == "success"]
            since = max(logins) if logins else self.created_at
            warn = timedelta(days=warn_days)
            if add_months(since, 12) <= now:
                result[account] = "over_12_months"
            elif add_months(since, 12) - warn <= now:
                result[account] = "approaching_12_months"
            elif add_months(since, 6) <= now:
                result[account] = "over_6_months"
            elif add_months(since, 6) - warn <= now:
                result[account] = "approaching_6_months"
        return result
