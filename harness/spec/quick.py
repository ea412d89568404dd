"""Quick mode: `harness study --data FILE --target COL` with no study file.

It looks at the table once (rows, task, the target's shape) and writes the study a careful user would
have written for it: robust scaling of numbers, a space of linear models, MLPs and (below TABM_ROWS)
TabM ensembles with optional numeric embeddings, batch sizes and epochs scaled to the row count, early
stopping, cross-validated trials on small tables, and a log target for a positive, right-skewed
regression target. The choices and their
reasons go into the study's description, so the parent run in MLflow says why they were made.
Any of them can still be overridden with `--set key=value`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.spec.schema import StudySpec, build_spec

TRIALS = 30
SMALL_TABLE = 2000  # rows under which val and test take 20% each: fewer rows need a steadier referee
SKEWED = 1.0  # sample skewness above which a positive target is modelled on the log scale
# The batch-size choices give about this many optimizer steps per epoch on small tables; large tables
# stop at MAX_BATCH and so take more (smaller) steps per epoch, which they need fewer epochs of.
STEPS_PER_EPOCH = (16, 8, 4)
MIN_BATCH, MAX_BATCH = 16, 512
MAX_EPOCHS, MIN_EPOCHS = 300, 30
MAX_ROWS_SEEN = 3_000_000  # epochs x training rows per trial: bounds a trial's time on large tables
# Below this many rows, each trial is scored by CV_FOLDS-fold cross-validation of train+val: one
# validation split of a few hundred rows picks the luckiest trial, not the best.
CV_ROWS, CV_FOLDS = 2000, 5
# TabM is offered below this many rows: its k members cost about k times an MLP's compute per step, hours
# per trial on a large table and a CPU (a study file, or --set, can still ask for it).
TABM_ROWS = 10_000
# TabM's members: 4, not the paper's 32 (a GPU's choice). On diabetes (442 rows) 8 members of up to 512
# units made 17 TabM trials take 168 s of a 195 s study; 4 members of up to 256 units, 39 s, with the
# same test RMSE (58.5 against 58.6).
TABM_MEMBERS = 4
WIDTHS = (32, 512)  # units per layer, searched on a log scale
SMALL_WIDTH = 256  # the widest layer under CV_ROWS rows: a few hundred rows do not need 512 units


def skewness(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    centered = values - values.mean()
    spread = centered.std()
    return float((centered ** 3).mean() / spread ** 3) if spread > 0 else 0.0


def target_transform(target: pd.Series) -> tuple[str, str]:
    """`log` for a positive target whose log is less skewed than itself and which is skewed to the right;
    `standardize` otherwise. Returns the choice and the reason, for the description."""
    values = pd.to_numeric(target, errors="coerce").dropna().to_numpy(dtype=np.float64)
    if len(values) == 0 or values.min() <= 0:
        return "standardize", "standardized target (it is not strictly positive)"
    raw, logged = skewness(values), skewness(np.log(values))
    if raw > SKEWED and abs(logged) < abs(raw):
        return "log", f"log target (positive, right-skewed: skewness {raw:.2f}, {logged:.2f} after log)"
    return "standardize", f"standardized target (skewness {raw:.2f})"


def batch_sizes(n_train: int) -> list[int]:
    """Powers of two giving about STEPS_PER_EPOCH steps per epoch, within [MIN_BATCH, MAX_BATCH]."""
    sizes = []
    for steps in STEPS_PER_EPOCH:
        size = 2 ** round(math.log2(max(n_train / steps, 1)))
        size = min(max(size, MIN_BATCH), MAX_BATCH)
        if size not in sizes:
            sizes.append(size)
    return sizes


def epochs_for(n_train: int) -> tuple[int, int]:
    """Epochs (an upper bound) and early-stopping patience: small tables need many short epochs, large
    ones fewer long ones; MAX_ROWS_SEEN keeps a trial's time bounded either way. Patience is a twentieth
    of the epochs (at least 10): on small tables the best epoch came early (4 to 30 of 300 on
    breast_cancer), and a longer wait was most of a trial's time."""
    epochs = int(min(MAX_EPOCHS, max(MIN_EPOCHS, MAX_ROWS_SEEN // max(n_train, 1))))
    return epochs, max(10, epochs // 20)


def dropped_columns(frame: pd.DataFrame, target: str, drop: list[str], origin: str) -> dict[str, str]:
    """{column: why} for the columns quick mode leaves out: those given with --drop, columns of lists or
    mappings, identifiers, and columns with no value or one value throughout."""
    from harness.data.profile import identifiers, nested, uninformative

    unknown = [c for c in drop if c not in frame.columns]
    if unknown:
        raise HarnessError(f"{origin}: --drop {unknown[0]}: no such column; the columns are: "
                           + ", ".join(map(str, frame.columns[:20])))
    if target in drop:
        raise HarnessError(f"{origin}: --drop {target}: that is the target (--target); it cannot be dropped")
    reasons = {c: "named with --drop" for c in drop}
    features = frame.drop(columns=[target, *drop])
    reasons.update(nested(features))  # dropped whatever is left: nothing can read them
    features = features.drop(columns=[c for c in reasons if c in features.columns])
    for column, why in {**uninformative(features), **identifiers(features)}.items():
        if len(reasons) < frame.shape[1] - 2:  # never drop the last feature
            reasons[column] = why
    return reasons


def quick_raw(frame: pd.DataFrame, target: str, task: str, name: str, source: str, label: str,
              drop: dict[str, str] | None = None) -> dict:
    """The raw study dict for a table: what `quick_spec` validates."""
    from harness.data.target import infer_task

    known = frame[target].dropna()
    task = infer_task(known) if task == "auto" else task
    n = len(known)
    val = test = 0.2 if n < SMALL_TABLE else 0.15
    n_train = max(1, int(n * (1 - val - test)))
    sizes = batch_sizes(n_train)
    epochs, patience = epochs_for(n_train)
    reasons = [f"{n} rows ({n_train} to train)", f"batch sizes {sizes}", f"up to {epochs} epochs"]
    # Median/IQR scaling, smoothly clipped to +-3 (RealMLP): an impossible value cannot push the network
    # far outside what it was trained on.
    data = {"source": source, "target": target, "split": {"val": val, "test": test, "seed": 0}, "numeric": "robust"}
    if drop:
        data["drop"] = dict(drop)
        reasons.append("dropped " + ", ".join(f"{c} ({why.split(':')[0]})" for c, why in drop.items()))
    folds = CV_FOLDS if n < CV_ROWS else 1
    if folds > 1:
        reasons.append(f"{folds}-fold cross-validation of train+val (under {CV_ROWS} rows)")
    if task == "regression":
        transform, why = target_transform(known)
        data["target_transform"] = transform
        reasons.append(why)
        metric = "val/rmse"
    else:
        # Accuracy ties (often at 1.0) on a small validation split, and the first trial to tie wins:
        # log loss is smooth and still rewards the confident, correct model.
        metric = "val/log_loss"
    return {
        "name": name,
        "description": f"Quick study of {target} in {label}: " + "; ".join(reasons),
        "task": task,
        "data": data,
        "model": model_space(frame.drop(columns=[target, *(drop or {})]), tabm=n < TABM_ROWS,
                             widest=SMALL_WIDTH if n < CV_ROWS else WIDTHS[1]),
        "train": {
            "optimizer": "adamw",
            # Rates up to 3e-3 keep small-table trajectories smooth, so the best epoch on a small
            # validation split is a trained model rather than a lucky step early on.
            "lr": {"float": [1e-4, 3e-3], "log": True},
            "weight_decay": {"float": [1e-5, 1.0], "log": True},
            "batch_size": {"choice": sizes},
            "epochs": epochs,
            "early_stopping": {"patience": patience},
            # Lower the rate when validation stalls, twice before early stopping ends the trial: the best
            # epoch's weights then come from a quiet optimizer, not from a lucky noisy step.
            "schedule": "plateau",
        },
        "study": {"trials": TRIALS, "seed": 0, "metric": metric, "folds": folds},
    }


def model_space(features: pd.DataFrame, tabm: bool, widest: int = WIDTHS[1]) -> dict:
    """Linear models, MLPs and (`tabm`) TabM ensembles of layers up to `widest` units; numeric embeddings
    when there are numbers to embed."""
    from harness.data.columns import is_number

    space = {
        # linear is the ridge/logistic model trained by the same loop: small tables often want it.
        "family": {"choice": ["linear", "mlp", "tabm"] if tabm else ["linear", "mlp"]},
        "n_layers": {"int": [1, 3]},
        "hidden": {"int": [WIDTHS[0], widest], "log": True},
        "activation": {"choice": ["relu", "silu"]},
        "dropout": {"float": [0.0, 0.3]},
    }
    if tabm:
        space["ensemble_size"] = TABM_MEMBERS
    if any(is_number(features[c]) for c in features.columns):
        space["embedding"] = {"choice": ["none", "plr"]}
        space["embedding_scale"] = {"float": [0.01, 1.0], "log": True}
    return space


def quick_spec(data: str, target: str, task: str = "auto", name: str | None = None,
               overrides: list[str] = (), drop: list[str] = ()) -> StudySpec:
    """The study `harness study --data FILE --target COL` runs, chosen from a look at the table."""
    from harness.data.sources import load_source, table_stem

    origin = f"--data {data}"
    source = str(Path(data).resolve()) if Path(data).exists() else data
    try:
        frame, target = load_source(source, target, 0)
    except HarnessError as err:
        raise HarnessError(f"{origin}: {err}") from None
    name = name or re.sub(r"[^A-Za-z0-9.-]+", "-", table_stem(Path(data))).strip("-.") or "quick"
    dropped = dropped_columns(frame, target, list(drop), origin)
    return build_spec(quick_raw(frame, target, task, name, source, Path(data).name, dropped), origin, overrides)
