"""Many workers on the embedded stores (an Optuna journal, MLflow's SQLite), through the real CLI in
fresh processes: workers killed in the middle of a trial, Ctrl-C and SIGTERM then the same command, and a
crown cut short then finished. Each ends with `harness check` clean."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import optuna
import pytest
from fleet import FLEET_STUDY, assert_study_sound, finish, kill_mid_trial, running_trials, start
from helpers import mlflow_client, run_cli
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from harness.search import budget
from harness.study.owners import process_alive


def loader(workdir: Path, name: str):
    path = workdir / "mlruns" / "optuna" / f"{name}.journal"
    return lambda: optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path))))


@pytest.mark.slow
def test_four_workers_share_twelve_trials_and_two_killed_mid_trial_lose_nothing(workdir: Path) -> None:
    (workdir / "fleet.yaml").write_text(FLEET_STUDY.format(name="fleet", epochs=15, trials=12))
    proc = start(["study", "fleet.yaml", "--workers", "4"])
    load = loader(workdir, "fleet")
    killed = kill_mid_trial(proc, load, 2)
    code, out = finish(proc)
    assert code == 0, out
    assert "to 12 in all" in out and "database is locked" not in out
    assert out.count("failed and queued again with the same params") == 2
    assert_study_sound(load(), mlflow_client(), "fleet", 12, killed)
    assert "ok: Optuna, MLflow and the registry agree" in run_cli("check", "fleet").stdout

    # The budget is spent and crowned: the same command says so and runs nothing.
    again = run_cli("study", "fleet.yaml", "--workers", "4")
    assert "running 0 more" in again.stdout and "its 12 trials are done and so is its crown" in again.stdout
    assert len(load().trials) == 14


def wait_for(condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_ctrl_c_ends_every_workers_trial_as_interrupted_and_the_same_command_resumes(workdir: Path) -> None:
    # Four trials: two finished before the signal, two stopped by it and run again by the resume.
    (workdir / "intr.yaml").write_text(FLEET_STUDY.format(name="intr", epochs=200, trials=4))
    proc = start(["study", "intr.yaml", "--workers", "2"])
    load = loader(workdir, "intr")
    # In the middle of training (a signal is taken at the next epoch; one during packaging lets it finish).
    wait_for(lambda: running_trials(load, seconds=1.0) and sum(t.state.is_finished() for t in load().trials) >= 2)
    proc.send_signal(signal.SIGINT)
    code, out = finish(proc)
    assert code == 130, out
    assert "run the same command to resume" in out and "Traceback" not in out
    trials = load().trials
    stopped = [t for t in trials if t.user_attrs.get(budget.INTERRUPTED_ATTR)]
    assert stopped and not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    assert not [t for t in trials if process_alive(t.user_attrs["harness_pid"], t.user_attrs["harness_pid_started"])]
    client = mlflow_client()
    experiment = client.get_experiment_by_name("intr").experiment_id
    for trial in stopped:  # a signal may come before the trial's run exists: then it has none
        for run in client.search_runs([experiment], f"tags.`harness.trial` = '{trial.number}'"):
            assert run.info.status == "KILLED" and run.data.tags["harness.reason"] == "interrupted"
    parent = client.get_run(load().user_attrs["mlflow_parent_run_id"])
    assert parent.info.status == "KILLED" and parent.data.tags["harness.reason"] == "interrupted"

    resumed = run_cli("study", "intr.yaml", "--workers", "2")
    assert "resuming study" in resumed.stdout and "promoted to @champion" in resumed.stdout
    assert_study_sound(load(), client, "intr", 4)
    assert "ok:" in run_cli("check", "intr").stdout


@pytest.mark.slow
def test_sigterm_stops_a_single_worker_with_143_and_the_same_command_resumes(workdir: Path) -> None:
    (workdir / "term.yaml").write_text(FLEET_STUDY.format(name="term", epochs=200, trials=2))
    proc = start(["study", "term.yaml", "--workers", "1"])
    load = loader(workdir, "term")
    wait_for(lambda: running_trials(load, seconds=1.0))
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == 143, out
    trial = next(t for t in load().trials if t.user_attrs.get(budget.INTERRUPTED_ATTR))
    assert mlflow_client().get_run(trial.user_attrs["mlflow_run_id"]).info.status == "KILLED"  # it was running
    run_cli("study", "term.yaml", "--workers", "1")
    assert_study_sound(load(), mlflow_client(), "term", 2)


@pytest.mark.slow
def test_a_crown_cut_short_is_finished_by_the_next_command_not_repeated(workdir: Path) -> None:
    """Killed while it held the registry (the crown lock exists only then), the crown is finished by the
    same command; a version left without its alias is finished by `harness crown`. One version, always."""
    from harness.serve.registry_lock import lock_name
    from harness.study.phases import CROWNED_ATTR

    (workdir / "cut.yaml").write_text(FLEET_STUDY.format(name="cut", epochs=3, trials=3))
    client = mlflow_client()
    proc = start(["study", "cut.yaml", "--workers", "1"])

    def crowning() -> bool:  # read the database itself: the lock is held for a fraction of a second
        assert proc.poll() is None, "the crown ended before the test saw it"
        try:
            with sqlite3.connect(workdir / "mlruns" / "mlflow.db", timeout=0.1) as db:
                found = db.execute("select 1 from registered_models where name = ?", (lock_name("cut"),))
                return bool(found.fetchall())
        except sqlite3.OperationalError:
            return False  # not created yet, or busy

    def trials_done() -> bool:
        assert proc.poll() is None, "the study ended before the test saw its crown"
        try:
            return sum(t.state.is_finished() for t in load().trials) == 3
        except (KeyError, ValueError, OSError):
            return False  # the study is not created yet

    # The crown starts once every trial has finished: the database is polled fast only from then on.
    load = loader(workdir, "cut")
    wait_for(trials_done)
    deadline = time.monotonic() + 300
    while not crowning():
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    assert CROWNED_ATTR not in load().user_attrs

    again = run_cli("study", "cut.yaml", "--workers", "1")
    assert "running 0 more" in again.stdout and "finishing the crown" in again.stdout
    assert_study_sound(load(), client, "cut", 3)

    # Registered, but the alias never moved and the parent never finished: `harness crown` completes it.
    study = load()
    client.delete_registered_model_alias("cut", "champion")
    client.update_run(study.user_attrs["mlflow_parent_run_id"], status="RUNNING")
    study.set_user_attr(CROWNED_ATTR, None)
    assert run_cli("check", "cut", check=False).returncode == 1
    crowned = run_cli("crown", "cut")
    assert "promoted to @champion" in crowned.stdout
    assert_study_sound(load(), client, "cut", 3)
    assert client.get_run(study.user_attrs["mlflow_parent_run_id"]).info.status == "FINISHED"
    assert "ok:" in run_cli("check", "cut").stdout


@pytest.mark.gpu
@pytest.mark.slow
def test_worker_i_trains_on_gpu_i_mod_the_gpu_count(workdir: Path) -> None:
    """Two workers per GPU on every GPU of the machine: each worker's runs name the GPU it was given."""
    import torch

    gpus = torch.cuda.device_count()
    (workdir / "gpu.yaml").write_text(FLEET_STUDY.format(name="gpu", epochs=5, trials=4 * gpus))
    out = run_cli("study", "gpu.yaml", "--workers-per-gpu", "2", "--set", "train.device=cuda")
    assert f"by {2 * gpus} workers" in out.stdout
    study = loader(workdir, "gpu")()
    client = mlflow_client()
    seen = {}
    for trial in study.trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        seen.setdefault(trial.user_attrs["harness_pid"], set()).add(run.data.tags["harness.device"])
    devices = sorted(d for tags in seen.values() for d in tags)
    assert all(d.startswith("cuda") and "(GPU " in d for d in devices)
    assert {d.split("(GPU ")[1].rstrip(")") for d in devices} == {str(i) for i in range(gpus)}
    assert all(len(tags) == 1 for tags in seen.values())  # a worker stays on its GPU


def test_a_study_with_nothing_to_crown_is_not_stuck_finishing_its_crown(workdir: Path) -> None:
    """Every trial diverged: the crown has nothing to register, says so, and the next run trains again
    instead of trying that crown forever."""
    import harness
    from harness.errors import HarnessError

    (workdir / "diverge.yaml").write_text(FLEET_STUDY.format(name="diverge", epochs=2, trials=2))
    with pytest.raises(HarnessError, match="no trial completed"):
        harness.run_study("diverge.yaml", overrides=["train.lr=1.0e+12", "train.optimizer=sgd"],
                          echo=lambda line: None)
    result = harness.run_study("diverge.yaml", echo=lambda line: None)
    assert result is not None and result.states == {"FAIL": 2, "COMPLETE": 2} and result.decision.promoted
