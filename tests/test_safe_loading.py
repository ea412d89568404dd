"""Loading a model runs no code an attacker planted: the fitted preprocessing is a skops file, built only
from trusted types; a pickle put in its place, or a skops file naming any other type, is refused before
anything in it is built or run."""

from __future__ import annotations

import os
from pathlib import Path

import joblib
import pytest
import skops.io
from fleet import FLEET_STUDY
from helpers import mlflow_client, run_cli

import harness
from harness.errors import HarnessError
from harness.serve.trusted import PICKLES_ALLOWED, load_preprocessor


class Planted:
    """What an attacker would plant: unpickling it runs a shell command (here: creates a file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)

    def __setstate__(self, state):  # what skops would call, were the type trusted
        Path(state["marker"]).touch()


def test_a_tampered_preprocessor_is_refused_and_runs_nothing(workdir: Path) -> None:
    (workdir / "safe.yaml").write_text(FLEET_STUDY.format(name="safe", epochs=2, trials=1))
    harness.run_study("safe.yaml", echo=lambda line: None)
    client = mlflow_client()
    version = client.get_model_version_by_alias("safe", "champion")
    files = Path(version.source)  # the registered version points at the logged model's files
    target = next(files.rglob("preprocessor.skops"))
    table = workdir / "experiments" / "data" / "house_prices.csv"
    assert run_cli("predict", "models:/safe@champion", str(table)).returncode == 0  # untouched: it predicts

    marker = workdir / "planted-code-ran"
    joblib.dump(Planted(marker), target)  # a pickle where the skops file was
    out = run_cli("predict", "models:/safe@champion", str(table), check=False)
    assert out.returncode == 2 and "not a skops file" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not marker.exists()

    skops.io.dump({"scaler": Planted(marker)}, target)  # a skops file naming a type nobody trusted
    out = run_cli("predict", "models:/safe@champion", str(table), check=False)
    assert out.returncode == 2 and "test_safe_loading.Planted" in out.stderr, out.stderr
    assert not marker.exists()


def test_a_pickled_preprocessor_of_an_older_harness_loads_only_when_trusted_explicitly(tmp_path: Path,
                                                                                       monkeypatch) -> None:
    legacy = tmp_path / "preprocessor.joblib"
    joblib.dump({"fitted": True}, legacy)
    with pytest.raises(HarnessError, match=PICKLES_ALLOWED):
        load_preprocessor(legacy)
    monkeypatch.setenv(PICKLES_ALLOWED, "1")
    assert load_preprocessor(legacy) == {"fitted": True}


@pytest.mark.parametrize("numeric", ["standard", "robust", "quantile"])
def test_a_preprocessor_of_every_column_kind_loads_back_from_its_trusted_file(tmp_path: Path, numeric: str) -> None:
    """Numbers (each scaling), categories, free text and dates: each kind's fitted parts are trusted types,
    so a model of any table loads (a type missing from the list would refuse every such model)."""
    import numpy as np
    import pandas as pd

    from harness.data.columns import as_model_input, build_preprocessor
    from harness.serve.trusted import save_preprocessor

    rng = np.random.default_rng(0)
    words = ["red fox jumps", "lazy dog sleeps", "quick brown cat", "slow green turtle walks"]
    frame = as_model_input(pd.DataFrame({
        "size": rng.normal(size=40), "count": rng.integers(0, 9, 40),
        "colour": rng.choice(["red", "blue"], 40),
        "note": [f"{words[i % 4]} number {i}" for i in range(40)],
        "day": pd.date_range("2024-01-01", periods=40, freq="D").astype(str)}))
    fitted = build_preprocessor(frame, text=["note"], numeric=numeric).fit(frame)
    save_preprocessor(fitted, tmp_path / "preprocessor.skops")
    loaded = load_preprocessor(tmp_path / "preprocessor.skops")
    assert np.allclose(loaded.transform(frame), fitted.transform(frame))
    kinds = {name for name, _, columns in fitted.transformers_ if len(columns)}
    assert kinds == {"numeric", "categorical", "text:note", "dates"}, kinds
