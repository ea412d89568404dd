"""Data preparation: task inference, reproducible stratified splits, preprocessing fitted on train only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import ROOT

from harness.data.prepare import prepare
from harness.data.sources import read_table
from harness.data.target import infer_task
from harness.errors import HarnessError

HOUSES = str(ROOT / "experiments/data/house_prices.csv")


def test_task_inference() -> None:
    assert infer_task(pd.Series(["yes", "no"])) == "classification"
    assert infer_task(pd.Series([0, 1, 2, 1])) == "classification"
    assert infer_task(pd.Series(np.arange(100) * 1000)) == "regression"
    assert infer_task(pd.Series([0.5, 1.5])) == "regression"
    assert infer_task(pd.Series([0.0, 1.0, np.nan, 1.0])) == "classification"  # 0/1 beside a blank: floats
    assert infer_task(pd.Series(np.arange(100) * 1000.0)) == "regression"


def test_a_zero_one_target_with_blanks_is_classes_zero_and_one(tmp_path) -> None:
    """pandas reads a 0/1 column with an empty cell as 0.0/1.0; it was studied as a regression."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    target = np.where(x > 0, "1", "0").astype(object)
    target[::25] = ""
    path = tmp_path / "survived.csv"
    pd.DataFrame({"x": x, "survived": target}).to_csv(path, index=False)
    data = prepare(str(path), "survived", "auto", 0.2, 0.2, seed=0, device="cpu")
    assert data.task == "classification" and data.classes == [0, 1]
    assert all(type(c) is int for c in data.classes)
    assert sum(len(v) for v in data.labels.values()) == 192  # the 8 rows without a target dropped


def test_splits_are_reproducible_disjoint_and_stratified() -> None:
    a = prepare(HOUSES, "aircon", "auto", 0.2, 0.2, seed=1, device="cpu")
    b = prepare(HOUSES, "aircon", "auto", 0.2, 0.2, seed=1, device="cpu")
    c = prepare(HOUSES, "aircon", "auto", 0.2, 0.2, seed=2, device="cpu")
    assert a.task == "classification" and a.classes == ["no", "yes"]
    assert a.raw["test"].equals(b.raw["test"]) and not a.raw["test"].equals(c.raw["test"])
    sizes = {k: len(v) for k, v in a.raw.items()}
    assert sum(sizes.values()) == 546
    rates = [np.mean(a.labels[s] == "yes") for s in ("train", "val", "test")]
    assert max(rates) - min(rates) < 0.03  # stratified: the same share of "yes" in every split


def test_preprocessor_is_fitted_on_training_rows_only() -> None:
    data = prepare(HOUSES, "price", "regression", 0.2, 0.2, seed=0, device="cpu")
    train = data.X["train"].numpy()
    numeric = train[:, :5]  # lotsize, bedrooms, bathrooms, stories, garage: standardized on train
    np.testing.assert_allclose(numeric.mean(0), 0, atol=1e-5)
    assert abs(data.X["test"].numpy()[:, :5].mean()) > 1e-3
    assert data.target_mean == pytest.approx(data.labels["train"].mean())
    assert data.X["train"].device == data.device and data.y["train"].shape == (len(train), 1)


def test_unseen_categories_and_missing_values_are_handled() -> None:
    data = prepare(HOUSES, "price", "regression", 0.2, 0.2, seed=0, device="cpu")
    rows = data.raw["test"].head(3).copy()
    rows.loc[0, "driveway"] = "maybe"  # a category never seen in training
    rows.loc[1, "lotsize"] = np.nan
    encoded = data.preprocessor.transform(rows)
    assert np.isfinite(encoded).all()


@pytest.mark.parametrize("source,task,classes", [
    ("sklearn:iris", "classification", 3), ("sklearn:wine", "classification", 3),
    ("sklearn:breast_cancer", "classification", 2), ("sklearn:digits", "classification", 10),
    ("sklearn:diabetes", "regression", None), ("synthetic:linear", "regression", None),
])
def test_bundled_and_synthetic_sources(source: str, task: str, classes: int | None) -> None:
    data = prepare(source, None, "auto", 0.15, 0.15, seed=0, device="cpu")
    assert data.task == task
    assert (len(data.classes) if data.classes else None) == classes


def test_a_parquet_list_column_is_left_out_or_refused_and_a_duration_is_seconds(tmp_path) -> None:
    """Parquet keeps lists (and structs) in a cell and durations as timedelta: the list column was a
    traceback (`unhashable type: 'numpy.ndarray'`), the duration text of the TF-IDF."""
    from harness.spec.quick import quick_spec

    rng = np.random.default_rng(0)
    path = tmp_path / "events.parquet"
    pd.DataFrame({"x": rng.normal(size=60), "tags": [["a", "b"][: i % 3] for i in range(60)],
                  "took": pd.to_timedelta(np.arange(60), unit="h"), "y": rng.normal(size=60)}).to_parquet(path)
    read = read_table(path)
    assert read["took"].dtype == np.float64 and read["took"].iloc[2] == 7200.0
    spec = quick_spec(str(path), "y")  # quick mode leaves the list column out and says why
    assert list(spec.data.drop) == ["tags"] and "lists or mappings" in spec.data.drop["tags"]
    with pytest.raises(HarnessError, match=r"column 'tags' .* holds lists or mappings .* data.drop: \[tags\]"):
        prepare(str(path), "y", "regression", 0.2, 0.2, seed=0, device="cpu")  # a study file must drop it
    data = prepare(str(path), "y", "regression", 0.2, 0.2, seed=0, device="cpu", drop=["tags"])
    assert ("took", "numeric") in [(c, kind) for c, kind, _ in data.columns]


def test_rows_repeated_many_times_are_pointed_out(tmp_path) -> None:
    """Each of 200 rows three times: copies land in training and test alike, and the test score flatters."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    pd.concat([table] * 3).to_csv(tmp_path / "copies.csv", index=False)
    notes = prepare(str(tmp_path / "copies.csv"), "y", "regression", 0.2, 0.2, seed=0, device="cpu").notes
    assert [n.split(":")[0] for n in notes if "repeat" in n] == \
        ["400 of 600 rows repeat an earlier row in every column, the target too"]
    categories = pd.DataFrame({"sex": ["f", "m"] * 300, "class": ["1st", "2nd", "3rd"] * 200,
                               "y": ["no", "no", "yes"] * 200})
    categories.to_csv(tmp_path / "people.csv", index=False)  # people sharing every value: no copies
    assert not any("repeat" in n for n in prepare(str(tmp_path / "people.csv"), "y", "classification", 0.2, 0.2,
                                                  seed=0, device="cpu").notes)
    table.to_csv(tmp_path / "once.csv", index=False)
    assert not any("repeat" in n for n in prepare(str(tmp_path / "once.csv"), "y", "regression", 0.2, 0.2, seed=0,
                                                  device="cpu").notes)


def test_parquet_source(tmp_path) -> None:
    path = tmp_path / "houses.parquet"
    pd.read_csv(HOUSES).to_parquet(path)
    assert prepare(str(path), "price", "auto", 0.2, 0.2, seed=0, device="cpu").task == "regression"


@pytest.mark.parametrize("name", ["houses.csv.gz", "houses.csv.bz2", "houses.csv.zip", "houses.tsv.xz"])
def test_a_compressed_csv_is_read_as_the_csv_it_holds(tmp_path, name: str) -> None:
    """Datasets often ship as data.csv.gz: it was `unsupported file type '.gz'`."""
    from harness.spec.quick import quick_spec

    houses = pd.read_csv(HOUSES)
    houses.to_csv(tmp_path / name, index=False, sep="\t" if ".tsv" in name else ",")
    pd.testing.assert_frame_equal(read_table(tmp_path / name), houses, check_dtype=False)
    assert quick_spec(str(tmp_path / name), "price").name == "houses"
    european = houses.assign(city=["Zürich"] * len(houses))  # a European CSV's conventions inside, too
    european.to_csv(tmp_path / name, index=False, sep=";", decimal=",", encoding="cp1252")
    pd.testing.assert_frame_equal(read_table(tmp_path / name), european, check_dtype=False)
    (tmp_path / "broken.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(HarnessError, match="cannot read .*broken.csv.gz as a gz-compressed file"):
        read_table(tmp_path / "broken.csv.gz")


def test_a_windows_1252_csv_is_read_as_it_was_written_and_said_so(tmp_path) -> None:
    """Excel on Windows saves "CSV" in Windows-1252: `Zürich` is the byte 0xfc, which UTF-8 refused."""
    table = pd.DataFrame({"city": ["Zürich", "Genève", "Bern"] * 20, "x": np.arange(60) / 4,
                          "y": np.arange(60) % 7})
    for sep, decimal in ((",", "."), (";", ",")):  # a European file: semicolons and decimal commas too
        table.to_csv(tmp_path / "cities.csv", index=False, sep=sep, decimal=decimal, encoding="cp1252")
        read = read_table(tmp_path / "cities.csv")
        pd.testing.assert_frame_equal(read, table, check_dtype=False)
        assert read.attrs["encoding"] == "cp1252"
    data = prepare(str(tmp_path / "cities.csv"), "y", "regression", 0.2, 0.2, seed=0, device="cpu")
    assert "read cities.csv as Windows-1252 text (its bytes are not UTF-8)" in data.notes
    table.to_csv(tmp_path / "utf8.csv", index=False)
    assert "encoding" not in read_table(tmp_path / "utf8.csv").attrs
    assert not any("Windows-1252" in n for n in prepare(str(tmp_path / "utf8.csv"), "y", "regression", 0.2, 0.2,
                                                         seed=0, device="cpu").notes)


def test_spaces_around_names_and_values_are_not_part_of_them(tmp_path) -> None:
    """UCI's adult writes `39, State-gov, <=50K`: pandas kept ' income' as the name (so `--target income`
    was not found) and ' State-gov' as the category, which a served 'State-gov' did not match."""
    from harness.data.sources import as_text

    houses = pd.read_csv(HOUSES)
    lines = [", ".join(houses.columns)] + [
        ", ".join(f" {v} " if isinstance(v, str) else str(v) for v in row) for row in houses.itertuples(index=False)]
    lines[5] = lines[5].replace(" no ", "   ", 1)  # a cell of spaces only is a missing value
    (tmp_path / "padded.csv").write_text("\n".join(lines) + "\n")
    read = read_table(tmp_path / "padded.csv")
    assert list(read.columns) == list(houses.columns)
    first_no = next(c for c in houses.columns if houses[c].iloc[4] == "no")
    assert pd.isna(read.loc[4, first_no])
    houses.loc[4, first_no] = np.nan
    pd.testing.assert_frame_equal(read, houses, check_dtype=False)
    assert prepare(str(tmp_path / "padded.csv"), "aircon", "auto", 0.2, 0.2, seed=0, device="cpu").classes == \
        ["no", "yes"]
    assert prepare(str(tmp_path / "padded.csv"), " aircon", "auto", 0.2, 0.2, seed=0, device="cpu").target == \
        "aircon"  # the name a study file took from pandas before, with its space
    served = as_text(pd.Series([" Private", "Private ", None, 3]))  # a served model's text columns alike
    assert list(served[[0, 1, 3]]) == ["Private", "Private", "3"] and pd.isna(served[2])


@pytest.mark.parametrize("sep, decimal", [(";", ","), (";", "."), ("\t", "."), ("|", ".")],
                         ids=["semicolons and decimal commas", "semicolons", "tabs in a .csv", "pipes"])
def test_a_csv_written_with_another_separator_is_read_as_written(tmp_path, sep: str, decimal: str) -> None:
    houses = pd.read_csv(HOUSES)
    houses.loc[3, "lotsize"] = np.nan  # a missing number stays missing
    houses["per_sqft"] = -houses["price"] / houses["lotsize"]  # numbers with decimals (and a sign)
    houses["note"] = ["a, b"] * len(houses)  # commas inside text stay text
    houses.to_csv(tmp_path / "houses.csv", index=False, sep=sep, decimal=decimal)
    read = read_table(tmp_path / "houses.csv")
    pd.testing.assert_frame_equal(read, houses, check_dtype=False)
    assert read["per_sqft"].dtype.kind == "f" and read["note"].iloc[0] == "a, b"
    # a text column of codes like "1,2" in a semicolon table without decimal commas elsewhere stays as it is
    codes = pd.DataFrame({"code": ["1,2", "A7"] * 10, "y": np.arange(20.0) + 0.5})
    codes.to_csv(tmp_path / "codes.csv", index=False, sep=";")
    assert list(read_table(tmp_path / "codes.csv")["code"][:2]) == ["1,2", "A7"]


def test_a_european_csv_with_dots_between_thousands_and_a_quoted_header(tmp_path) -> None:
    text = '"price; in euros";"size, m2";y\n"1.234,50";"1.000";1\n"987,25";"12";2\n"-12.345.678,5";"7";3\n'
    path = tmp_path / "europe.csv"
    path.write_text(text)
    read = read_table(path)
    assert list(read.columns) == ["price; in euros", "size, m2", "y"]
    np.testing.assert_array_equal(read["price; in euros"], [1234.5, 987.25, -12345678.5])
    np.testing.assert_array_equal(read["size, m2"], [1000, 12, 7])


def test_numbers_written_as_text_are_read_as_numbers(tmp_path) -> None:
    """As a spreadsheet exports them: currency, thousands separators, percent, an accountant's negative."""
    table = pd.DataFrame({"price": ["$1,234.56", "$99", None, "(1,000.5)", "€ 7"],
                          "rate": ["5%", "12.5%", "-1%", "0%", None],
                          "code": ["1,2", "3,4", "5,6", "7,8", "9,0"],  # not groups of three: codes, kept as text
                          "zip": ["02134", "10001", "94105", "60601", "30301"], "y": range(5)})
    table.to_csv(tmp_path / "t.csv", index=False)
    read = read_table(tmp_path / "t.csv")
    np.testing.assert_array_equal(read["price"], [1234.56, 99.0, np.nan, -1000.5, 7.0])
    np.testing.assert_array_equal(read["rate"], [5.0, 12.5, -1.0, 0.0, np.nan])
    assert list(read["code"]) == ["1,2", "3,4", "5,6", "7,8", "9,0"]
    table.assign(price=table["price"].fillna("call us")).to_csv(tmp_path / "mixed.csv", index=False)
    assert read_table(tmp_path / "mixed.csv")["price"].iloc[4] == "€ 7"  # one word among them: text, as written
    # UCI's tables write ? for a missing number: the column is numbers, the ? missing; among words, a category
    placeholders = pd.DataFrame({"age": ["39", "?", "52", "-"], "job": ["clerk", "?", "cook", "clerk"],
                                 "all": ["?"] * 4, "y": range(4)})
    placeholders.to_csv(tmp_path / "uci.csv", index=False)
    uci = read_table(tmp_path / "uci.csv")
    np.testing.assert_array_equal(uci["age"], [39.0, np.nan, 52.0, np.nan])
    assert list(uci["job"]) == ["clerk", "?", "cook", "clerk"] and list(uci["all"]) == ["?"] * 4
    # words people and spreadsheets write for a missing number, in any case
    words = pd.DataFrame({"kids": ["2", "Unknown", "0", "#DIV/0!", "n/a", "3", "NONE"], "y": range(7)})
    words.to_csv(tmp_path / "words.csv", index=False)
    np.testing.assert_array_equal(read_table(tmp_path / "words.csv")["kids"], [2, np.nan, 0, np.nan, np.nan, 3, np.nan])
    table.to_parquet(tmp_path / "t.parquet")  # digits a Parquet file keeps as text were kept so on purpose
    assert list(read_table(tmp_path / "t.parquet")["zip"]) == ["02134", "10001", "94105", "60601", "30301"]
    assert read_table(tmp_path / "t.parquet")["price"].iloc[0] == 1234.56


def panel(people: int = 60, years: int = 5) -> pd.DataFrame:
    """Yearly rows of each person: rows of one person belong together."""
    rng = np.random.default_rng(0)
    person = np.repeat(np.arange(people), years)
    return pd.DataFrame({"person_id": person, "year": np.tile(np.arange(years), people),
                         "x": rng.normal(size=people * years), "y": rng.normal(size=people)[person]})


def test_a_group_column_keeps_each_group_in_one_split_and_one_fold(tmp_path) -> None:
    from harness.data.folds import make_folds

    panel().to_csv(tmp_path / "panel.csv", index=False)
    data = prepare(str(tmp_path / "panel.csv"), "y", "regression", 0.2, 0.2, seed=3, device="cpu", group="person_id")
    groups = data.groups
    assert sum(len(g) for g in groups.values()) == 300 and all(len(set(g)) >= 1 for g in groups.values())
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not set(groups[a]) & set(groups[b])
    assert {name: len(set(g)) for name, g in groups.items()} == {"train": 36, "val": 12, "test": 12}
    assert "person_id" not in data.raw["train"].columns and "person_id" not in data.features  # no feature
    assert ("person_id", "dropped",
            "groups the split (data.split.group): each value's rows in one split") in data.columns
    assert any("60 groups (train 36, val 12, test 12)" in note for note in data.notes)
    again = prepare(str(tmp_path / "panel.csv"), "y", "regression", 0.2, 0.2, seed=3, device="cpu", group="person_id")
    assert all(np.array_equal(again.groups[n], groups[n]) for n in groups)  # the seed decides
    pooled = np.concatenate([groups["train"], groups["val"]])
    in_fold = [set(pooled[fold.rows]) for fold in make_folds(data, 4, seed=0)]
    assert all(not in_fold[i] & in_fold[j] for i in range(4) for j in range(i + 1, 4))
    assert set().union(*in_fold) == set(pooled)


def test_a_repeated_id_is_pointed_out_and_a_bad_group_column_refused(tmp_path) -> None:
    panel().to_csv(tmp_path / "panel.csv", index=False)
    data = prepare(str(tmp_path / "panel.csv"), "y", "regression", 0.2, 0.2, seed=0, device="cpu")
    assert any("'person_id' is named like an id and repeats its values (60 values, 5.0 rows each)" in note
               and "data.split.group: person_id" in note for note in data.notes)
    codes = panel().assign(yes_no=lambda f: f["x"] > 0, nr=lambda f: f["person_id"])  # a code; a person's number
    codes.to_csv(tmp_path / "codes.csv", index=False)
    notes = prepare(str(tmp_path / "codes.csv"), "y", "regression", 0.2, 0.2, seed=0, device="cpu").notes
    assert not any("'yes_no'" in n for n in notes) and any("'nr' is named like an id" in n for n in notes)
    for group, message in (("nope", "data.split.group: column 'nope' is not in"), ("y", "'y' is the target")):
        with pytest.raises(HarnessError, match=message):
            prepare(str(tmp_path / "panel.csv"), "y", "regression", 0.2, 0.2, seed=0, device="cpu", group=group)
    panel(people=2).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(HarnessError, match="2 group"):
        prepare(str(tmp_path / "two.csv"), "y", "regression", 0.2, 0.2, seed=0, device="cpu", group="person_id")


def test_unknown_bundled_set_is_a_clear_error() -> None:
    with pytest.raises(HarnessError, match="sklearn:iris"):
        prepare("sklearn:nope", None, "auto", 0.15, 0.15, seed=0, device="cpu")


def mixed_table(rows: int) -> pd.DataFrame:
    """Numbers (some missing), a category, free text and dates: every kind of column the preprocessor encodes."""
    rng = np.random.default_rng(0)
    words = np.array(["red", "green", "blue", "small", "large", "fast", "slow", "cheap", "dear", "old", "new"])
    return pd.DataFrame({
        "a": rng.normal(size=rows) * 1e3, "b": np.where(rng.random(rows) < 0.1, np.nan, rng.exponential(size=rows)),
        "colour": rng.choice(["x", "y", "z", None], rows),
        "note": [" ".join(rng.choice(words, 5)) + f" {i}" for i in range(rows)],
        "when": pd.date_range("2020-01-01", periods=rows, freq="6h").strftime("%Y-%m-%d"),
        "y": rng.normal(size=rows) * 5 + 100,
    })


def test_rows_encoded_a_few_at_a_time_are_exactly_those_encoded_at_once(tmp_path, monkeypatch) -> None:
    """encode_rows cuts a split into blocks of rows to bound memory; every step of the preprocessor treats
    each row on its own, so the network sees the very same numbers, whichever scaling."""
    import harness.data.prepare as prep

    path = tmp_path / "mixed.csv"
    mixed_table(300).to_csv(path, index=False)
    whole = prepare(str(path), "y", "regression", 0.2, 0.2, seed=0, device="cpu")
    assert len(whole.raw["train"]) < prep.ENCODE_MIN_ROWS  # one block
    monkeypatch.setattr(prep, "ENCODE_BYTES", 1)
    monkeypatch.setattr(prep, "ENCODE_MIN_ROWS", 7)
    blocks = prepare(str(path), "y", "regression", 0.2, 0.2, seed=0, device="cpu")
    assert [kind for _, kind, _ in blocks.columns] == ["numeric", "numeric", "categorical", "text", "date"]
    for numeric in ("standard", "robust", "quantile"):
        for split in ("train", "val", "test"):
            assert torch.equal(whole.variant(numeric).X[split], blocks.variant(numeric).X[split]), (numeric, split)


def test_a_split_s_float64_encoding_never_exists_whole(monkeypatch) -> None:
    """The preprocessor returns float64; the network takes float32. Encoded a block of rows at a time, the
    float64 copies of a split (and its steps' own) stay a few blocks' size, however many rows it has
    (numpy reports its arrays to tracemalloc: a deterministic measure, unlike the process's memory)."""
    import tracemalloc

    import harness.data.prepare as prep
    from harness.data.columns import build_preprocessor

    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(50_000, 32)), columns=[f"x{i}" for i in range(32)])
    preprocessor = build_preprocessor(rows).fit(rows)
    monkeypatch.setattr(prep, "ENCODE_BYTES", 2**19)  # blocks of 2,048 rows (ENCODE_MIN_ROWS is 1,024)
    tracemalloc.start()
    try:
        encoded = prep.encode_rows(preprocessor, rows, "train", torch.device("cpu"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole = rows.shape[0] * rows.shape[1] * 8  # one float64 copy of the split: 12.8 MB
    assert peak < whole / 2, f"{peak / 2**20:.1f} MiB traced while encoding {whole / 2**20:.1f} MiB"
    np.testing.assert_array_equal(encoded.numpy(), preprocessor.transform(rows).astype(np.float32))
