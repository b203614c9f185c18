"""Runs the checks in order over one raw message, each within its time budget, and returns the verdict."""

from __future__ import annotations

import asyncio
import inspect
import time
from importlib.metadata import PackageNotFoundError, version

from schemas.events import MailInfo, Verdict
from services.common import logging as log
from services.scanner.check import Check, CheckTimeout, Findings
from services.scanner.checks import CHECKS
from services.scanner.config import ConfigError, ScannerConfig
from services.scanner.message import parse
from services.scanner.verdict import decide

logger = log.get(__name__)


def package_version() -> str:
    try:
        return version("govmail")
    except PackageNotFoundError:
        return "0+unknown"


class Pipeline:
    """The scanner's work on one message, without the bus: usable from the service, tests and benchmarks."""

    def __init__(self, config: ScannerConfig, checks: tuple[Check, ...] = CHECKS, budget: float = 2.0):
        described = {s for c in checks for s in c.symbols} | {
            f"CHECK_{kind}_{c.name.upper()}" for c in checks for kind in ("ERROR", "TIMEOUT")
        }
        missing = sorted(s for s in described if config.rule(s) is None)
        if missing:
            raise ConfigError(f"the scanner configuration does not describe: {', '.join(missing)}")
        self.config = config
        self.checks = checks
        self.budget = budget
        # Which code and which configuration decided: a verdict must be traceable to both.
        self.version = f"{package_version()}+config.{config.digest}"

    async def scan(self, raw: bytes, envelope: MailInfo | None = None) -> Verdict:
        """The verdict on `raw`; checks that judge the SMTP session (SPF, direction) read `envelope`."""
        mail = await asyncio.to_thread(parse, raw, envelope)
        found: list[tuple[str, list[str]]] = []
        check_ms: dict[str, float] = {}
        for check in self.checks:
            findings = Findings(deadline=time.monotonic() + self.budget)
            started = time.perf_counter()
            try:
                if inspect.iscoroutinefunction(check.run):
                    await asyncio.wait_for(check.run(mail, findings), self.budget)
                else:
                    await asyncio.wait_for(asyncio.to_thread(check.run, mail, findings), self.budget)
                failure = None
            except (TimeoutError, CheckTimeout):
                # A check that cannot be stopped keeps its thread until it returns; it can no
                # longer change this verdict (close() below).
                failure = ("CHECK_TIMEOUT", f"budget {self.budget:g}s")
                logger.warning("check_timeout", check=check.name, budget=self.budget)
            except Exception as exc:
                failure = ("CHECK_ERROR", f"{type(exc).__name__}: {exc}"[:300])
                logger.warning("check_failed", check=check.name, error=failure[1])
            check_ms[check.name] = round((time.perf_counter() - started) * 1000, 3)
            found.extend(findings.close())
            if failure is not None:
                found.append((f"{failure[0]}_{check.name.upper()}", [failure[1]]))
        return decide(self.config, found, check_ms, self.version)
