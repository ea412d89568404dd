"""Where rows come from: a CSV/Parquet file, scikit-learn's bundled sets, or synthetic data.

Each source returns one raw DataFrame (features and target side by side) and the target's name; nothing
here encodes, scales or splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError

BUNDLED = ("diabetes", "breast_cancer", "wine", "iris", "digits")
SYNTHETIC = ("linear",)
# The first lesson of the PyTorch workflow: a straight line with known weight and bias to recover.
LINEAR_WEIGHT, LINEAR_BIAS, LINEAR_ROWS = 0.7, 0.3, 1000


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with a clear message when that is impossible."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"data file {str(path)!r} not found; give a path to a .csv or .parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except Exception as err:  # pandas raises many types for a malformed file
        raise HarnessError(f"cannot read {path} as a {suffix[1:]} table: {err}") from None
    raise HarnessError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


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
