"""Trials whose worker died: failed in Optuna, retried with the same params, their MLflow runs ended FAILED
with the reason, never left RUNNING.

Two ways to see that a worker died:
- on this machine, by its process: every trial records the host, pid and process start time of the worker
  that runs it, and a RUNNING trial whose process is gone is dead (any storage; no waiting);
- anywhere, by its heartbeat (RDB storage only): Optuna fails a RUNNING trial whose worker has not
  written a heartbeat for the grace period, and calls `StaleTrials` for each one this process failed.
Failing a trial is a state change only one process can win (the others get UpdateFinishedTrialError),
so each dead trial is retried once, by one worker.
"""

from __future__ import annotations

import copy
import os
import socket
import warnings
from collections.abc import Callable
from datetime import datetime

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from harness.record.tracking import Tracker
from harness.search.budget import MAX_RETRY
from harness.study.owners import HOST_ATTR, OWNER_ATTRS, PID_ATTR, gone

RUN_ATTR = "mlflow_run_id"
# A RUNNING trial with no owner recorded this long after it started died between Optuna's ask and the
# owner's stamp (milliseconds apart); on a journal, nothing else could ever fail it.
UNSTAMPED_GRACE_SECONDS = 60.0


class StaleTrials:
    """Optuna's heartbeat callback: retries each stale trial this process failed, and remembers it so its
    MLflow run can be ended too."""

    def __init__(self, max_retry: int = MAX_RETRY):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        self.failed: list[tuple[FrozenTrial, str]] = []

    def __call__(self, study: optuna.Study, trial: FrozenTrial, reason: str | None = None) -> None:
        # The retry copies the trial's user attributes: not those of the dead worker and its run, or the
        # retry, once taken, would look dead (or point at the old run) until its new worker stamps it.
        clean = copy.deepcopy(trial)
        clean.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in (*OWNER_ATTRS, RUN_ATTR)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry(study, clean)
        self.failed.append((trial, reason or f"its worker stopped sending heartbeats ({describe_owner(trial)})"))


def describe_owner(trial: FrozenTrial) -> str:
    host, pid = trial.user_attrs.get(HOST_ATTR), trial.user_attrs.get(PID_ATTR)
    return f"pid {pid} on {host}" if host else "worker unknown"


def dead_here(trial: FrozenTrial, host: str, now: datetime) -> str | None:
    """Why a RUNNING trial's worker is known dead from this machine, or None."""
    owner = trial.user_attrs.get(HOST_ATTR)
    if owner is None:
        started = trial.datetime_start
        if started is not None and (now - started).total_seconds() > UNSTAMPED_GRACE_SECONDS:
            return "its worker died before recording itself on the trial"
        return None
    pid = trial.user_attrs.get(PID_ATTR)
    if pid == os.getpid() or not gone(trial.user_attrs, host):
        return None
    return f"its worker (pid {pid} on {host}) died"


SWEPT = "its trial ended"  # how a run the sweep ended begins its reason
SWEEP_GRACE_SECONDS = 60.0


class Reaper:
    """Fails the trials of dead workers, queues their retries, and ends their MLflow runs FAILED."""

    def __init__(self, study: optuna.Study, storage: optuna.storages.BaseStorage, stale: StaleTrials,
                 tracker: Tracker, experiment_id: str, parent_id: str, echo: Callable[[str], None]):
        self.study, self.storage, self.stale, self.tracker = study, storage, stale, tracker
        self.experiment_id, self.parent_id, self.echo = experiment_id, parent_id, echo
        self.host = socket.gethostname()
        self.study_id = storage.get_study_id_from_name(study.study_name)

    def reap(self) -> int:
        """Fail and retry every trial known dead; returns how many this process reaped."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            fail_stale_trials(self.study)  # RDB with heartbeats; calls self.stale for the ones it failed
        now = datetime.now()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            why = dead_here(trial, self.host, now)
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
            if why and self._fail(trial_id):
                self.stale(self.study, self.storage.get_trial(trial_id), why)
        reaped, self.stale.failed = self.stale.failed, []
        for trial, why in reaped:
            reason = f"{why}; trial {trial.number} failed and queued again with the same params"
            self.echo(f"  trial {trial.number:>3} FAIL     {reason}")
            self.end_runs(trial.number, reason)
        return len(reaped)

    def _fail(self, trial_id: int) -> bool:
        try:
            return self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:
            return False  # another worker failed it first; that one retries it

    def end_runs(self, number: int, reason: str, status: str = "FAILED") -> None:
        """End every RUNNING run of trial `number` in this study (found by tags, so a run whose id never
        reached the trial is found too). A run another worker's sweep ended a moment ago, between this
        process ending the trial and getting here, is ended again with this status and reason: the sweep
        knew less (not that the trial was queued again, or interrupted)."""
        for run in self.tracker.client.search_runs(
                [self.experiment_id], max_results=100,
                filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_id}' and tags.`harness.trial` = '{number}' "
                              "and attributes.status != 'FINISHED'"):
            if run.info.status == "RUNNING" or run.data.tags.get("harness.reason", "").startswith(SWEPT):
                self.tracker.finish(run.info.run_id, status, reason)

    def sweep(self) -> None:
        """Runs still RUNNING whose trial is over (a worker died between the two writes): ended FAILED.

        A trial failed in the last SWEEP_GRACE_SECONDS is left to the process that failed it: a reaper
        fails a dead worker's trial first and ends its run right after, and the other workers' last sweep
        comes exactly then (the trial was the last one RUNNING), so both would end the run at once."""
        now = datetime.now()
        over = {t.number: t for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()
                and not (t.state == TrialState.FAIL and t.datetime_complete is not None
                         and (now - t.datetime_complete).total_seconds() < SWEEP_GRACE_SECONDS)}
        for run in self.tracker.client.search_runs(
                [self.experiment_id], max_results=5000,
                filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_id}' and tags.`harness.role` = 'trial' "
                              "and attributes.status = 'RUNNING'"):
            trial = over.get(int(run.data.tags.get("harness.trial", -1)))
            if trial is not None:
                self.tracker.finish(run.info.run_id, "FAILED", f"{SWEPT} {trial.state.name} while the run was still "
                                    "open (its worker died between the two)")
