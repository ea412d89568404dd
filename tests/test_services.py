"""The same studies on real services, as many machines would share them: PostgreSQL for Optuna's trials
(RDB storage with heartbeats) and an MLflow tracking server on PostgreSQL with served artifacts, started
and stopped by scripts/services.py exactly as `make services` does. Workers killed mid-trial, a worker
that falls silent (found by its heartbeat, as on another machine), and a database restart mid-study."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from fleet import FLEET_STUDY, assert_study_sound, finish, kill_mid_trial, running_trials, start
from helpers import ROOT, mlflow_client, run_cli

SERVICES = ROOT / "scripts" / "services.py"
pytestmark = [
    pytest.mark.skipif(not (glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb")),
                       reason="PostgreSQL is not installed (no initdb)"),
    # One worker runs the module, in order (make test runs -n 2): the services are started once, and
    # `down` is tested last.
    pytest.mark.xdist_group("services"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def services_cli(action: str, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVICES), action, *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def services():
    """PostgreSQL and the MLflow server in a temporary folder (readable by the `postgres` user, which runs
    the database when the tests run as root), with ports of their own; stopped after the module."""
    folder = Path(tempfile.mkdtemp(prefix="harness-services-", dir="/tmp"))
    folder.chmod(0o755)
    args = ["--dir", str(folder / "services"), "--pg-port", str(free_port()), "--mlflow-port", str(free_port())]
    up = services_cli("up", args)
    assert up.returncode == 0, up.stdout + up.stderr
    env = dict(line.split("=", 1) for line in (folder / "services.env").read_text().splitlines())
    yield {"env": env, "folder": folder, "args": args}
    services_cli("down", args)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def on_services(services, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A test's working folder whose studies use the services (through the variables a user would set)."""
    for key, value in services["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HARNESS_HEARTBEAT_SECONDS", "2")  # a silent worker is found after 12 s, not 60
    return services


def loader(env: dict, name: str):
    """The study, read through one storage object: a new one per read would open a connection pool per read
    and exhaust the database's connections while the test polls."""
    storage = optuna.storages.RDBStorage(env["HARNESS_STORAGE"], engine_kwargs={"pool_pre_ping": True})
    return lambda: optuna.load_study(study_name=name, storage=storage)


def test_services_up_twice_is_harmless_and_the_env_file_names_both(services) -> None:
    again = services_cli("up", services["args"])
    assert again.returncode == 0 and "postgres: running" in again.stdout and "mlflow: running" in again.stdout
    env = services["env"]
    assert env["HARNESS_STORAGE"].startswith("postgresql+psycopg://")
    assert env["MLFLOW_TRACKING_URI"].startswith("http://")
    assert services_cli("status", services["args"]).returncode == 0


@pytest.mark.slow
def test_four_workers_twelve_trials_two_killed_mid_trial_on_postgres_and_a_tracking_server(on_services) -> None:
    env = on_services["env"]
    Path("svc.yaml").write_text(FLEET_STUDY.format(name="svc", epochs=15, trials=12))
    proc = start(["study", "svc.yaml", "--workers", "4"])
    load = loader(env, "svc")
    killed = kill_mid_trial(proc, load, 2)
    code, out = finish(proc)
    assert code == 0, out
    assert out.count("failed and queued again with the same params") == 2  # by pid, or by heartbeat if first
    client = mlflow_client()
    assert_study_sound(load(), client, "svc", 12, killed)
    assert "ok: Optuna, MLflow and the registry agree" in run_cli("check", "svc").stdout
    # The password in the storage URL is in no line printed and no tag.
    password = env["HARNESS_STORAGE"].split(":")[2].split("@")[0]
    assert f":{password}@" not in out
    parent = client.get_run(load().user_attrs["mlflow_parent_run_id"])
    assert parent.data.tags["harness.optuna_storage"].startswith("postgresql+psycopg://harness:***@")


@pytest.mark.slow
def test_a_worker_gone_silent_elsewhere_is_found_by_its_heartbeat_and_its_trial_retried(on_services) -> None:
    """A worker on another machine cannot be looked up by its pid: its trial is failed when its heartbeat
    stops (here: a worker made to look remote, then killed)."""
    env = on_services["env"]
    Path("beat.yaml").write_text(FLEET_STUDY.format(name="beat", epochs=40, trials=6))
    proc = start(["study", "beat.yaml", "--workers", "2"])
    load = loader(env, "beat")
    deadline = time.monotonic() + 300
    while not running_trials(load):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    trial = running_trials(load)[0]
    storage = optuna.storages.RDBStorage(env["HARNESS_STORAGE"])
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("beat"), trial.number)
    storage.set_trial_user_attr(trial_id, "harness_host", "a-machine-elsewhere")
    os.kill(int(trial.user_attrs["harness_pid"]), signal.SIGKILL)
    code, out = finish(proc)
    assert code == 0, out
    client = mlflow_client()
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and "stopped sending heartbeats" in run.data.tags["harness.reason"]
    assert_study_sound(load(), client, "beat", 6)
    assert "ok:" in run_cli("check", "beat").stdout


@pytest.mark.slow
def test_a_database_restart_mid_study_is_ridden_out(on_services) -> None:
    """PostgreSQL stops under both stores (Optuna's trials, the tracking server's runs) and comes back a few
    seconds later: calls are retried with backoff, a trial that still failed fails cleanly, the study ends."""
    env, folder = on_services["env"], on_services["folder"]
    Path("restart.yaml").write_text(FLEET_STUDY.format(name="restart", epochs=15, trials=6))
    proc = start(["study", "restart.yaml", "--workers", "2"])
    load = loader(env, "restart")
    deadline = time.monotonic() + 300
    while sum(t.state.is_finished() for t in (load().trials if running_trials(load) else [])) < 3:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    postmaster = int((folder / "services" / "pg" / "data" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGINT)  # a fast shutdown: every connection is cut
    deadline = time.monotonic() + 60
    while Path(f"/proc/{postmaster}").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(2)  # down for a moment
    up = services_cli("up", on_services["args"])
    assert up.returncode == 0 and "postgres: started" in up.stdout, up.stdout + up.stderr
    code, out = finish(proc)
    assert code == 0, out
    assert_study_sound(load(), mlflow_client(), "restart", 6)
    assert "ok:" in run_cli("check", "restart").stdout


def test_services_down_stops_both_by_their_pid_files(services) -> None:
    """Last in this file: the fixture's own `down` afterwards finds nothing to stop."""
    pg_pid = int((services["folder"] / "services" / "pg" / "data" / "postmaster.pid").read_text().split()[0])
    ml_pid = int((services["folder"] / "services" / "mlflow.pid").read_text())
    down = services_cli("down", services["args"])
    assert down.returncode == 0 and "postgres: stopped" in down.stdout and "mlflow: stopped" in down.stdout
    for pid in (pg_pid, ml_pid):
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not Path(f"/proc/{pid}").exists()
    assert not (services["folder"] / "services.env").exists()
    assert services_cli("status", services["args"]).returncode == 1
