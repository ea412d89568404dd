"""What a study tells whoever shows its progress: one StudyStart, then one TrialEvent per finished trial.

Events are plain values built from Optuna's own record of a trial (its state, params, values, start and end
times), never from the process that ran it, so a parent process can show the trials that any worker
finished by polling the study (`poll`), exactly as the in-process callback (`callback`) shows its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import optuna

KEY_PARAMS = 4  # params shown per trial: the searched ones, in the order the trial sampled them


@dataclass
class StudyStart:
    """The plan: what is optimized and the budget, for the header and the ETA."""

    name: str
    metric: str
    direction: str  # minimize or maximize (the primary metric's, several objectives included)
    planned: int  # trials this invocation runs
    done_before: int  # trials the study had already
    timeout: float | None = None  # seconds after which no trial starts
    objectives: list[str] = field(default_factory=list)  # several objectives: their names


@dataclass
class TrialEvent:
    """A finished trial, as any process reading the study sees it."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL
    params: dict  # the searched params it drew (Optuna's params)
    value: float | None  # the study metric (the first objective's value with several)
    values: list[float] | None  # every objective's value
    best_value: float | None  # best so far (None until a trial completes; with several objectives: None)
    best_number: int | None
    seconds: float
    detail: str = ""  # why it failed; the front's size with several objectives
    front: int | None = None


def trial_event(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> TrialEvent:
    """The event of a finished trial, with the study's best so far."""
    seconds = 0.0
    if trial.datetime_start and trial.datetime_complete:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    best_value = best_number = front = None
    detail = ""
    if len(study.directions) > 1:
        front = len(study.best_trials)
    else:
        try:
            best = study.best_trial
            best_value, best_number = best.value, best.number
        except ValueError:  # no trial completed yet
            pass
    if trial.state.name == "FAIL":
        detail = trial.user_attrs.get("fail_reason", "failed")
    values = list(trial.values) if trial.values else None
    return TrialEvent(trial.number, trial.state.name, dict(trial.params), values[0] if values else None, values,
                      best_value, best_number, seconds, detail, front)


def callback(progress: Callable[[object], None]) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """An Optuna callback that hands each trial this process finishes to `progress`."""
    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        progress(trial_event(study, trial))

    return report


def poll(study: optuna.Study, seen: set[int]) -> list[TrialEvent]:
    """Events of the trials finished (by any worker) since the last poll; `seen` holds the numbers shown."""
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    new = [t for t in study.get_trials(deepcopy=False, states=finished) if t.number not in seen]
    seen.update(t.number for t in new)
    return [trial_event(study, t) for t in sorted(new, key=lambda t: t.datetime_complete or t.datetime_start)]


def short(value) -> str:
    """A param or metric value in few characters."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ",".join(map(short, value)) + "]"
    return str(value)


def key_params(params: dict) -> str:
    """The first few searched params as `lr=0.00123 family=mlp`."""
    shown = [f"{k}={short(v)}" for k, v in list(params.items())[:KEY_PARAMS]]
    return " ".join(shown) + (" ..." if len(params) > KEY_PARAMS else "")


def plain_line(event: TrialEvent, metric: str, names: list[str], eta: str = "") -> str:
    """The line a trial gets when the output is not a terminal (a log file, CI, a pipe)."""
    if event.state == "COMPLETE" and len(names) > 1:
        shown = "  ".join(f"{n} {v:.4g}" for n, v in zip(names, event.values or ()))
        detail = f"{shown}  (front: {event.front} trials)"
    elif event.state == "COMPLETE":
        detail = f"{metric} {event.value:.4g}  (best {event.best_value:.4g}, trial {event.best_number})"
    elif event.state == "PRUNED":
        detail = "pruned"
    else:
        detail = event.detail or "failed"
    params = f"  {key_params(event.params)}" if event.params else ""
    return f"  trial {event.number:>3} {event.state:<8} {detail}{params}  [{event.seconds:.1f}s{eta}]"


def printer(echo: Callable[[str], None], metric: str, names: list[str]) -> Callable[[object], None]:
    """The default progress: a plain line per trial through `echo` (the library's `run_study` uses it)."""
    def show(event) -> None:
        if isinstance(event, TrialEvent):
            echo(plain_line(event, metric, names))

    return show
