"""The work phase, the same in every worker: take a trial while the study's budget (counted across all
workers) allows, run it, tell the result; fail and retry the trials of dead workers; once the budget is
spent, wait until no trial runs anywhere, so that the crown comes after the last result.

Ask and tell by hand rather than `study.optimize`: the budget check must sit between taking a trial and
sampling it, and an interrupted trial must end as `interrupted`, not as a failure that uses the budget.
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from harness.record.retry import is_transient, retrying
from harness.record.tracking import Tracker
from harness.search import budget
from harness.signals import checkpoint
from harness.study.objective import EXPECTED_TRIAL_FAILURES
from harness.study.owners import owner_attrs
from harness.study.reaper import RUN_ATTR, Reaper

POLL_SECONDS = 1.0  # how often a worker with no trial to take looks again at the others'


class Heartbeat:
    """Writes the trial's heartbeat every interval from a thread, on RDB storage with heartbeats on, so a
    worker on another machine can tell this one is alive (Optuna's own thread runs only inside optimize)."""

    def __init__(self, storage, study_name: str, number: int):
        interval = storage.get_heartbeat_interval() if isinstance(storage, optuna.storages.RDBStorage) else None
        self.interval, self.storage = interval, storage
        self.stop = threading.Event()
        if interval:
            study_id = storage.get_study_id_from_name(study_name)
            self.trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)

    def _beat(self) -> None:
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a missed beat is harmless; the grace period is several intervals long
                pass
            if self.stop.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        if self.interval:
            self.thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.interval:
            self.stop.set()
            self.thread.join()


@dataclass
class Worker:
    study: optuna.Study
    storage: object  # the Optuna storage the study lives in (journal or RDB)
    objective: Callable[[optuna.Trial], float | tuple[float, ...]]
    reaper: Reaper
    tracker: Tracker
    parent_id: str
    total: int  # the study's budget: trials that count, all workers together
    timeout: float | None
    report: Callable[[optuna.Study, optuna.trial.FrozenTrial], None]
    echo: Callable[[str], None]
    ran: int = 0

    def run(self) -> None:
        """Trials until the budget is spent (or the timeout passes), then until no trial runs anywhere."""
        started = time.monotonic()
        retrying(self.reaper.sweep, what="ending dead workers' runs")()
        while True:
            checkpoint()  # Ctrl-C or SIGTERM between trials: stop here
            retrying(self.reaper.reap, what="reaping dead workers' trials")()
            trials = self.trials()
            late = self.timeout is not None and time.monotonic() - started > self.timeout
            if not late and budget.used(trials) < self.total:
                trial = self.take()
                if trial is not None:
                    self.run_trial(trial)
                continue
            if not any(t.state == TrialState.RUNNING for t in trials):
                # Runs a store failure left open while their trials ended: closed before the crown reads them.
                retrying(self.reaper.sweep, what="ending dead workers' runs")()
                return
            time.sleep(POLL_SECONDS)

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return retrying(self.study.get_trials, what="optuna get_trials")(deepcopy=False)

    def take(self) -> optuna.Trial | None:
        """A trial to run, or None when another worker took the last slot at the same moment."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with optimize": see Heartbeat
            trial = retrying(self.study.ask, what="optuna ask")()
        if budget.over_budget(self.trials(), self.total):
            retrying(budget.give_back, what="optuna give back")(self.storage, self.study.study_name, trial.number)
            time.sleep(random.uniform(0.05, 0.5))  # two that gave back at once must not meet again
            return None
        for key, value in owner_attrs().items():
            retrying(trial.set_user_attr, what="optuna set_user_attr")(key, value)
        if self.ran == 0:  # the study runs again: its parent run too (a late worker with no trial leaves it be)
            if self.tracker.client.get_run(self.parent_id).info.status != "RUNNING":
                self.tracker.client.update_run(self.parent_id, status="RUNNING")
        return trial

    def run_trial(self, trial: optuna.Trial) -> None:
        values, state = None, TrialState.COMPLETE
        with Heartbeat(self.storage, self.study.study_name, trial.number):
            try:
                values = self.objective(trial)
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except KeyboardInterrupt:
                # Ctrl-C or SIGTERM: this trial ends now and does not count; its run is KILLED `interrupted`
                # (by the objective, or here if the signal came before the objective knew its run).
                trial.set_user_attr(budget.INTERRUPTED_ATTR, True)
                self.tell(trial, None, TrialState.FAIL)
                self.reaper.end_runs(trial.number, "interrupted", status="KILLED")
                raise
            except Exception as err:
                # The objective ended its run FAILED with the reason. Only expected failures (diverged
                # training, out of memory, a store that stayed unreachable) let the study go on: anything
                # else is a bug in the harness, which stops the study with its traceback.
                if not (isinstance(err, EXPECTED_TRIAL_FAILURES) or is_transient(err)):
                    self.tell(trial, None, TrialState.FAIL)
                    raise
                state = TrialState.FAIL
        self.ran += 1
        frozen = self.tell(trial, values, state)
        if frozen is not None:
            self.report(self.study, frozen)

    def tell(self, trial: optuna.Trial, values, state: TrialState) -> optuna.trial.FrozenTrial | None:
        """Tell Optuna; None when the trial was failed meanwhile by another worker that took this one for
        dead (no heartbeat for the grace period): its result is dropped and its run ends FAILED."""
        try:
            return retrying(self.study.tell, what="optuna tell")(trial, values, state=None if values is not None
                                                                  else state)
        except (UpdateFinishedTrialError, RuntimeError, ValueError) as err:
            current = self.study.get_trials(deepcopy=False)[trial.number]
            if not current.state.is_finished():
                raise
            if values is None or current.state == TrialState.COMPLETE:
                return current  # told already (a retried call that had gone through)
            run_id = current.user_attrs.get(RUN_ATTR) or trial.user_attrs.get(RUN_ATTR)
            reason = (f"trial {trial.number} was failed by another worker while it ran (no heartbeat within the "
                      f"grace period), so its result is dropped ({type(err).__name__})")
            self.echo(f"  trial {trial.number:>3} dropped: {reason}")
            if run_id:
                self.tracker.finish(run_id, "FAILED", reason)
            return None
