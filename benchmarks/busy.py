"""Item 6 and the thread default: a quiet machine against one with two busy neighbours.

    .venv/bin/python benchmarks/busy.py [--trials 3] [--repeats 3]

- threads: one training fit of the models this harness trains (an MLP on house prices, 10 epochs; the
  digits CNN, 1 epoch) with torch at 1 and at 2 threads, with no load added and beside two busy processes
  (each spinning one core in pure Python). The measurement behind `train.threads` defaulting to 1.
- study: `harness study experiments/house_prices.yaml --trials 3` through the real CLI, alone and beside
  the same two busy processes, with the harness's defaults. Goal: the busy machine costs at most 2x.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from common import PYTHON, ROOT, Busy, best, harness_env, interleaved, median, print_rows, row, save

from harness.data.prepare import prepare
from harness.nn.loop import fit
from harness.nn.models import build_model

MLP = {"family": "mlp", "n_layers": 2, "hidden": 64, "activation": "relu", "dropout": 0.1, "loss": "mse",
       "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-3, "batch_size": 32}
CNN = {"family": "cnn", "conv_blocks": 2, "channels": 32, "kernel_size": 3, "pooling": "max", "norm": "batch",
       "activation": "relu", "dropout": 0.1, "hidden": 64, "loss": "cross_entropy", "optimizer": "adam",
       "lr": 1e-3, "batch_size": 64}


def one_fit(data, params: dict, epochs: int, metric: str, minimize: bool, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(params, data.n_features, 1 if data.task == "regression" else data.n_classes,
                        data.input_shape)
    fit(model, data, params, epochs=epochs, patience=epochs, metric=metric, minimize=minimize, seed=0)


def thread_rows(repeats: int) -> tuple[list[dict], dict]:
    houses = prepare(str(ROOT / "experiments/data/house_prices.csv"), "price", "regression", 0.2, 0.2, 0, "cpu")
    digits = prepare("sklearn:digits", None, "classification", 0.15, 0.15, 0, "cpu", kind="images")
    rows, details = [], {}
    for name, data, params, epochs, metric, minimize in (
            ("MLP, house prices, 10 epochs", houses, MLP, 10, "rmse", True),
            ("CNN, digits 8x8, 1 epoch", digits, CNN, 1, "accuracy", False)):
        seconds = {}
        one_fit(data, params, 1, metric, minimize, 1)  # untimed: the first optimizer imports torch._dynamo
        for load in ("no added load", "2 busy neighbours"):
            with Busy(2 if load != "no added load" else 0):
                found = interleaved({t: (lambda t=t: one_fit(data, params, epochs, metric, minimize, t))
                                     for t in (1, 2)}, repeats)
            for t, values in found.items():
                seconds[f"{load}, {t} thread{'s' if t > 1 else ''}"] = values
        details[name] = seconds
        quiet1 = median(seconds["no added load, 1 thread"])
        for key, values in seconds.items():
            rows.append(row("threads", f"{name}: {key}", f"{median(values):.2f} s (median; spread "
                            f"{min(values):.2f}-{max(values):.2f})", median(values) / quiet1))
    torch.set_num_threads(1)
    return rows, details


def study_seconds(trials: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-busy-"))
    try:
        shutil.copytree(ROOT / "experiments", folder / "experiments")
        started = time.perf_counter()
        subprocess.run([PYTHON, "-m", "harness", "study", "experiments/house_prices.yaml", "--trials", str(trials)],
                       cwd=folder, env=harness_env(), check=True, capture_output=True)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-threads", action="store_true")
    args = parser.parse_args()
    rows, details = ([], {}) if args.skip_threads else thread_rows(args.repeats)

    alone, busy = [], []
    for _ in range(2):  # alternated, so a change in the machine's own load touches both
        alone.append(study_seconds(args.trials))
        with Busy(2):
            busy.append(study_seconds(args.trials))
    ratio = best(busy) / best(alone)
    rows.append(row("6 busy", f"house prices, {args.trials} trials (CLI, defaults): alone",
                    f"{best(alone):.1f} s", 1.0))
    rows.append(row("6 busy", "the same beside two busy processes", f"{best(busy):.1f} s", ratio, "<= 2x",
                    ratio <= 2.0))
    details["study"] = {"alone": alone, "busy": busy, "trials": args.trials}
    print_rows(rows)
    save("busy", rows, details)


if __name__ == "__main__":
    main()
