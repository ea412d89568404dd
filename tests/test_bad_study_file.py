"""The bad-input table, study files and the command line: every mistake is one error line naming the file
and key, exit code 2, no traceback, and nothing written (see bad_input_table.py).

Most of these fail while the study file loads, before MLflow or torch is imported: well under a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_input_table import DELETE, GOOD, Case, assert_refused, run_table, with_change

from harness.spec.rules import check_alias, check_model_name

# Its module fixture is built once: on one xdist worker, not once per worker (make test runs -n 2).
pytestmark = pytest.mark.xdist_group("bad-study-file")


def study(case_id: str, raw, expected: list[str], *extra: str) -> Case:
    """`harness study bad.yaml` on `raw` (a dict written as YAML, or the file's text or bytes)."""
    return Case(case_id, ["study", "bad.yaml", *extra], ["bad.yaml", *expected], files={"bad.yaml": raw})


def change(case_id: str, key: str, value, expected: list[str]) -> Case:
    return study(case_id, with_change(key, value), [key.split(".")[0], *expected])


CASES = [
    # The file itself
    study("empty file", "", ["is empty"]),
    study("a list instead of a mapping", "- name: tiny\n- data: x\n", ["mapping", "list"]),
    study("binary bytes", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", ["not UTF-8"]),
    study("a NUL byte", "name: ti\x00ny\n", ["NUL byte"]),
    study("not YAML", "name: x\ndata: {source: a.csv, target: b\n", ["not valid YAML at line"]),
    study("duplicate top-level key", "name: a\nname: b\ndata: {source: x.csv}\n", ["line 2", "'name' is given twice"]),
    study("duplicate nested key", f"name: a\ndata:\n  source: {GOOD['data']['source']}\n  source: other.csv\n",
          ["line 4", "'source' is given twice"]),
    Case("a folder as the study file", ["study", "experiments"], ["experiments", "is a folder"],
         setup=lambda folder: (folder / "experiments").mkdir()),
    Case("no such study file", ["study", "nowhere.yaml"], ["nowhere.yaml", "no such study file"]),
    # Keys
    change("unknown top-level key", "bogus", 1, ["unknown key 'bogus'"]),
    change("unknown data key", "data.sourse", "x.csv", ["data.sourse"]),
    change("unknown split key", "data.split.tset", 0.2, ["data.split.tset"]),
    change("unknown model key", "model.hiden", 8, ["model.hiden"]),
    change("unknown train key", "train.epochz", 3, ["train.epochz"]),
    change("unknown study key", "study.trails", 3, ["study.trails"]),
    change("unknown register key", "register.alais", "best", ["register.alais"]),
    change("unknown key in a distribution", "model.hidden", {"int": [8, 64], "steps": 2}, ["model.hidden", "steps"]),
    study("missing name", with_change("name", DELETE), ["name is required"]),
    study("missing data", with_change("data", DELETE), ["data is required"]),
    # Types and values
    change("wrong type", "train.epochs", "many", ["train.epochs"]),
    change("wrong type in a distribution", "model.hidden", {"int": [8, "wide"]}, ["model.hidden", "integers"]),
    change("zero trials", "study.trials", 0, ["study.trials", "got 0"]),
    change("negative trials", "study.trials", -3, ["study.trials", "got -3"]),
    change("low above high", "train.lr", {"float": [0.1, 0.001]}, ["train.lr", "greater than high"]),
    change("a log range touching zero", "train.lr", {"float": [0.0, 0.1], "log": True}, ["train.lr", "above zero"]),
    change("an empty choice", "model.activation", {"choice": []}, ["model.activation", "non-empty"]),
    change("unknown sampler", "study.sampler", "bayes", ["study.sampler", "'tpe'"]),
    change("unknown pruner", "study.pruner", "early", ["study.pruner", "'median'"]),
    change("unknown optimizer", "train.optimizer", "adamm", ["train.optimizer", "adamw"]),
    change("unknown loss", "train.loss", "mse2", ["train.loss", "huber"]),
    change("unknown activation", "model.activation", "swish", ["model.activation", "gelu"]),
    change("a metric of the other task", "study.metric", "val/accuracy", ["study.metric", "val/rmse"]),
    change("a metric that is not a validation metric", "study.metric", "test/rmse", ["study.metric", "val/"]),
    change("a loss of the other task", "train.loss", "cross_entropy", ["train.loss", "classification"]),
    change("val and test leave no training rows", "data.split", {"val": 0.5, "test": 0.45}, ["too few training rows"]),
    change("a bad study name", "name", "bad name!", ["name"]),
    change("cnn on a table", "model.family", "cnn", ["model.family", "images"]),
    study("grid over a float range", with_change("train.lr", {"float": [0.001, 0.1]}, with_change("study.sampler", "grid")),
          ["grid cannot enumerate", "lr"]),
    change("enqueue of an unsearched key", "study.enqueue", [{"lr": 0.01}], ["study.enqueue[0]", "lr"]),
    # Ranges that every trial would fail on (they used to write runs before failing)
    change("negative fixed lr", "train.lr", -0.01, ["train.lr", "> 0", "-0.01"]),
    change("lr range below zero", "train.lr", {"float": [-0.1, 0.1]}, ["train.lr", "> 0"]),
    change("negative weight decay", "train.weight_decay", -0.1, ["train.weight_decay", ">= 0"]),
    change("zero batch size", "train.batch_size", 0, ["train.batch_size", ">= 1"]),
    change("negative batch size", "train.batch_size", -32, ["train.batch_size", "-32"]),
    change("a batch size choice below one", "train.batch_size", {"choice": [32, 0]}, ["train.batch_size", "got 0"]),
    change("dropout above one", "model.dropout", 1.5, ["model.dropout", "[0, 1)"]),
    change("negative momentum", "train.momentum", -0.5, ["train.momentum", "[0, 1)"]),
    change("label smoothing of two", "train.label_smoothing", 2, ["train.label_smoothing", "[0, 1)"]),
    change("zero hidden units", "model.hidden", 0, ["hidden", "at least 1"]),
    change("negative layers", "model.n_layers", -1, ["model.n_layers", ">= 1"]),
    change("negative gradient clip", "train.grad_clip", -1.0, ["train.grad_clip", ">= 0"]),
    change("negative split seed", "data.split.seed", -1, ["data.split.seed", "-1"]),
    change("negative study seed", "study.seed", -5, ["study.seed", "-5"]),
    # Registry names, checked at load (MLflow would refuse them only at registration, after every trial)
    change("alias v1", "register.alias", "v1", ["register.alias", "reserved"]),
    change("alias latest", "register.alias", "latest", ["register.alias", "reserved"]),
    change("an empty alias", "register.alias", "", ["register.alias", "empty"]),
    change("an alias with a slash", "register.alias", "best/now", ["register.alias", "letters, digits"]),
    change("a model name with / and :", "register.name", "a/b:c", ["register.name", "'/' or ':'"]),
    # The command line
    study("--set without =", GOOD, ["--set", "key=value"], "--set", "train.epochs"),
    study("--set of an unknown key", GOOD, ["unknown key", "train.nope"], "--set", "train.nope=1"),
    study("--set of a bad value", GOOD, ["train.lr", "> 0"], "--set", "train.lr=-1"),
    Case("--trials 0", ["study", "bad.yaml", "--trials", "0"], ["harness study", "--trials"], files={"bad.yaml": GOOD}),
    Case("--trials abc", ["study", "bad.yaml", "--trials", "abc"], ["harness study", "--trials", "integer"],
         files={"bad.yaml": GOOD}),
    Case("an unknown option", ["study", "bad.yaml", "--trails", "3"], ["harness study", "--trails"],
         files={"bad.yaml": GOOD}),
    Case("an unknown command", ["stduy", "bad.yaml"], ["stduy"]),
    Case("neither a file nor --data", ["study"], ["give a study file"]),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory):
    return run_table(CASES, tmp_path_factory.mktemp("bad-study-files"))


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_bad_study_file_is_one_line_and_writes_nothing(outcomes, case_id: str) -> None:
    assert_refused(outcomes[case_id])


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60


# Each name: (accepted by our rules, accepted by a real MLflow registry) must agree.
MODEL_NAMES = ["house-prices", "a.b_c-1", "with space", "a/b", "a:b", ".", "..", "a/../b", "x" * 300, ".hidden", ""]
ALIASES = ["champion", "best_2", "v1", "V12", "latest", "LATEST", "v1a", "vv1", "a-b", "a b", "a.b", ""]


def verdict(check, value: str) -> bool:
    try:
        check(value)
        return True
    except ValueError:
        return False


def test_registry_rules_agree_with_a_real_mlflow_registry(tmp_path: Path) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    for name in MODEL_NAMES:
        try:
            client.create_registered_model(name)
            mlflow_accepts = True
        except MlflowException:
            mlflow_accepts = False
        assert verdict(check_model_name, name) == mlflow_accepts, name
    run = client.create_run(client.create_experiment("e"))
    client.create_registered_model("m")
    version = client.create_model_version("m", f"{run.info.artifact_uri}/model", run_id=run.info.run_id).version
    for alias in ALIASES:
        try:
            client.set_registered_model_alias("m", alias, version)
            mlflow_accepts = True
        except MlflowException:
            mlflow_accepts = False
        assert verdict(check_alias, alias) == mlflow_accepts, alias
