"""The champion behind REST (`harness serve`) answers what `harness predict` answers on the same rows; the
registry as `harness models` shows and moves it; a study's runs compared by `harness runs`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import forked_cli

# Its module fixture is built once: on one xdist worker, not once per worker (make test runs -n 2).
pytestmark = pytest.mark.xdist_group("serve-and-registry")

HOUSES = "experiments/data/house_prices.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """Two small studies registering versions 1 and 2 of house-prices in one store."""
    import shutil

    from helpers import ROOT

    root = tmp_path_factory.mktemp("registry")
    shutil.copytree(ROOT / "experiments", root / "experiments")
    (root / "mlruns").mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlruns/mlflow.db", "OMP_NUM_THREADS": "1"}
    for seed in (0, 1):
        proc = forked_cli().run(["study", "experiments/house_prices.yaml", "--quiet", "--trials", "2",
                                 "--set", f"study.seed={seed}", "--set", f"name=house-prices-{seed}",
                                 "--set", "register.name=house-prices", "--set", "train.epochs=8"], root, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, env


def cli(registered, *args, check=True):
    root, env = registered
    proc = forked_cli().run(list(args), root, env)  # the real command in a process of its own (helpers.run_cli)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.slow
def test_rest_answers_the_same_predictions_as_harness_predict(registered) -> None:
    root, env = registered
    rows = pd.read_csv(root / HOUSES).head(7)
    rows.to_csv(root / "seven.csv", index=False)
    cli(registered, "predict", "models:/house-prices@champion", "seven.csv", "-o", "seven_predictions.csv")
    expected = pd.read_csv(root / "seven_predictions.csv")

    port = free_port()
    # A fresh shell: the venv's bin is not on PATH, and the store is named on the command line only.
    shell = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    shell["PATH"] = "/usr/bin:/bin"
    server = subprocess.Popen([str(Path(sys.executable).with_name("harness")), "serve", "models:/house-prices@champion",
                               "--port", str(port), "--tracking-uri", env["MLFLOW_TRACKING_URI"]], cwd=root, env=shell,
                              start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the scoring server did not answer /ping in 120 s"
                time.sleep(0.5)
        features = rows.drop(columns=["price"])
        body = json.dumps({"dataframe_split": {"columns": list(features.columns),
                                               "data": features.astype(object).values.tolist()}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    served = [p["prediction"] for p in answer["predictions"]]
    np.testing.assert_allclose(served, expected["prediction"].to_numpy(), rtol=1e-6)
    assert list(expected["row"]) == list(range(7))


@pytest.mark.slow
def test_models_lists_versions_and_moves_the_alias_with_a_reason(registered) -> None:
    root, env = registered
    listing = cli(registered, "models", "house-prices").stdout
    assert "@champion" in listing and "test/rmse" in listing and "house-prices-0" in listing

    refused = cli(registered, "models", "house-prices", "--promote", "1", check=False)
    assert refused.returncode == 2 and "needs --reason" in refused.stderr

    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    holder = str(client.get_model_version_by_alias("house-prices", "champion").version)
    other = "1" if holder == "2" else "2"
    moved = cli(registered, "models", "house-prices", "--promote", other, "--reason", "ops asked for it").stdout
    assert f"version {holder} -> {other} (ops asked for it)" in moved
    assert str(client.get_model_version_by_alias("house-prices", "champion").version) == other
    back = cli(registered, "models", "house-prices", "--rollback", "--reason", "it was better").stdout
    assert f"version {other} -> {holder}" in back
    assert str(client.get_model_version_by_alias("house-prices", "champion").version) == holder
    log = client.get_registered_model("house-prices").tags["harness.alias_log"].splitlines()
    assert [json.loads(line)["why"] for line in log][-2:] == ["ops asked for it", "it was better"]

    missing = cli(registered, "models", "house-prices", "--promote", "9", "--reason", "x", check=False)
    assert missing.returncode == 2 and "no version 9" in missing.stderr


@pytest.mark.slow
def test_runs_compares_a_study_best_first_with_only_the_params_that_differ(registered) -> None:
    csv = cli(registered, "runs", "house-prices-0", "--csv").stdout
    from io import StringIO

    table = pd.read_csv(StringIO(csv))
    assert list(table.columns[:3]) == ["run", "state", "val/rmse"]
    assert table["val/rmse"].is_monotonic_increasing
    kinds = [name.split("-")[0].split(" ")[0] for name in table["run"]]
    assert sorted(kinds) == ["baseline", "baseline", "ensemble", "trial", "trial"]  # ridge joined a trial
    # house_prices.yaml fixes the loss: a param every trial shares is not a column
    assert "loss" not in table.columns and "lr" in table.columns
    assert len(pd.read_csv(StringIO(cli(registered, "runs", "house-prices-0", "--csv", "--top", "1").stdout))) == 1
    shown = cli(registered, "runs", "house-prices-0").stdout
    assert "best val/rmse first" in shown and "…" not in shown
    unknown = cli(registered, "runs", "nope", check=False)
    assert unknown.returncode == 2 and "no study 'nope'" in unknown.stderr
