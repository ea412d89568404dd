"""Exactly-once steps among any number of workers, on any machine: whoever creates a marker study first
in the shared Optuna storage wins the step. Creating a study is atomic in every Optuna storage (a unique
name in a database; the order of the journal's lines), so exactly one creator wins, without a sleep.

A claim records its owner (host, pid, time). If the owner dies before finishing the step, the step is
claimed again under the next attempt number: at once when the owner was a process on this machine that
is gone, after `lease` seconds otherwise.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import optuna
from optuna.exceptions import DuplicatedStudyError

from harness.study.owners import HOST_ATTR, PID_ATTR, gone, owner_attrs

SINCE_ATTR = "harness_since"
OWNER_WAIT_SECONDS = 5.0  # a claim is created, then its owner written: a claim without one yet is young


def marker(study_name: str, step: str, attempt: int) -> str:
    """The marker study of a step; ':' cannot occur in a study's name, so it never clashes with one."""
    return f"{study_name}:{step}:{attempt}"


@dataclass
class Claim:
    won: bool
    attempt: int
    owner: str = ""  # "pid P on HOST" of the winner, when another process won


def _create(storage, name: str) -> bool:
    try:
        optuna.create_study(study_name=name, storage=storage)
    except DuplicatedStudyError:
        return False
    owner = {**owner_attrs(), SINCE_ATTR: time.time()}
    optuna.load_study(study_name=name, storage=storage).set_user_attr("owner", owner)
    return True


def _owner(storage, name: str) -> dict | None:
    deadline = time.monotonic() + OWNER_WAIT_SECONDS
    while True:
        found = optuna.load_study(study_name=name, storage=storage).user_attrs.get("owner")
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _gone(owner: dict | None, lease: float) -> bool:
    """Whether a claim's owner can no longer finish its step."""
    if owner is None:
        return True  # it died between creating the claim and writing its name
    if owner.get(HOST_ATTR) == socket.gethostname():
        return gone(owner)
    return time.time() - float(owner.get(SINCE_ATTR, 0)) > lease


def claim(storage, study_name: str, step: str, lease: float = 600.0) -> Claim:
    """Try to win `step` of a study: True for exactly one live process; a dead winner's step is won again."""
    attempt = 0
    while True:
        name = marker(study_name, step, attempt)
        if _create(storage, name):
            return Claim(True, attempt)
        owner = _owner(storage, name)
        if not _gone(owner, lease):
            return Claim(False, attempt, f"pid {owner.get(PID_ATTR)} on {owner.get(HOST_ATTR)}")
        attempt += 1


def claimed(storage, study_name: str, step: str) -> bool:
    """Whether anyone ever claimed `step` (attempt 0 exists)."""
    return marker(study_name, step, 0) in optuna.get_all_study_names(storage=storage)
