"""Columns: dates become numeric parts inside the packaged preprocessor, identifiers and columns that cannot
tell rows apart (empty, one value) are dropped in quick mode with the reason, a column empty in the training
rows is left out quietly, `data.drop` / `--drop` leave columns out (and the model does not ask for them), a
near-copy of the target is warned about, predictions carry a key column and `--keep` columns, and a split
by group (`data.split.group`) runs through a whole quick-mode study."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from harness.data import columns
from harness.data.columns import build_preprocessor, date_parts, detect_date_columns, is_date
from harness.data.prepare import prepare
from harness.data.profile import identifiers, near_copies, treatments, uninformative
from harness.errors import HarnessError
from harness.spec.quick import dropped_columns


def sales(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Daily sales: an order id, a date (one per row), a store, a price, and a near-copy of the target."""
    rng = np.random.default_rng(seed)
    day = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.arange(n), unit="D")
    price = rng.uniform(1, 10, n)
    units = 50 - 3 * price + 5 * (day.dayofweek >= 5) + rng.normal(0, 1, n)
    return pd.DataFrame({"order_id": np.arange(1000, 1000 + n), "sold_on": day.strftime("%Y-%m-%d"),
                         "store": rng.choice(["north", "south"], n), "price": price,
                         "units_x2": units * 2 + rng.normal(0, 0.01, n), "units": units})


def test_dates_are_detected_and_parsed_into_numbers() -> None:
    frame = sales()
    assert detect_date_columns(frame) == ["sold_on"]
    assert not is_date(pd.Series(["yes", "no", "may"] * 10)) and not is_date(frame["price"])
    parts = date_parts(pd.DataFrame({"a": ["2024-03-04", None, "not a date"]}))
    assert parts.shape == (3, 5) and list(parts[0, :4]) == [2024, 3, 4, 0]  # a Monday
    assert np.isnan(parts[1]).all() and np.isnan(parts[2]).all()
    pre = build_preprocessor(frame.drop(columns=["units"])).fit(frame)
    names = list(pre.get_feature_names_out())
    assert [n for n in names if "sold_on" in n] == [f"dates__sold_on_{p}" for p in
                                                     ("year", "month", "day", "weekday", "days")]
    assert len(names) == 3 + 2 + 5  # order_id, price, units_x2 numeric; store one-hot; the date's parts


def test_dates_with_a_zone_across_summer_time_are_one_date_column() -> None:
    """Winter dates at +01:00 and summer ones at +02:00: pandas refuses the mix unless told to use UTC."""
    when = pd.Timestamp("2021-01-01", tz="Europe/Paris") + pd.to_timedelta(np.arange(0, 400, 10), unit="D")
    for column in (pd.Series(when), pd.Series(when.astype(str))):  # Parquet's zoned dtype, and a CSV's text
        assert is_date(column)
        assert detect_date_columns(pd.DataFrame({"when": column, "n": range(len(column))})) == ["when"]
    parts = date_parts(pd.DataFrame({"when": when.astype(str)}))
    assert not np.isnan(parts).any() and parts[-1, 0] == 2022  # 390 days on: February 2022


def test_identifiers_and_near_copies_are_found() -> None:
    frame = sales()
    found = identifiers(frame.drop(columns=["units"]))
    assert list(found) == ["order_id"] and "named like an id" in found["order_id"]
    names = pd.DataFrame({"code": [f"A{i:03d}" for i in range(30)],
                          "text": [f"a long review number {i}" for i in range(30)]})
    assert list(identifiers(names)) == ["code"]  # distinct short codes; distinct sentences are text
    warnings = near_copies(frame, "units", "regression")
    assert len(warnings) == 1 and "'units_x2' nearly copies the target 'units'" in warnings[0]
    labels = pd.DataFrame({"grade": ["a", "b"] * 20, "level": ["high", "low"] * 20, "noise": range(40)})
    assert "'grade' nearly copies" in near_copies(labels, "level", "classification")[0]
    # 5 frauds in 300 rows: a store's value "gives the class" in 98.3% of rows, as guessing "no fraud" does
    rare = pd.DataFrame({"store": list("abc") * 100, "fraud": [1] * 5 + [0] * 295})
    assert near_copies(rare, "fraud", "classification") == []
    rare["flagged"] = rare["fraud"].map({1: "yes", 0: "no"}).where(np.arange(300) != 100, "yes")  # one error
    assert [w.split(" nearly")[0] for w in near_copies(rare, "fraud", "classification")] == \
        ["warning: column 'flagged'"]


def test_a_column_without_values_is_left_out_quietly_and_said_so() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(size=30), "empty": np.nan, "blank": pd.Series([None] * 30, dtype=object),
                          "shop": rng.choice(["a", "b"], 30)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the imputers warned at every transform, a served model's too
        pre = build_preprocessor(train).fit(train)
        encoded = pre.transform(train)
        assert np.array_equal(pre.transform(train.drop(columns=["empty", "blank"])), encoded)
    assert encoded.shape == (30, 3) and not np.isnan(encoded).any()  # x, and shop one-hot
    rows = treatments(pre, {"id": "an identifier"})
    assert rows[:3] == [("id", "dropped", "an identifier"), ("empty", "dropped", "no values in the training rows"),
                        ("blank", "dropped", "no values in the training rows")]
    assert [kind for _, kind, _ in rows[3:]] == ["numeric", "categorical"]


def test_a_long_name_is_cut_in_the_terminal_listing_so_the_treatments_stay_aligned() -> None:
    from harness.data.profile import NAME_SHOWN, report_lines

    long = "a very long column name " * 12
    lines = report_lines([(long, "numeric", "scaled"), ("shop", "categorical", "one-hot, 2 values")])
    assert lines[0] == f"{long[:NAME_SHOWN - 3]}...  numeric      scaled"
    assert lines[1].index("categorical") == lines[0].index("numeric") == NAME_SHOWN + 2


def test_a_categorical_column_of_thousands_of_values_is_one_hot_within_a_bound(monkeypatch) -> None:
    """Dense one-hot of a million rows' zip codes would not fit in memory: the most frequent values get a
    column each and the rare ones share one, within columns.ONE_HOT_CELLS cells of training rows."""
    counts = {f"city{i}": 42 if i < 50 else 10 if i < 250 else 2 for i in range(3000)}  # common, middling, rare
    train = pd.DataFrame({"city": [c for c, n in counts.items() for _ in range(n)]})
    train["x"] = np.arange(len(train), dtype=float)
    assert build_preprocessor(train).fit(train).transform(train).shape[1] == 1 + 3000  # within the bound: all
    limit = 200
    monkeypatch.setattr(columns, "ONE_HOT_CELLS", limit * len(train))  # as if the table were larger
    pre = build_preprocessor(train).fit(train)
    assert pre.transform(train).shape[1] == 1 + limit
    one_hot = lambda *cities: pre.transform(pd.DataFrame({"city": cities, "x": 0.0}))[:, 1:]  # noqa: E731
    common, rare = one_hot("city0", "city1"), one_hot("city2998", "city2999")
    assert (common.sum(axis=1) == 1).all() and not np.array_equal(common[0], common[1])
    assert np.array_equal(rare[0], rare[1]) and rare[0].sum() == 1  # the shared column
    assert one_hot("a city never seen").sum() == 0  # as before: none of the known values
    detail = dict((name, text) for name, _, text in treatments(pre, {}))["city"]
    assert detail.startswith(f"one-hot, 3000 values: the {limit - 1} most frequent, the other {3000 - limit + 1} "
                             "as one")
    assert columns.one_hot_limit(10**6) == columns.MIN_ONE_HOT and columns.one_hot_limit(10) == limit * len(train) // 10


def test_quick_mode_drops_columns_that_cannot_tell_rows_apart() -> None:
    frame = pd.DataFrame({"x": np.arange(40.0) % 7, "empty": np.nan, "flag": [1.0, np.nan] * 20,
                          "country": "NZ", "y": np.arange(40.0)})
    assert uninformative(frame.drop(columns="y")) == {"empty": "no values: every row is missing",
                                                      "flag": "one value throughout: 1.0",
                                                      "country": "one value throughout: NZ"}
    assert set(dropped_columns(frame, "y", [], "--data t.csv")) == {"empty", "flag", "country"}
    # the last feature stays, even one that tells nothing: the study then says what is wrong with it
    assert dropped_columns(frame[["country", "y"]], "y", [], "--data t.csv") == {}


def test_data_drop_removes_columns_before_anything_else(tmp_path: Path) -> None:
    frame = sales()
    frame.to_csv(tmp_path / "sales.csv", index=False)
    data = prepare(str(tmp_path / "sales.csv"), "units", "regression", 0.2, 0.2, 0,
                   drop={"units_x2": "a leak", "order_id": "an id"})
    assert "units_x2" not in data.features and "order_id" not in data.features
    assert "units_x2" not in data.raw["train"].columns  # so the packaged model does not ask for it
    assert ("units_x2", "dropped", "a leak") in data.columns and ("sold_on", "date",
           "parsed into year, month, day, weekday, days since 1970; standardized") in data.columns
    assert not any("nearly copies" in n for n in data.notes)
    with pytest.raises(HarnessError, match="data.drop: column 'nope' is not in"):
        prepare(str(tmp_path / "sales.csv"), "units", "regression", 0.2, 0.2, 0, drop=["nope"])
    with pytest.raises(HarnessError, match="is the target"):
        prepare(str(tmp_path / "sales.csv"), "units", "regression", 0.2, 0.2, 0, drop=["units"])
    kept = prepare(str(tmp_path / "sales.csv"), "units", "regression", 0.2, 0.2, 0)
    assert any("'units_x2' nearly copies" in n for n in kept.notes)
    rows = {name: kind for name, kind, _ in treatments(kept.preprocessor, {})}
    assert rows == {"order_id": "numeric", "price": "numeric", "units_x2": "numeric", "store": "categorical",
                    "sold_on": "date"}


@pytest.mark.slow
def test_quick_mode_reports_columns_drops_ids_and_predictions_keep_keys(workdir: Path) -> None:
    sales().to_csv(workdir / "sales.csv", index=False)
    out = run_cli("study", "--data", "sales.csv", "--target", "units", "--drop", "units_x2", "--trials", "2",
                  "--set", "train.epochs=5")
    lines = out.stdout
    assert "dropped units_x2 (named with --drop), order_id (identifier)" in lines
    for expected in (r"order_id\s+dropped\s+identifier: whole numbers, every value distinct, named like an id",
                     r"sold_on\s+date\s+parsed into year", r"store\s+categorical",
                     r"units_x2\s+dropped\s+named with --drop",
                     # quick mode's networks read robust-scaled numbers; its baselines standardized ones
                     r"price\s+numeric\s+missing values: median; median/IQR-scaled, smoothly clipped to ±3 "
                     r"\(baselines: standardized\)"):
        assert re.search(expected, lines), expected
    assert "nearly copies" not in lines

    new = sales(5, seed=1).drop(columns=["units", "units_x2"])
    new.to_csv(workdir / "new.csv", index=False)
    run_cli("predict", "models:/sales@champion", "new.csv", "--keep", "store,price", "-o", "out.csv")
    result = pd.read_csv(workdir / "out.csv")
    assert list(result.columns) == ["order_id", "store", "price", "prediction"]  # the id column keys the rows
    assert list(result["order_id"]) == list(new["order_id"])
    bad = run_cli("predict", "models:/sales@champion", "new.csv", "--keep", "colour", check=False)
    assert bad.returncode == 2 and "--keep colour: the input has no such column" in bad.stderr
    refused = run_cli("study", "--data", "sales.csv", "--target", "units", "--drop", "units", check=False)
    assert refused.returncode == 2 and "that is the target" in refused.stderr


@pytest.mark.slow
def test_quick_mode_split_by_group_cross_validates_by_group_and_the_model_needs_no_group(workdir: Path) -> None:
    """`--set data.split.group=person_id` through a whole quick-mode study: its 5 folds (fold processes,
    GroupKFold) and the champion, which predicts on rows that have no person_id."""
    rng = np.random.default_rng(0)
    person = np.repeat(np.arange(40), 5)
    frame = pd.DataFrame({"person_id": person, "x": rng.normal(size=200), "shop": rng.choice(["a", "b"], 200)})
    frame["y"] = frame["x"] + rng.normal(size=40)[person]
    frame.to_csv(workdir / "panel.csv", index=False)
    out = run_cli("study", "--data", "panel.csv", "--target", "y", "--trials", "2", "--set", "train.epochs=5",
                  "--set", "data.split.group=person_id").stdout
    assert "rows split by group: 40 groups (train 24, val 8, test 8)" in out
    assert re.search(r"person_id\s+dropped\s+groups the split \(data.split.group\)", out)
    assert "5-fold cross-validation" in out and "is named like an id" not in out
    frame.drop(columns=["person_id", "y"]).head(5).to_csv(workdir / "new.csv", index=False)
    run_cli("predict", "models:/panel@champion", "new.csv", "-o", "out.csv")
    assert len(pd.read_csv(workdir / "out.csv")) == 5


@pytest.mark.slow
def test_a_model_of_padded_names_predicts_a_table_whose_names_have_no_spaces(workdir: Path) -> None:
    """A Parquet file keeps ' store' as written (and CSVs did, before names were read without spaces): the
    model takes ' store', and a CSV to predict, read without spaces, has 'store'."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({" price": rng.normal(size=120), " store": rng.choice(["a", "b"], 120)})
    table["units"] = 2 * table[" price"] + (table[" store"] == "a")
    table.to_parquet(workdir / "padded.parquet")
    run_cli("study", "--data", "padded.parquet", "--target", "units", "--trials", "1", "--set", "train.epochs=3",
            "--set", "baselines=false")
    table.rename(columns=str.strip).head(5).to_csv(workdir / "rows.csv", index=False)
    out = run_cli("predict", "models:/padded@champion", "rows.csv", "-o", "p.csv")
    assert "warning" not in out.stderr, out.stderr
    assert len(pd.read_csv(workdir / "p.csv")) == 5


@pytest.mark.slow
def test_the_registered_model_takes_a_true_false_column_as_pandas_reads_it(workdir: Path) -> None:
    """pandas reads True/False as bool; the model reads that column as the text it was trained on. MLflow's
    `string` in the signature refused the bool column (`Can not safely convert bool to <U0`) when a user
    gave the pyfunc model the table as read."""
    import mlflow

    import harness

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=150), "member": rng.choice([True, False], 150)})
    table["spend"] = table["x"] + 2 * table["member"]
    table.to_csv(workdir / "shop.csv", index=False)
    run_cli("study", "--data", "shop.csv", "--target", "spend", "--trials", "1", "--set", "train.epochs=3",
            "--set", "baselines=false")
    rows = pd.read_csv(workdir / "shop.csv").drop(columns=["spend"])
    assert rows["member"].dtype == bool
    model = mlflow.pyfunc.load_model("models:/shop@champion")
    kinds = {spec.name: str(spec.type) for spec in model.metadata.get_input_schema().inputs}
    assert kinds == {"x": "Any", "member": "Any"}
    direct = model.predict(rows)["prediction"].to_numpy()
    as_text = model.predict(rows.assign(member=rows["member"].astype(str)))["prediction"].to_numpy()
    np.testing.assert_allclose(direct, as_text, rtol=1e-6)
    np.testing.assert_allclose(direct, harness.predict("models:/shop@champion", rows)["prediction"], rtol=1e-6)
