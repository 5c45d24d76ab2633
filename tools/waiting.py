"""Waiting on local processes without fixed sleeps: poll a condition with a deadline, show a log's end."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Often enough to notice readiness quickly, rarely enough to stay off a 2-core machine's back.
POLL_INTERVAL_SECONDS = 0.5
# Enough of a log to see why a process died.
LOG_TAIL_LINES = 40


def poll(
    condition: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    check: Callable[[], None] | None = None,
    error: type[Exception] = TimeoutError,
) -> Any:
    """The first truthy value of ``condition()``, tried every half second until ``timeout`` seconds pass.

    :param condition: returns something truthy when the wait is over.
    :param timeout: seconds before ``error`` is raised.
    :param what: what is waited for, for the error message.
    :param check: called between tries; raises to stop waiting early (e.g. a process died).
    :param error: the exception class raised on timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_INTERVAL_SECONDS)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
