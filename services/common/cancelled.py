"""A loop's own check that its task was cancelled, for when a library swallowed the CancelledError.

On Python 3.11, `asyncio.wait_for` returns the result instead of raising when the cancellation
arrives just as the awaited future completes (fixed in 3.12). aiosmtplib awaits every SMTP
reply that way, so a task cancelled during a QUIT could go on looping for ever. The request
is still counted by the task (`Task.cancelling()`), which is what this checks.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop and has not stopped yet."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
