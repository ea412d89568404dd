"""A study's budget, counted across every worker: the trials that used it, and whether one more may start.

A trial uses the budget when it is COMPLETE, PRUNED, RUNNING, or FAILED for good. It does not when it
failed and was retried (its retry, a new trial with the same params, takes its place), nor when it was
interrupted (Ctrl-C, SIGTERM): the resumed study runs a new trial in its place. WAITING trials (queued:
warm starts, retries) use the budget only once a worker takes them.

Workers check the count before asking for a trial; two that ask at the same moment for the last slot
both get one, so right after asking each counts again, its own trial included. Whoever sees more than
the budget gives its slot back (the trial returns to the queue as WAITING, unsampled) and looks again a
moment later: the later of two askers always sees the earlier one, so the study never runs more than its
budget (and if both saw each other, both try again, at random moments).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

INTERRUPTED_ATTR = "harness_interrupted"  # trial user attribute: stopped by Ctrl-C/SIGTERM, not by its params
MAX_RETRY = 2  # a trial whose worker dies is run again up to this many times, then it has failed for good


def retried_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of the trials that a later trial retries (Optuna records the chain on the retry)."""
    found: set[int] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for t in trials:
            found.update(RetryHeartbeatStaleTrialCallback.retry_history(t))
    return found


def uses_budget(trial: FrozenTrial, retried: set[int]) -> bool:
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    if trial.state == TrialState.FAIL:
        return trial.number not in retried and not trial.user_attrs.get(INTERRUPTED_ATTR)
    return False  # WAITING: queued, not yet taken


def used(trials: Sequence[FrozenTrial]) -> int:
    """Trials that count against the budget (complete + pruned + running + failed for good)."""
    retried = retried_numbers(trials)
    return sum(uses_budget(t, retried) for t in trials)


def finished(trials: Sequence[FrozenTrial]) -> int:
    """Trials that count and are over: the budget is spent when this reaches it and nothing runs."""
    retried = retried_numbers(trials)
    return sum(uses_budget(t, retried) and t.state != TrialState.RUNNING for t in trials)


def over_budget(trials: Sequence[FrozenTrial], total: int) -> bool:
    """Whether a trial just taken (and RUNNING among `trials`, read after taking it) is one too many."""
    return used(trials) > total


def give_back(storage: optuna.storages.BaseStorage, study_name: str, number: int) -> None:
    """Return a trial taken beyond the budget to the queue, unsampled: the next worker that has budget
    (a later run with more trials) takes it; nothing of it is recorded as a result."""
    study_id = storage.get_study_id_from_name(study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    storage.set_trial_state_values(trial_id, state=TrialState.WAITING)
