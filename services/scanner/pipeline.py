"""Runs the checks in order over one raw message, each within its time budget, and returns the verdict."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from schemas.events import MailInfo, Verdict
from services.common import logging as log
from services.scanner.check import Check, CheckTimeout, Findings
from services.scanner.checks import CHECKS
from services.scanner.config import ConfigError, ScannerConfig
from services.scanner.message import ParsedMail, parse
from services.scanner.verdict import decide

logger = log.get(__name__)


def package_version() -> str:
    try:
        return version("govmail")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class Outcome:
    """What one check left: its findings, how it failed if it did, how long it took."""

    check: Check
    found: list[tuple[str, list[str]]]
    failure: tuple[str, str] | None
    ms: float


def run_sync(check: Check, mail: ParsedMail, findings: Findings, budget: float) -> tuple[str, str] | None:
    try:
        check.run(mail, findings)
    except CheckTimeout:
        logger.warning("check_timeout", check=check.name, budget=budget)
        return ("CHECK_TIMEOUT", f"budget {budget:g}s")
    except Exception as exc:
        return ("CHECK_ERROR", f"{type(exc).__name__}: {exc}"[:300])
    return None


@dataclass
class Batch:
    """Consecutive plain checks run one after another in one worker thread.

    One thread hop per message instead of one per check: at hundreds of messages a second the hops
    cost more than the cheap checks. The event loop watches the check in progress and abandons it
    (CHECK_TIMEOUT) when it overruns its budget; the thread then stops after it, and the checks
    still to run go to a new thread.
    """

    checks: list[Check]
    budget: float
    mail: ParsedMail | None = None
    # Read (when a reader of the blob) and parsed first, in the thread, when mail is None.
    source: tuple[bytes | Callable[[], bytes], MailInfo | None] = (b"", None)
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: list[Outcome] = field(default_factory=list)
    current: Findings | None = None
    started: float = field(default_factory=time.perf_counter)  # of the check in progress (at first: the batch)
    abandoned: bool = False

    def work(self) -> None:
        if self.mail is None:
            raw, envelope = self.source
            self.mail = parse(raw if isinstance(raw, bytes) else raw(), envelope)
        mail = self.mail
        for check in self.checks[len(self.outcomes):]:
            with self.lock:
                if self.abandoned:
                    return
                self.current = Findings(deadline=time.monotonic() + self.budget)
                self.started = time.perf_counter()
            failure = run_sync(check, mail, self.current, self.budget)
            with self.lock:
                if self.abandoned:  # the loop gave up on this check and recorded its timeout
                    return
                ms = round((time.perf_counter() - self.started) * 1000, 3)
                self.outcomes.append(Outcome(check, self.current.close(), failure, ms))
                self.current = None

    def abandon_if_overrun(self) -> Outcome | None:
        """The check in progress, as timed out, if it has overrun its budget; the thread is abandoned."""
        with self.lock:
            if self.current is None or time.perf_counter() - self.started < self.budget:
                return None
            self.abandoned = True
            check = self.checks[len(self.outcomes)]
            logger.warning("check_timeout", check=check.name, budget=self.budget)
            ms = round((time.perf_counter() - self.started) * 1000, 3)
            return Outcome(check, self.current.close(), ("CHECK_TIMEOUT", f"budget {self.budget:g}s"), ms)


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
        # Plain checks (CPU work) run in a worker thread, coroutine checks (network look-ups) on the loop.
        self.plain = [c for c in checks if not inspect.iscoroutinefunction(c.run)]
        self.network = [c for c in checks if inspect.iscoroutinefunction(c.run)]
        self.position = {c.name: i for i, c in enumerate(checks)}
        self.budget = budget
        # Which code and which configuration decided: a verdict must be traceable to both.
        self.version = f"{package_version()}+config.{config.digest}"

    async def run_batch(self, batch: Batch) -> list[Outcome]:
        outcomes: list[Outcome] = []
        while True:
            # As asyncio.to_thread (the log context goes along), without a task wrapped around it.
            done = asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, batch.work)
            timed_out = None
            while not done.done() and timed_out is None:
                # Wake when the check in progress would reach its budget, or when the batch ends.
                await asyncio.wait([done], timeout=max(batch.started + self.budget - time.perf_counter(), 0.005))
                timed_out = batch.abandon_if_overrun() if not done.done() else None
            with batch.lock:
                outcomes += batch.outcomes
                rest = batch.checks[len(batch.outcomes) + (timed_out is not None):]
            if timed_out is None:
                await done  # the thread's own exceptions, if any, surface here
                return outcomes
            outcomes.append(timed_out)
            if not rest:
                return outcomes
            batch = Batch(rest, self.budget, batch.mail)

    async def run_async(self, check: Check, mail: ParsedMail) -> Outcome:
        findings = Findings(deadline=time.monotonic() + self.budget)
        started = time.perf_counter()
        failure = None
        try:
            # In this task rather than a new one (wait_for): most network checks have nothing to
            # look up for most mail, and a task per check per message adds up.
            async with asyncio.timeout(self.budget):
                await check.run(mail, findings)  # type: ignore[misc]
        except (TimeoutError, CheckTimeout):
            failure = ("CHECK_TIMEOUT", f"budget {self.budget:g}s")
            logger.warning("check_timeout", check=check.name, budget=self.budget)
        except Exception as exc:
            failure = ("CHECK_ERROR", f"{type(exc).__name__}: {exc}"[:300])
        return Outcome(check, findings.close(), failure, round((time.perf_counter() - started) * 1000, 3))

    async def scan(self, raw: bytes | Callable[[], bytes], envelope: MailInfo | None = None) -> Verdict:
        """The verdict on `raw`; checks that judge the SMTP session (SPF, direction) read `envelope`.

        `raw` may be a function that reads the message (from the blob store): it is called in the
        worker thread, which then parses the message and runs every plain check in their order,
        one thread hop in all. The network checks run after them on the loop, in their order.
        The verdict lists symbols and check times in the order of the checks, whichever ran first.
        Errors of the reader propagate.
        """
        batch = Batch(self.plain, self.budget, None, (raw, envelope))
        outcomes = await self.run_batch(batch)
        for check in self.network:
            outcomes.append(await self.run_async(check, batch.mail))  # type: ignore[arg-type]
        outcomes.sort(key=lambda o: self.position[o.check.name])
        found: list[tuple[str, list[str]]] = []
        check_ms: dict[str, float] = {}
        for outcome in outcomes:
            check_ms[outcome.check.name] = outcome.ms
            found.extend(outcome.found)
            if outcome.failure is not None:
                kind, why = outcome.failure
                if kind == "CHECK_ERROR":
                    logger.warning("check_failed", check=outcome.check.name, error=why)
                found.append((f"{kind}_{outcome.check.name.upper()}", [why]))
        return decide(self.config, found, check_ms, self.version)
