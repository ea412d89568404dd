"""Helpers for the tests of many workers: a study of many short trials, the real `harness study --workers`
in a fresh process, and killing workers in the middle of a trial."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import time
from collections.abc import Callable

import optuna
from helpers import HARNESS

# Short trials (every epoch runs: no early stopping) that still take long enough (a second or so, beside three other workers on two cores) to be
# caught RUNNING and killed; no baselines, to keep the test about the workers.
FLEET_STUDY = """
name: {name}
task: regression
data: {{source: experiments/data/house_prices.csv, target: price}}
model: {{family: mlp, n_layers: 1, hidden: {{int: [8, 32]}}}}
train: {{lr: {{float: [1.0e-3, 3.0e-2], log: true}}, epochs: {epochs}, batch_size: 16,
        early_stopping: {{patience: 1000}}}}
study: {{trials: {trials}, sampler: random, pruner: none, seed: 0}}
baselines: false
"""


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """`harness ARGS` in a fresh process, output captured."""
    return subprocess.Popen([*HARNESS, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})


def running_trials(load: Callable[[], optuna.Study], seconds: float = 0.0) -> list[optuna.trial.FrozenTrial]:
    """RUNNING trials whose worker is recorded and whose MLflow run exists (and that have run for at least
    `seconds`, so they are training: a study without a pruner reports no epochs to Optuna): caught in the
    middle."""
    try:
        trials = load().get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    except (KeyError, ValueError, OSError):
        return []  # the study is not created yet
    now = datetime.datetime.now()
    return [t for t in trials if "harness_pid" in t.user_attrs and "mlflow_run_id" in t.user_attrs
            and (now - t.datetime_start).total_seconds() >= seconds]


def kill_mid_trial(proc: subprocess.Popen, load: Callable[[], optuna.Study], count: int,
                   sig: int = signal.SIGKILL, timeout: float = 300.0) -> list[optuna.trial.FrozenTrial]:
    """Send `sig` to the workers of `count` different trials while those trials run; returns the trials."""
    killed: list[optuna.trial.FrozenTrial] = []
    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(killed) < count:
        assert proc.poll() is None, f"the study ended before {count} workers were killed:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, "no running trial to kill"
        for trial in running_trials(load):
            pid = int(trial.user_attrs["harness_pid"])
            if pid not in pids and len(killed) < count:
                os.kill(pid, sig)
                pids.add(pid)
                killed.append(trial)
        time.sleep(0.1)
    return killed


def finish(proc: subprocess.Popen, timeout: float = 600.0) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def assert_study_sound(study: optuna.Study, client, name: str, budget_total: int,
                       killed: list[optuna.trial.FrozenTrial] = ()) -> None:
    """The outcome every fault must leave: the budget's trials finished, the killed ones failed and retried
    with their params, their runs FAILED, one parent run, one registered version, nothing RUNNING."""
    from harness.search import budget

    trials = study.trials
    assert budget.used(trials) == budget.finished(trials) == budget_total
    assert not [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    retried = budget.retried_numbers(trials)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert len([r for r in runs if r.data.tags.get("harness.role") == "study"]) == 1
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    for dead in killed:
        trial = trials[dead.number]
        assert trial.state == optuna.trial.TrialState.FAIL and trial.number in retried
        retry = next(t for t in trials if trial.number in t.system_attrs.get("retry_history", ()))
        assert retry.params == dead.params  # run again with the same params
        run = client.get_run(dead.user_attrs["mlflow_run_id"])
        assert run.info.status == "FAILED" and "queued again" in run.data.tags["harness.reason"], run.data.tags
    versions = [v for v in client.search_model_versions(f"name = '{name}'") if v.tags.get("harness.study") == name]
    assert len(versions) == 1
    assert client.get_model_version_by_alias(name, "champion").version == versions[0].version
