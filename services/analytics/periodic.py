"""Semi-annual and annual reports per unit, rolled up the unit tree (communes → district → province), R33.

The unit tree is the directory's (Redis, written by lifecycle): `units_key(domain)` lists the
codes, `unit_key(domain, code)` holds each `Unit` with its `parent`. Every unit's figures are its
own accounts' plus those of every unit below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from services.analytics import efficiency, stats
from services.analytics.period import BadParameter, Period
from services.common.directory import Unit, unit_key, units_key

# Deadlines of R33: units report by 5 December, the centre to the province by 15 December.
UNIT_DEADLINE = (12, 5)
PROVINCE_DEADLINE = (12, 15)


def report_period(kind: str, year: int, tz: str) -> Period:
    """`h1` (January–June), `h2` (July–December) or `year`."""
    spans = {"h1": (date(year, 1, 1), date(year, 6, 30)), "h2": (date(year, 7, 1), date(year, 12, 31)),
             "year": (date(year, 1, 1), date(year, 12, 31))}
    if kind not in spans:
        raise BadParameter("kind", f"kind must be h1, h2 or year, not {kind!r}")
    return Period(*spans[kind], tz)


async def load_units(redis: Any, domain: str) -> dict[str, Unit]:
    """Every unit of the domain, by code."""
    codes = sorted(await redis.smembers(units_key(domain)))
    units = {}
    for code in codes:
        raw = await redis.hgetall(unit_key(domain, code))
        if raw:
            units[code] = Unit.model_validate(raw)
    return units


@dataclass
class UnitTree:
    units: dict[str, Unit]
    children: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for code, unit in sorted(self.units.items()):
            if unit.parent and unit.parent in self.units:
                self.children.setdefault(unit.parent, []).append(code)

    @property
    def roots(self) -> list[str]:
        return sorted(c for c, u in self.units.items() if not u.parent or u.parent not in self.units)

    def below(self, code: str) -> list[str]:
        """The unit and every unit under it, depth first (a cycle in bad data is cut)."""
        seen: list[str] = []
        stack = [code]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.append(current)
            stack.extend(reversed(self.children.get(current, [])))
        return seen

    def depth(self, code: str, root: str) -> int:
        level, current = 0, code
        while current != root and current in self.units and level < 50:
            current = self.units[current].parent
            level += 1
        return level


COUNTED = ("received", "sent", "delivered", "bounced", "spam", "virus", "phishing", "quarantined")


def add_up(rows: Iterable[dict[str, Any]], keys: Iterable[str]) -> dict[str, int]:
    rows = list(rows)
    return {k: sum(int(r.get(k) or 0) for r in rows) for k in keys}


@dataclass
class PeriodicReport:
    kind: str
    period: Period
    root: str
    tree: UnitTree
    rows: list[dict[str, Any]]  # one per unit of the subtree, depth first, figures rolled up
    monthly: list[dict[str, Any]]  # the whole subtree per month

    def name_of(self, code: str) -> str:
        unit = self.tree.units.get(code)
        return unit.name if unit else code

    @property
    def title(self) -> str:
        label = {"h1": "6 tháng đầu năm / first half", "h2": "6 tháng cuối năm / second half",
                 "year": "cả năm / annual"}[self.kind]
        return f"Báo cáo {label} {self.period.start.year} — {self.name_of(self.root)}"


def build(client: Client, tree: UnitTree, root: str, kind: str, year: int, tz: str, as_of: date | None = None
          ) -> PeriodicReport:
    """The report of `root` and every unit below it; a period still running is counted up to `as_of` (default today)."""
    if root not in tree.units:
        raise BadParameter("unit", f"no unit {root!r} in the directory")
    full = report_period(kind, year, tz)
    last = as_of or datetime.now(ZoneInfo(tz)).date()
    # Compliance counts working days that have passed; days still to come are not yet missed.
    period = Period(full.start, min(full.end, max(last, full.start)), tz)
    codes = tree.below(root)
    own_traffic = {r["unit"]: r for r in stats.traffic(client, "unit", period, codes)}
    own_efficiency = {r["unit"]: r for r in efficiency.efficiency(client, "unit", period)}
    own_compliance = {r["unit"]: r for r in efficiency.compliance(client, "unit", period)}
    rows = []
    for code in codes:
        subtree = tree.below(code)
        traffic = add_up((own_traffic[c] for c in subtree if c in own_traffic), COUNTED)
        eff = add_up((own_efficiency[c] for c in subtree if c in own_efficiency),
                     ("delivered", "opened", "replied", "opened_same_working_day"))
        comp = add_up((own_compliance[c] for c in subtree if c in own_compliance),
                      ("mailboxes", "mailbox_days", "compliant_days"))
        own = own_efficiency.get(code, {})
        rows.append({
            "unit": code, "name": tree.units[code].name, "level": tree.depth(code, root), "units": len(subtree),
            **traffic,
            "opened": eff["opened"], "replied": eff["replied"],
            "same_working_day_share": round(eff["opened_same_working_day"] / eff["delivered"], 4)
            if eff["delivered"] else None,
            "open_median_s": own.get("open_median_s"),
            "mailboxes": comp["mailboxes"], "mailbox_days": comp["mailbox_days"],
            "compliant_days": comp["compliant_days"],
            "compliance_rate": round(comp["compliant_days"] / comp["mailbox_days"], 4) if comp["mailbox_days"] else None,
        })
    found = {m["month"]: m for m in stats.traffic(client, "month", period, codes)}
    # Every month of the period, empty ones too, so the charts show the whole half-year or year.
    months = sorted({f"{period.start.year}-{m:02d}" for m in range(period.start.month, period.end.month + 1)} | set(found))
    monthly = [found.get(m, {"month": m, **dict.fromkeys(stats.TRAFFIC_COLUMNS, 0)}) for m in months]
    return PeriodicReport(kind, period, root, tree, rows, monthly)
