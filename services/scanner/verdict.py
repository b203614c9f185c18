"""Turns the symbols the checks found into a verdict, with the scores and thresholds of the configuration."""

from __future__ import annotations

from collections import defaultdict

from schemas.events import Action, Symbol, Verdict
from services.scanner.config import SEVERITY, UNKNOWN, ScannerConfig


def decide(
    config: ScannerConfig, found: list[tuple[str, list[str]]], check_ms: dict[str, float], version: str
) -> Verdict:
    options: dict[str, list[str]] = {}
    for name, opts in found:  # two checks may raise the same symbol: one symbol, both reasons
        merged = options.setdefault(name, [])
        merged.extend(o for o in opts if o not in merged)
    symbols: list[Symbol] = []
    group_totals: dict[str, float] = defaultdict(float)
    floor: Action = "accept"
    for name, opts in options.items():
        rule = config.rule(name) or UNKNOWN
        symbols.append(Symbol(name=name, score=rule.score, group=rule.group, options=opts))
        group_totals[rule.group] += rule.score
        if rule.action is not None and SEVERITY[rule.action] > SEVERITY[floor]:
            floor = rule.action
    score = round(sum(config.capped(group, total) for group, total in group_totals.items()), 3)
    action = max(config.actions.action_for(score), floor, key=SEVERITY.__getitem__)
    return Verdict(
        action=action,
        score=score,
        required_score=config.actions.add_header,
        symbols=symbols,
        scanner_version=version,
        check_ms=check_ms,
    )
