"""The bad-input table, data: tables a study cannot learn from are refused with one line naming the file and
column, exit code 2, no traceback, nothing written (see bad_input_table.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bad_input_table import Case, assert_refused, run_table, with_change

# Its module fixture is built once: on one xdist worker, not once per worker (make test runs -n 2).
pytestmark = pytest.mark.xdist_group("bad-data")

ROWS = 60


def table(**changes) -> pd.DataFrame:
    """A small good regression table (x, k, y), with columns replaced by `changes`."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=ROWS), "k": rng.integers(0, 5, ROWS), "y": rng.normal(size=ROWS)})
    for name, values in changes.items():
        frame[name] = values
    return frame


def csv(frame: pd.DataFrame, **options) -> str:
    return frame.to_csv(index=False, **options)


def with_cell(column: str, row: int, value) -> pd.DataFrame:
    frame = table()
    frame[column] = frame[column].astype(object if isinstance(value, str) else float)
    frame.loc[row, column] = value
    return frame


def data_case(case_id: str, content, expected: list[str], name: str = "data.csv", target: str = "y",
              **study) -> Case:
    """`harness study bad.yaml` whose data.source is the case's own file `name` holding `content`."""
    raw = with_change("data", {"source": name, "target": target})
    raw.pop("task")
    for key, value in study.items():
        raw = with_change(key.replace("__", "."), value, raw)
    files = {"bad.yaml": raw} if content is None else {"bad.yaml": raw, name: content}
    return Case(case_id, ["study", "bad.yaml"], ["bad.yaml", *expected], files=files)


LATIN1 = "x,city,y\n" + "".join(f"{i},Zürich,{i % 7}\n" for i in range(30)).replace("ü", "\xfc")
CASES = [
    data_case("empty file", "", ["data.csv", "empty"]),
    data_case("only blank lines", "\n\n\n", ["data.csv", "no table"]),
    data_case("header only", "x,k,y\n", ["data.csv", "no rows"]),
    data_case("one row", csv(table().head(1)), ["data", "only 1 row"]),
    data_case("nine rows", csv(table().head(9)), ["data", "only 9 row"]),
    data_case("target all missing", csv(table(y=np.nan)), ["data.target", "'y' has no values"]),
    data_case("every feature empty", csv(table(x=np.nan, k=np.nan)), ["data.source", "besides the target 'y'",
                                                                      "'x', 'k'", "empty"]),
    data_case("constant target", csv(table(y=3.5)), ["data.target", "3.5 in every row"]),
    data_case("one class", csv(table(y="yes")), ["data.target", "single class 'yes'"]),
    data_case("a thousand classes", csv(pd.DataFrame({"x": np.arange(1000.0), "y": [f"id{i}" for i in range(1000)]})),
              ["data.target", "1000 classes in 1000 rows"]),
    data_case("UTF-16 bytes", LATIN1.encode("utf-16"), ["data.csv", "not UTF-8", "line 1", "iconv -f utf-16"]),
    data_case("inf in a feature", csv(with_cell("x", 3, np.inf)), ["data.source", "'x'", "infinite", "row 4"]),
    data_case("1e308 in a feature", csv(with_cell("x", 5, 1e308)), ["data.source", "'x'", "too large", "row 6"]),
    data_case("inf in the target", csv(with_cell("y", 7, -np.inf)), ["data.target", "'y'", "infinite", "row 8"]),
    data_case("1e308 in the target", csv(with_cell("y", 2, 1e308)), ["data.target", "'y'", "too large", "row 3"]),
    data_case("a test row far outside the training range", csv(with_cell("x", 0, 1e100)),
              ["data.source", "'x'", "float32"], data__split={"seed": 2}),
    data_case("duplicate column names", "x,x,y\n" + "".join(f"{i},{i * 2},{i % 5 * 1.5}\n" for i in range(40)),
              ["data.csv", "'x' appear more than once"]),
    data_case("a Parquet file that is text", csv(table()), ["data.parquet", "not a Parquet file"], name="data.parquet"),
    data_case("an unsupported file type", "x", ["data.xlsx", "unsupported file type"], name="data.xlsx"),
    data_case("a missing data file", None, ["nowhere.csv", "not found"], name="nowhere.csv"),
    data_case("a group column that is not there", csv(table()), ["data.split.group", "'person'", "x, k, y"],
              data__split={"group": "person"}),
    data_case("a missing target column", csv(table()), ["data.target", "'cost'", "x, k, y"], target="cost"),
    data_case("text target for regression", csv(table(y=["a", "b", "c"] * 20)), ["regression needs a numeric target"],
              task="regression"),
    data_case("log target with zeros", csv(table(y=np.arange(ROWS) % 4)), ["data.target_transform", "log"],
              task="regression", data__target_transform="log"),
    data_case("data.text naming a number column", csv(table()), ["data.text", "'x' holds numbers"], data__text=["x"]),
    data_case("bce for three classes", csv(table(y=["a", "b", "c"] * 20)), ["train.loss", "bce", "3"],
              train__loss="bce"),
    Case("a folder of tables as data.source", ["study", "bad.yaml"], ["data.source", "is a folder", "data.csv"],
         files={"bad.yaml": with_change("data.source", "tables"), "tables/data.csv": csv(table())}),
    Case("an empty folder as data.source", ["study", "bad.yaml"], ["data.source", "no class sub-folders"],
         files={"bad.yaml": with_change("data.source", "empty")}, setup=lambda f: (f / "empty").mkdir()),
    Case("quick mode on an empty file", ["study", "--data", "data.csv", "--target", "y"], ["data.csv", "empty"],
         files={"data.csv": ""}),
    Case("quick mode without --target", ["study", "--data", "data.csv"], ["--target"], files={"data.csv": csv(table())}),
    Case("quick mode with an unknown target", ["study", "--data", "data.csv", "--target", "nope"], ["'nope'"],
         files={"data.csv": csv(table())}),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory):
    return run_table(CASES, tmp_path_factory.mktemp("bad-data"))


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_bad_data_is_one_line_and_writes_nothing(outcomes, case_id: str) -> None:
    assert_refused(outcomes[case_id])


def test_rare_classes_train_only_and_every_class_is_learned(tmp_path) -> None:
    """A class too rare for every split goes to training (with a note): the reference models, fitted on
    the training rows, once met labels in validation they had never seen and raised."""
    from harness.data.prepare import prepare

    rng = np.random.default_rng(0)
    labels = ["a"] * 40 + ["b"] * 40 + ["rare1", "rare2", "rare2"]
    pd.DataFrame({"x": rng.normal(size=len(labels)), "y": labels}).to_csv(tmp_path / "t.csv", index=False)
    for seed in range(5):
        data = prepare(str(tmp_path / "t.csv"), "y", "auto", 0.2, 0.2, seed=seed, device="cpu")
        assert {"rare1", "rare2"} <= set(data.labels["train"]), seed
        assert not {"rare1", "rare2"} & (set(data.labels["val"]) | set(data.labels["test"]))
        assert any("rare1" in note and "training split only" in note for note in data.notes)
        assert len(data.labels["train"]) + len(data.labels["val"]) + len(data.labels["test"]) == len(labels)
