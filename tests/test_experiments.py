"""Every shipped study file runs (one trial of one epoch), and the straight-line lesson recovers its line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, run_cli

import harness

STUDY_FILES = sorted(p.name for p in (ROOT / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("name", STUDY_FILES)
def test_every_study_file_runs_one_trial_of_one_epoch(workdir: Path, name: str) -> None:
    # Baselines are test_baselines.py's subject; here they would only add their fitting time to every file.
    out = run_cli("study", f"experiments/{name}", "--trials", "1", "--set", "train.epochs=1", "--set", "baselines=false")
    assert "trial   0 COMPLETE" in out.stdout
    assert "registered" in out.stdout


@pytest.mark.slow
def test_linear_study_recovers_weight_and_bias(workdir: Path) -> None:
    result = harness.run_study("experiments/linear_synthetic.yaml", echo=lambda line: None)
    model = harness.load_model(f"models:/{result.model_name}@champion")
    at = model.predict(pd.DataFrame({"x": [0.0, 1.0]}))["prediction"].to_numpy()
    bias, weight = at[0], at[1] - at[0]
    assert weight == pytest.approx(0.7, abs=0.05)
    assert bias == pytest.approx(0.3, abs=0.05)
