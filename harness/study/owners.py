"""Which process runs a trial, or holds a claim: host, pid and the process's start time, and whether that
process still runs. Light on purpose (no torch, no MLflow): claims and the reaper both use it.
"""

from __future__ import annotations

import os
import socket

HOST_ATTR, PID_ATTR, STARTED_ATTR = "harness_host", "harness_pid", "harness_pid_started"
OWNER_ATTRS = (HOST_ATTR, PID_ATTR, STARTED_ATTR)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first); None without /proc or process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_started(pid: int) -> str | None:
    """When a process started (clock ticks since boot, from /proc), so a reused pid is not taken for the
    worker that died; None where /proc is not there."""
    fields = _stat(pid)
    return fields[19] if fields else None


def process_alive(pid: int, started: str | None) -> bool:
    """Whether process `pid` (started at `started`) still runs: a zombie (killed, not yet waited for by its
    parent) has died."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc (not Linux): the signal check is all there is
    return fields[0] not in ("Z", "X") and (started is None or fields[19] == started)


def owner_attrs() -> dict[str, object]:
    """This process, as recorded on each trial it runs and each claim it wins."""
    return {HOST_ATTR: socket.gethostname(), PID_ATTR: os.getpid(), STARTED_ATTR: process_started(os.getpid())}


def gone(owner: dict, host: str | None = None) -> bool:
    """Whether the recorded process is known to have died: it ran on this machine and runs no more."""
    if owner.get(HOST_ATTR) != (host or socket.gethostname()):
        return False
    return not process_alive(int(owner[PID_ATTR]), owner.get(STARTED_ATTR))
