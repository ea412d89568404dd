"""Each user mistake is one line naming the file and key, exit code 2, no traceback, nothing in MLflow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import run_cli

GOOD = {
    "name": "tiny",
    "task": "regression",
    "data": {"source": "experiments/data/house_prices.csv", "target": "price"},
    "train": {"epochs": 1},
    "study": {"trials": 1},
}


def write(path: Path, content: dict | str) -> Path:
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def with_change(key: str, value) -> dict:
    raw = yaml.safe_load(yaml.safe_dump(GOOD))
    node = raw
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return raw


CASES = [
    ("unknown key", with_change("train.epochz", 3), ["bad.yaml", "train.epochz", "unknown key"]),
    ("unknown top-level key", with_change("bogus_key", 1), ["bad.yaml", "bogus_key"]),
    ("wrong type", with_change("train.epochs", "many"), ["bad.yaml", "train.epochs"]),
    ("wrong type in a distribution", with_change("model.hidden", {"int": [8, "wide"]}), ["model.hidden", "integers"]),
    ("low > high", with_change("train.lr", {"float": [0.1, 0.001]}), ["train.lr", "greater than high"]),
    ("unknown option", with_change("train.optimizer", "adamm"), ["train.optimizer", "adamm", "adamw"]),
    ("missing data file", with_change("data.source", "nowhere.csv"), ["bad.yaml", "nowhere.csv", "not found"]),
    ("missing target column", with_change("data.target", "cost"), ["bad.yaml", "cost", "price"]),
    ("missing name", {k: v for k, v in GOOD.items() if k != "name"}, ["bad.yaml", "name", "required"]),
    ("metric of the other task", with_change("study.metric", "val/accuracy"), ["study.metric", "val/rmse"]),
]


@pytest.mark.parametrize("label,raw,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_study_file(workdir: Path, label: str, raw: dict, expected: list[str]) -> None:
    proc = run_cli("study", str(write(workdir / "bad.yaml", raw)), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    # Nothing written: no MLflow database, no Optuna journal.
    assert not (workdir / "mlruns" / "mlflow.db").exists()
    assert not (workdir / "mlruns" / "optuna").exists()


@pytest.mark.parametrize("args,expected", [
    (["study", "does_not_exist.yaml"], "does_not_exist.yaml"),
    (["study", "--data", "missing.csv", "--target", "y"], "missing.csv"),
    (["study", "--data", "experiments/data/house_prices.csv", "--target", "nope"], "'nope'"),
    (["study", "experiments/house_prices.yaml", "--set", "train.epochs"], "key=value"),
    (["study", "experiments/house_prices.yaml", "--set", "train.nope=1"], "train.nope"),
    (["predict", "models:/no-such-model@champion", "experiments/data/house_prices.csv"], "no-such-model"),
    (["predict", "models:/x@champion", "missing.csv"], "missing.csv"),
])
def test_bad_command_line(workdir: Path, args: list[str], expected: str) -> None:
    proc = run_cli(*args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert expected in proc.stderr, proc.stderr
    assert not (workdir / "mlruns" / "optuna").exists()


def test_not_yaml(workdir: Path) -> None:
    proc = run_cli("study", str(write(workdir / "broken.yaml", "name: x\ndata: {source: a.csv, target: b\n")),
                   check=False)
    assert proc.returncode == 2
    assert "broken.yaml: not valid YAML at line" in proc.stderr
