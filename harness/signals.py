"""Ctrl-C and SIGTERM, taken at safe points: a signal raised at any instruction could land inside a store
call (a journal's file lock, a half-written batch) and leave it broken for every other worker. So the
first signal is only noted, and raised where nothing is half-done: at the end of each epoch and between
trials (`checkpoint`); the running trial then ends as `interrupted`. A second signal stops at once.
"""

from __future__ import annotations

import signal

from harness.errors import Interrupted

_received: list[int] = []


def defer() -> None:
    """From now on, SIGINT and SIGTERM stop this process at its next checkpoint (a second one at once)."""
    _received.clear()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _note)


def _note(signum: int, _frame) -> None:
    if _received:
        raise Interrupted(_received[0])  # asked twice: stop now, wherever this is
    _received.append(signum)


def checkpoint() -> None:
    """Raise Interrupted here if a signal came since `defer()`."""
    if _received:
        raise Interrupted(_received[0])
