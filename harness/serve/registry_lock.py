"""One crown at a time per registered model: two studies that crown the same model at the same moment
would both read the old champion, both decide they beat it, and the slower one would take the alias
from the better one. MLflow's registry has no compare-and-set, but creating a registered model is atomic
(its name is unique), so a short-lived registered model `<name>.crown-lock` is the lock: whoever creates
it reads the holder, decides and moves the alias, then deletes it.

A lock whose owner died is broken: at once when the owner was a process on this machine that is gone,
after `STALE_SECONDS` otherwise.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager

from mlflow.exceptions import MlflowException

from harness.errors import HarnessError

STALE_SECONDS = 600.0  # a crown takes seconds; a lock this old belongs to a process that died
WAIT_SECONDS = 300.0  # how long to queue behind another study's crown before giving up


def lock_name(name: str) -> str:
    return f"{name}.crown-lock"


def _owner_gone(tags: dict[str, str]) -> bool:
    since = float(tags.get("harness.lock_since", 0))
    if tags.get("harness.lock_host") == socket.gethostname():
        try:
            os.kill(int(tags.get("harness.lock_pid", 0)), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError):
            pass
    return time.time() - since > STALE_SECONDS


@contextmanager
def registry_lock(client, name: str, wait: float = WAIT_SECONDS):
    """Hold the crown lock of registered model `name` for the block."""
    lock = lock_name(name)
    deadline = time.monotonic() + wait
    tags = {"harness.lock_host": socket.gethostname(), "harness.lock_pid": str(os.getpid()),
            "harness.lock_since": str(time.time())}
    while True:
        try:
            client.create_registered_model(lock, tags=tags, description=f"held while a study crowns {name}; "
                                           "deleted when it is done")
            break
        except MlflowException as err:
            if "already exists" not in str(err).lower() and err.error_code not in (
                    "RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        try:
            held = client.get_registered_model(lock).tags
        except MlflowException:
            continue  # released between the two calls: try again at once
        if _owner_gone(held):
            try:
                client.delete_registered_model(lock)
            except MlflowException:
                pass  # another waiter broke it first
            continue
        if time.monotonic() > deadline:
            raise HarnessError(f"registered model {name}: another study has been crowning it for over {wait:.0f}s "
                               f"(pid {held.get('harness.lock_pid')} on {held.get('harness.lock_host')}); if that "
                               f"process is gone, delete the registered model {lock} and run `harness crown` again")
        time.sleep(0.2)
    try:
        yield
    finally:
        try:
            client.delete_registered_model(lock)
        except MlflowException:
            pass  # broken by a waiter that took this process for dead: nothing left to release
