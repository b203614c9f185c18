"""What a check is and the only thing it may do: add symbols, with options saying why."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.scanner.message import ParsedMail

SYMBOL_NAME = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
# A verdict travels on the bus and into ClickHouse: a part repeated ten thousand times must not
# make it ten thousand options long.
MAX_OPTIONS = 20


class CheckTimeout(Exception):
    """A check noticed that its time budget is spent."""


class Findings:
    """The symbols one check found on one message, each with its options (why it fired)."""

    def __init__(self, deadline: float = math.inf):
        self.deadline = deadline
        self._found: dict[str, list[str]] = {}
        self._closed = False

    def add(self, name: str, *options: str) -> None:
        if not SYMBOL_NAME.match(name):
            raise ValueError(f"symbol {name!r} is not UPPER_SNAKE with an area prefix")
        if self._closed:  # the check ran past its budget and its result was already taken
            return
        found = self._found.setdefault(name, [])
        for option in options:
            if option not in found and len(found) < MAX_OPTIONS:
                found.append(option)

    def check_time(self) -> None:
        """Checks call this between units of work so that they stop soon after their budget is spent."""
        if time.monotonic() > self.deadline:
            raise CheckTimeout(f"deadline passed by {time.monotonic() - self.deadline:.3f}s")

    def close(self) -> list[tuple[str, list[str]]]:
        """Take what was found so far and ignore anything a late-running check adds afterwards."""
        self._closed = True
        return [(name, list(options)) for name, options in list(self._found.items())]


@dataclass(frozen=True)
class Check:
    name: str  # lower snake case; a failure shows as CHECK_ERROR_<NAME> / CHECK_TIMEOUT_<NAME>
    symbols: tuple[str, ...]  # every symbol it may add; each must be described in scanner.toml
    # Plain functions run in a worker thread (CPU work must not stall the consumer's heartbeats);
    # coroutine functions (network look-ups) run on the event loop.
    run: Callable[[ParsedMail, Findings], None] | Callable[[ParsedMail, Findings], Awaitable[None]]
