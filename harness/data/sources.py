"""Where rows come from: a CSV/Parquet file, scikit-learn's bundled sets, or synthetic data.

Each source returns one raw DataFrame (features and target side by side) and the target's name; nothing
here encodes, scales or splits.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError

BUNDLED = ("diabetes", "breast_cancer", "wine", "iris", "digits")
SYNTHETIC = ("linear",)
# The first lesson of the PyTorch workflow: a straight line with known weight and bias to recover.
LINEAR_WEIGHT, LINEAR_BIAS, LINEAR_ROWS = 0.7, 0.3, 1000
CSV_SUFFIXES, PARQUET_SUFFIXES = (".csv", ".txt", ".tsv"), (".parquet", ".pq")
# A .csv read as one column whose name holds one of these was written with another separator.
OTHER_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}
# pd.read_parquet's defaults peaked at 3.1x the table here (1M rows x 33 float64) and still held 3.1x after:
# the file's bytes read ahead whole, beside the Arrow table, beside the DataFrame copied from it; and Arrow's
# allocator kept what it freed, which numpy and torch cannot use. Without the read-ahead, each column handed
# to pandas as it is (a block of its own; the Arrow table freed as it goes) and the unused memory given back
# (release_arrow_memory): 1.6x at the peak, 1.1x after. The DataFrame is the same.
PARQUET_READ = {"pre_buffer": False, **({"to_pandas_kwargs": {"split_blocks": True, "self_destruct": True}}
                                        if "to_pandas_kwargs" in inspect.signature(pd.read_parquet).parameters
                                        else {})}  # pandas 3.0 and later


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with a clear message when that is impossible: an empty
    file, a header without rows, bytes that are not UTF-8, another separator, a column name given twice."""
    path = Path(path)
    if path.is_dir():
        raise HarnessError(f"{path} is a folder; a table is one .csv or .parquet file")
    if not path.is_file():
        raise HarnessError(f"data file {str(path)!r} not found; give a path to a .csv or .parquet file")
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise HarnessError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    if path.stat().st_size == 0:
        raise HarnessError(f"{path} is empty (0 bytes); a table needs a header row and rows of data")
    frame = _read_csv(path, "\t" if suffix == ".tsv" else ",") if suffix in CSV_SUFFIXES else _read_parquet(path)
    if len(frame) == 0:
        raise HarnessError(f"{path} has a header ({', '.join(map(str, frame.columns[:5]))}) but no rows")
    return frame



def _read_csv(path: Path, sep: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep=sep)
        header = pd.read_csv(path, sep=sep, header=None, nrows=1).iloc[0].tolist()  # names as written
    except UnicodeDecodeError:
        raise HarnessError(_not_utf8(path)) from None
    except pd.errors.EmptyDataError:
        raise HarnessError(f"{path} holds no table (only blank lines); a table needs a header row and rows of "
                           "data") from None
    except Exception as err:  # pandas raises many types for a malformed file
        raise HarnessError(f"cannot read {path} as a {path.suffix[1:]} table: {err}") from None
    if frame.shape[1] == 1:
        found = [name for mark, name in OTHER_SEPARATORS.items() if mark != sep and mark in str(frame.columns[0])]
        if found:
            raise HarnessError(f"{path} looks {found[0]}-separated (header {frame.columns[0]!r}); the harness reads "
                               "comma-separated CSV (.tsv for tabs): save it with commas")
    repeated = sorted({str(n) for n in header if header.count(n) > 1})
    if repeated:
        raise HarnessError(f"{path}: column name(s) {', '.join(map(repr, repeated))} appear more than once in the "
                           "header; give every column its own name")
    return frame


def _not_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        return f"{path} is not UTF-8 text; save it as UTF-8"
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        return (f"{path} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); save it as UTF-8, "
                f"e.g. iconv -f latin1 -t utf-8 {path.name} > utf8.csv")


def _read_parquet(path: Path) -> pd.DataFrame:
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(path.stat().st_size - 4, 0))
        tail = f.read(4)
    if head != b"PAR1" or tail != b"PAR1":  # every Parquet file starts and ends with these magic bytes
        raise HarnessError(f"{path} is not a Parquet file (no PAR1 magic bytes); if it is CSV text, name it .csv")
    try:
        frame = pd.read_parquet(path, **PARQUET_READ)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise HarnessError(f"cannot read {path} as a parquet table: {err}") from None
    finally:
        release_arrow_memory()
    repeated = sorted({str(n) for n in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise HarnessError(f"{path}: column name(s) {', '.join(map(repr, repeated))} appear more than once; give "
                           "every column its own name")
    return frame


def release_arrow_memory() -> None:
    """Give back to the system the memory Arrow's allocator holds unused, e.g. once a table read from Parquet
    is freed: it keeps that memory for Arrow's next arrays, which numpy and torch never use."""
    pyarrow = sys.modules.get("pyarrow")  # not imported: nothing to give back
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()


def as_text(values: pd.Series) -> pd.Series:
    """A column as the packaged model reads non-numeric data: str values, missing ones as None."""
    return values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v))


def load_source(source: str, target: str | None, seed: int) -> tuple[pd.DataFrame, str]:
    """The raw rows of a study's data source and the name of the column to predict."""
    scheme, _, name = source.partition(":")
    if scheme == "sklearn" and not Path(source).exists():
        frame, default_target = _bundled(name)
    elif scheme == "synthetic" and not Path(source).exists():
        frame, default_target = _synthetic(name, seed)
    else:
        try:
            frame, default_target = read_table(source), None
        except HarnessError as err:
            raise HarnessError(f"data.source: {err}") from None
    target = target or default_target
    if target is None:
        raise HarnessError(f"data.target is required for {source}: name the column to predict")
    if target not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20])) + (" ..." if len(frame.columns) > 20 else "")
        raise HarnessError(f"data.target: column {target!r} is not in {source}; its columns are: {shown}")
    if frame.shape[1] < 2:
        raise HarnessError(f"{source} has no feature columns besides the target {target!r}")
    return frame, target


def _bundled(name: str) -> tuple[pd.DataFrame, str]:
    if name not in BUNDLED:
        raise HarnessError(f"data.source: unknown bundled set 'sklearn:{name}'; choose one of "
                           + ", ".join(f"sklearn:{b}" for b in BUNDLED))
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    if name in ("breast_cancer", "wine", "iris"):
        # Class names read better in predictions than 0/1/2.
        frame["target"] = pd.Categorical.from_codes(bunch.target, list(map(str, bunch.target_names))).astype(str)
    return frame, "target"


def _synthetic(name: str, seed: int) -> tuple[pd.DataFrame, str]:
    if name not in SYNTHETIC:
        raise HarnessError(f"data.source: unknown synthetic set 'synthetic:{name}'; choose one of "
                           + ", ".join(f"synthetic:{s}" for s in SYNTHETIC))
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, LINEAR_ROWS)
    y = LINEAR_WEIGHT * x + LINEAR_BIAS + rng.normal(0.0, 0.01, LINEAR_ROWS)
    return pd.DataFrame({"x": x, "y": y}), "y"
