"""The bad-input table, predictions: one model is trained once for the module, then every bad input to
`harness predict` is either refused (one error line naming the file and column, exit code 2, nothing
written) or, where the model can serve it, answered correctly with one warning line per problem; and
`--strict` refuses what would otherwise be served.

Served means imputed exactly as in training: a missing number (also in a column of whole numbers, which
the signature once declared int64 and MLflow then refused) gets the training median, an empty category
the training mode; REST serving answers the same rows with the same numbers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_input_table import HOUSES, Case, assert_refused, run_table, snapshot, with_change
from helpers import forked_cli, run_cli

import harness
from harness.errors import HarnessError

# Its module fixture is built once: on one xdist worker, not once per worker (make test runs -n 2).
pytestmark = pytest.mark.xdist_group("bad-predict")

MODEL = "bad-predict"
URI = f"models:/{MODEL}@champion"
ROWS = pd.read_csv(HOUSES).head(8)  # price comes along: extra columns are ignored


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One registered model for every case of the module, in a store of its own."""
    root = tmp_path_factory.mktemp("bad-predict-store")
    study = with_change("train.epochs", 3, with_change("name", MODEL))
    (root / "study.yaml").write_text(json.dumps(study))
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}
    out = forked_cli().run(["study", "study.yaml"], root, env)
    assert out.returncode == 0, out.stdout + out.stderr
    return {"root": root, "uri": uri}


def rows(**cells) -> pd.DataFrame:
    """ROWS with cells replaced: column=(row, value) or column=[(row, value), ...]."""
    frame = ROWS.copy()
    for column, changes in cells.items():
        frame[column] = frame[column].astype(object)
        for row, value in changes if isinstance(changes, list) else [changes]:
            frame.loc[row, column] = value
    return frame


def predict(case_id: str, frame_or_text, expected: list[str], *extra: str, model: str = URI,
            name: str = "in.csv") -> Case:
    content = frame_or_text.to_csv(index=False) if isinstance(frame_or_text, pd.DataFrame) else frame_or_text
    files = {} if content is None else {name: content}
    return Case(case_id, ["predict", model, name, *extra], expected, files=files)


TEXT_IN_NUMBER = rows(lotsize=(2, "big"))
MISSING_INT = rows(bedrooms=(1, None))
UNSEEN = rows(driveway=(0, "maybe"))
EMPTY_CATEGORY = rows(driveway=(3, None))
ALL_AT_ONCE = rows(lotsize=(2, "big"), bedrooms=(1, None), driveway=[(0, "maybe"), (3, None)])

REFUSED = [
    predict("an unknown model", ROWS, ["no-such-model"], model="models:/no-such-model@champion"),
    predict("an unknown alias", ROWS, ["@nope", "alias nope not found"], model=f"models:/{MODEL}@nope"),
    predict("a model name without alias", ROWS, ["names no version or alias", f"models:/{MODEL}@champion"],
            model=f"models:/{MODEL}"),
    predict("not a model URI", ROWS, ["house.pt", "models:/NAME@ALIAS"], model="house.pt"),
    predict("a missing column", ROWS.drop(columns=["bedrooms"]), ["in.csv", "no column(s) bedrooms"]),
    predict("an empty file", "", ["in.csv", "empty"]),
    predict("a header-only file", ROWS.head(0), ["in.csv", "no rows"]),
    predict("a missing input file", None, ["in.csv", "no such file"]),
    predict("-o into a missing folder", ROWS, ["-o out/p.csv", "does not exist"], "-o", "out/p.csv"),
    predict("-o onto a folder", ROWS, ["-o here", "is a folder"], "-o", "here"),
    predict("UTF-16 input", ROWS.to_csv(index=False).encode("utf-16"), ["in.csv", "not UTF-8"]),
    predict("a Parquet file that is text", ROWS, ["in.parquet", "not a Parquet file"], name="in.parquet"),
    predict("duplicate column names", ROWS.to_csv(index=False).replace("stories", "lotsize", 1),
            ["in.csv", "'lotsize' appear more than once"]),
    predict("a folder for a model of tables", None, ["images", "model of tables"], name="images"),
    predict("text in a number column, --strict", TEXT_IN_NUMBER, ["in.csv", "'lotsize'", "text", "row 3",
                                                                 "--strict"], "--strict"),
    predict("a missing whole number, --strict", MISSING_INT, ["in.csv", "'bedrooms'", "missing", "row 2",
                                                             "--strict"], "--strict"),
    predict("an unseen category, --strict", UNSEEN, ["in.csv", "'driveway'", "'maybe'", "row 1", "--strict"],
            "--strict"),
    predict("an empty category cell, --strict", EMPTY_CATEGORY, ["in.csv", "'driveway'", "empty", "row 4",
                                                                "--strict"], "--strict"),
    predict("all problems at once, --strict", ALL_AT_ONCE, ["in.csv", "'lotsize'", "3 more problem(s)"], "--strict"),
    predict("a tracking store that does not exist", ROWS, [URI, "no MLflow store"], "--tracking-uri",
            "sqlite:///nowhere/mlflow.db"),
    predict("a tracking server that does not answer", ROWS, [URI, "no server answers", "127.0.0.1:1"],
            "--tracking-uri", "http://127.0.0.1:1"),
]
for case in REFUSED:
    if case.id == "-o onto a folder":
        case.setup = lambda folder: (folder / "here").mkdir()
    if case.id == "a folder for a model of tables":
        case.setup = lambda folder: (folder / "images" / "a").mkdir(parents=True)

SERVED = {
    "a missing whole number": (MISSING_INT, [["'bedrooms'", "1 missing value(s) (row 2)", "training median"]]),
    "text in a number column": (TEXT_IN_NUMBER, [["'lotsize'", "1 text value(s)", "'big'", "row 3", "median"]]),
    "an unseen category": (UNSEEN, [["'driveway'", "'maybe'", "row 1", "none of the known categories"]]),
    "an empty category cell": (EMPTY_CATEGORY, [["'driveway'", "1 empty cell(s) (row 4)", "most frequent"]]),
    "a fraction in a whole-number column": (rows(bedrooms=(0, 2.5)), []),
    "semicolons and decimal commas": (rows(lotsize=(1, 5000.5)), []),  # written so below: a European CSV
    "all problems at once": (ALL_AT_ONCE, [["'lotsize'", "text"], ["'bedrooms'", "missing"],
                                           ["'driveway'", "not seen"], ["'driveway'", "empty"]]),
}
CASES = REFUSED + [predict(case_id, frame.to_csv(index=False, sep=";", decimal=",") if "semicolons" in case_id
                           else frame, []) for case_id, (frame, _) in SERVED.items()]


@pytest.fixture(scope="module")
def outcomes(store: dict, tmp_path_factory: pytest.TempPathFactory):
    for case in CASES:
        case.env = {"MLFLOW_TRACKING_URI": store["uri"]}
    before = snapshot(store["root"])
    results = run_table(CASES, tmp_path_factory.mktemp("bad-predict"))
    assert snapshot(store["root"]) == before, "predictions wrote into the model's store"
    return results


@pytest.mark.parametrize("case_id", [c.id for c in REFUSED])
def test_bad_prediction_input_is_one_line_and_writes_nothing(outcomes, case_id: str) -> None:
    assert_refused(outcomes[case_id])


def filled_in(frame: pd.DataFrame, model) -> pd.DataFrame:
    """`frame` with every guess made by hand, from the fitted preprocessor: text and missing numbers as the
    training median, empty categories as the training mode (unseen categories stay as they are)."""
    preprocessor = model.unwrap_python_model().predictor.preprocessor
    out = frame.copy()
    for name, pipeline, columns in preprocessor.transformers_:
        if name in ("numeric", "categorical"):
            for column, fill in zip(columns, pipeline.steps[0][1].statistics_):
                values = pd.to_numeric(out[column], errors="coerce") if name == "numeric" else out[column]
                out[column] = values.where(values.notna(), fill)
    return out


@pytest.mark.parametrize("case_id", list(SERVED))
def test_servable_input_is_answered_correctly_with_one_warning_per_problem(outcomes, store, case_id) -> None:
    frame, warnings = SERVED[case_id]
    proc = outcomes[case_id].proc
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == len(warnings), proc.stderr
    for line, fragments in zip(lines, warnings):
        assert line.startswith("warning: in.csv: column ") and all(f in line for f in fragments), (line, fragments)
    served = pd.read_csv(StringIO(proc.stdout))["prediction"].to_numpy()
    model = harness.load_model(URI, store["uri"])
    expected = harness.predict(URI, filled_in(frame, model).drop(columns=["price"]), store["uri"])
    assert np.isfinite(served).all() and len(served) == len(frame)
    np.testing.assert_allclose(served, expected["prediction"].to_numpy(), rtol=1e-6)
    untouched = harness.predict(URI, ROWS, store["uri"])["prediction"].to_numpy()
    changed = frame.astype(str).ne(ROWS.astype(str)).any(axis=1).to_numpy()
    np.testing.assert_allclose(served[~changed], untouched[~changed], rtol=1e-6)  # other rows as before


def test_pyfunc_takes_whole_numbers_as_read_and_imputes_a_missing_one(store) -> None:
    """Number columns are `Any` in the signature: MLflow's `long` refused a missing value and its `double`
    would refuse the int64 columns of a plain CSV; the model takes both, and refuses text there."""
    model = harness.load_model(URI, store["uri"])
    kinds = {spec.name: str(spec.type) for spec in model.metadata.get_input_schema().inputs}
    assert kinds["bedrooms"] == kinds["lotsize"] == kinds["driveway"] == "Any"
    as_read = ROWS.drop(columns=["price"])
    assert as_read["bedrooms"].dtype == np.int64
    direct = model.predict(as_read)["prediction"].to_numpy()
    np.testing.assert_allclose(direct, harness.predict(URI, ROWS, store["uri"])["prediction"], rtol=1e-6)
    missing = MISSING_INT.drop(columns=["price"])
    np.testing.assert_allclose(model.predict(missing)["prediction"],
                               model.predict(filled_in(missing, model))["prediction"], rtol=1e-6)
    with pytest.raises(Exception, match="column 'lotsize' takes numbers, but holds 'big'"):
        model.predict(TEXT_IN_NUMBER.drop(columns=["price"]))
    with pytest.warns(UserWarning, match="'bedrooms': 1 missing value"):
        harness.predict(URI, MISSING_INT, store["uri"])
    with pytest.raises(HarnessError, match="'bedrooms': 1 missing value"):
        harness.predict(URI, MISSING_INT, store["uri"], strict=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_rest_serving_imputes_a_missing_whole_number_and_an_empty_category(store, tmp_path) -> None:
    """`mlflow models serve` once answered HTTP 400 for a null in an integer column (the signature said
    int64), and read a null category as unknown (all-zero one-hot) rather than imputing the mode."""
    port, bin_dir = free_port(), Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"], "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", URI, "--env-manager", "local",
                               "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the model server did not start"
                time.sleep(1)
        frame = rows(bedrooms=(1, None), driveway=(3, None)).drop(columns=["price"])
        body = {"dataframe_split": {"columns": list(frame.columns),
                                    "data": json.loads(frame.to_json(orient="values"))}}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answered = pd.DataFrame(json.loads(response.read())["predictions"])["prediction"].to_numpy()
    finally:
        server.terminate()
        server.wait(30)
    model = harness.load_model(URI, store["uri"])
    expected = harness.predict(URI, filled_in(frame, model), store["uri"])["prediction"].to_numpy()
    np.testing.assert_allclose(answered, expected, rtol=1e-6)
    frame.to_csv(tmp_path / "in.csv", index=False)
    cli = run_cli("predict", URI, str(tmp_path / "in.csv"), "--tracking-uri", store["uri"])
    np.testing.assert_allclose(pd.read_csv(StringIO(cli.stdout))["prediction"].to_numpy(), answered, rtol=1e-6)


def test_numbers_written_as_text_are_served_as_the_numbers_they_are(store, tmp_path) -> None:
    """`$5,000.5` in a number column, from a spreadsheet's export: the same prediction as 5000.5, through
    the pyfunc model (REST serving's path) and through `harness predict`, with no warning."""
    plain, written = rows(lotsize=(1, 5000.5), price=(2, 70000)), rows(lotsize=(1, "$5,000.5"), price=(2, "$70,000"))
    model = harness.load_model(URI, store["uri"])
    expected = model.predict(plain.drop(columns=["price"]))["prediction"].to_numpy()
    np.testing.assert_allclose(model.predict(written.drop(columns=["price"]))["prediction"], expected, rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # harness.predict warns of text in a number column: none here
        np.testing.assert_allclose(harness.predict(URI, written, store["uri"])["prediction"], expected, rtol=1e-6)
    written.to_csv(tmp_path / "in.csv", index=False)
    out = run_cli("predict", URI, "in.csv", "-o", "out.csv", "--tracking-uri", store["uri"], cwd=tmp_path)
    assert "warning" not in out.stderr, out.stderr
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv")["prediction"], expected, rtol=1e-6)


def test_a_placeholder_for_a_missing_number_is_served_as_a_missing_number(store) -> None:
    """`?`, `unknown`, `#DIV/0!` in a number column, as the table a model was trained on may write them: the
    same prediction as an empty cell, through the pyfunc model (it raised a ValueError) and through
    `harness.predict`, which says a value was missing, not that text was found."""
    model = harness.load_model(URI, store["uri"])
    empty = model.predict(rows(lotsize=[(1, np.nan), (2, np.nan), (3, np.nan)]).drop(columns=["price"]))
    written = rows(lotsize=[(1, "?"), (2, " Unknown "), (3, "#DIV/0!")])
    np.testing.assert_allclose(model.predict(written.drop(columns=["price"]))["prediction"], empty["prediction"],
                               rtol=1e-6)
    with pytest.raises(Exception, match="takes numbers"):  # a word that is no placeholder is still refused
        model.predict(rows(lotsize=(1, "big")).drop(columns=["price"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        served = harness.predict(URI, written, store["uri"])["prediction"]
    np.testing.assert_allclose(served, empty["prediction"], rtol=1e-6)
    said = " ".join(str(w.message) for w in caught)
    assert "'lotsize': 3 missing value(s)" in said and "text value" not in said, said
