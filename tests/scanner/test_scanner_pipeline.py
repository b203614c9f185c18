"""A broken or slow check shows in the verdict as CHECK_ERROR_/CHECK_TIMEOUT_ and leans to quarantine."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from services.scanner import config
from services.scanner.check import MAX_OPTIONS, Check, Findings
from services.scanner.checks import CHECKS
from services.scanner.config import ConfigError
from services.scanner.message import ParsedMail
from services.scanner.pipeline import Pipeline
from tests.scanner.scanner_mail import SAMPLES

CLEAN = (SAMPLES / "clean-vi.eml").read_bytes()
GTUBE = (SAMPLES / "gtube.eml").read_bytes()


@pytest.fixture
def test_config(tmp_path: Path) -> config.ScannerConfig:
    """The shipped configuration plus the symbols the checks of these tests raise."""
    path = tmp_path / "test.toml"
    path.write_text(
        """
[groups.test]
description = "Symbols of the pipeline tests."

[symbols.TEST_EARLY]
group = "test"
score = 0.5
description = "Added before the check got stuck."

[symbols.TEST_LATE]
group = "test"
score = 100.0
description = "Added after the check's budget was spent."
""",
        encoding="utf-8",
    )
    return config.load(path)


def names(verdict) -> set[str]:
    return {s.name for s in verdict.symbols}


async def test_a_check_that_raises_adds_check_error_and_quarantines(test_config) -> None:
    def broken(mail: ParsedMail, found: Findings) -> None:
        found.add("TEST_EARLY", "kept")
        raise KeyError("Content-Disposition")

    pipeline = Pipeline(test_config, (Check("broken", ("TEST_EARLY",), broken), *CHECKS))
    verdict = await pipeline.scan(CLEAN)
    assert names(verdict) == {"TEST_EARLY", "CHECK_ERROR_BROKEN"}
    error = next(s for s in verdict.symbols if s.name == "CHECK_ERROR_BROKEN")
    assert error.options == ["KeyError: 'Content-Disposition'"]
    assert verdict.action == "quarantine"
    assert set(verdict.check_ms) == {"broken", *(c.name for c in CHECKS)}


async def test_later_checks_still_run_after_a_failure(test_config) -> None:
    def broken(mail: ParsedMail, found: Findings) -> None:
        raise RuntimeError("boom")

    verdict = await Pipeline(test_config, (Check("broken", (), broken), *CHECKS)).scan(GTUBE)
    assert names(verdict) == {"CHECK_ERROR_BROKEN", "SPAM_GTUBE"}
    assert verdict.action == "reject"


async def test_a_check_that_watches_its_deadline_stops_with_check_timeout(test_config) -> None:
    def slow(mail: ParsedMail, found: Findings) -> None:
        found.add("TEST_EARLY", "first part")
        while True:
            found.check_time()

    verdict = await Pipeline(test_config, (Check("slow", ("TEST_EARLY",), slow),), budget=0.05).scan(CLEAN)
    assert names(verdict) == {"TEST_EARLY", "CHECK_TIMEOUT_SLOW"}
    assert verdict.action == "quarantine"


async def test_a_stuck_check_is_left_behind_and_cannot_change_the_verdict(test_config) -> None:
    release, finished = threading.Event(), threading.Event()

    def stuck(mail: ParsedMail, found: Findings) -> None:
        found.add("TEST_EARLY", "before")
        release.wait(30)
        found.add("TEST_LATE", "after")
        finished.set()

    pipeline = Pipeline(test_config, (Check("stuck", ("TEST_EARLY", "TEST_LATE"), stuck), *CHECKS), budget=0.2)
    try:
        verdict = await pipeline.scan(CLEAN)
    finally:
        release.set()
    assert await asyncio.to_thread(finished.wait, 30)
    assert names(verdict) == {"TEST_EARLY", "CHECK_TIMEOUT_STUCK"}
    assert verdict.action == "quarantine"


async def test_a_slow_async_check_gets_check_timeout(test_config) -> None:
    async def lookup(mail: ParsedMail, found: Findings) -> None:
        await asyncio.sleep(30)

    verdict = await Pipeline(test_config, (Check("lookup", (), lookup), *CHECKS), budget=0.05).scan(GTUBE)
    assert names(verdict) == {"CHECK_TIMEOUT_LOOKUP", "SPAM_GTUBE"}
    assert verdict.action == "reject"


async def test_two_broken_checks_are_capped_at_quarantine(test_config) -> None:
    def broken(mail: ParsedMail, found: Findings) -> None:
        raise ValueError("x")

    checks = (Check("one", (), broken), Check("two", (), broken))
    verdict = await Pipeline(test_config, checks).scan(CLEAN)
    assert [s.score for s in verdict.symbols] == [10.0, 10.0]
    assert (verdict.score, verdict.action) == (10.0, "quarantine")


async def test_a_badly_named_symbol_is_a_check_error(test_config) -> None:
    def sloppy(mail: ParsedMail, found: Findings) -> None:
        found.add("gtube", "lower case")

    verdict = await Pipeline(test_config, (Check("sloppy", (), sloppy),)).scan(CLEAN)
    assert names(verdict) == {"CHECK_ERROR_SLOPPY"}


async def test_same_symbol_from_two_checks_is_one_symbol_with_both_reasons(test_config) -> None:
    def first(mail: ParsedMail, found: Findings) -> None:
        found.add("TEST_EARLY", "from first", "shared")

    def second(mail: ParsedMail, found: Findings) -> None:
        found.add("TEST_EARLY", "shared", "from second")

    checks = (Check("first", ("TEST_EARLY",), first), Check("second", ("TEST_EARLY",), second))
    verdict = await Pipeline(test_config, checks).scan(CLEAN)
    assert [(s.name, s.options, s.score) for s in verdict.symbols] == [
        ("TEST_EARLY", ["from first", "shared", "from second"], 0.5)
    ]


async def test_options_are_capped(test_config) -> None:
    def chatty(mail: ParsedMail, found: Findings) -> None:
        found.add("TEST_EARLY", *(f"part {i}" for i in range(1000)))

    verdict = await Pipeline(test_config, (Check("chatty", ("TEST_EARLY",), chatty),)).scan(CLEAN)
    assert len(verdict.symbols[0].options) == MAX_OPTIONS


def test_a_check_with_undescribed_symbols_is_refused_at_start() -> None:
    def noop(mail: ParsedMail, found: Findings) -> None:
        return None

    with pytest.raises(ConfigError, match="SPAM_NEW_RULE"):
        Pipeline(config.load(), (Check("new", ("SPAM_NEW_RULE",), noop),))


async def test_verdict_lists_checks_in_their_order_whichever_ran_first(test_config) -> None:
    # Coroutine checks run on the loop after the plain ones; the verdict keeps the declared order.
    async def network(mail: ParsedMail, found: Findings) -> None:
        found.add("TEST_EARLY", "looked up")

    def content(mail: ParsedMail, found: Findings) -> None:
        found.add("TEST_LATE", "read")

    checks = (Check("network", ("TEST_EARLY",), network), Check("content", ("TEST_LATE",), content))
    verdict = await Pipeline(test_config, checks).scan(CLEAN)
    assert [s.name for s in verdict.symbols] == ["TEST_EARLY", "TEST_LATE"]
    assert list(verdict.check_ms) == ["network", "content"]


async def test_the_message_is_read_in_the_worker_and_its_errors_propagate(test_config) -> None:
    reads: list[str] = []

    def read() -> bytes:
        reads.append(threading.current_thread().name)
        return GTUBE

    verdict = await Pipeline(test_config).scan(read)
    assert "SPAM_GTUBE" in names(verdict)
    assert reads and reads[0] != threading.main_thread().name

    def missing() -> bytes:
        raise FileNotFoundError("blob gone")

    with pytest.raises(FileNotFoundError, match="blob gone"):
        await Pipeline(test_config).scan(missing)
