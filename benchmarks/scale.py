"""Item 5: how preparation, an epoch and memory grow with the rows: 10k, 100k and 1M rows of a synthetic
table (32 float features and a target, a Parquet file).

    .venv/bin/python benchmarks/scale.py [--sizes 10000 100000 1000000]

Each size runs in a fresh process: `prepare` (read, split, fit the preprocessor, tensors) and one epoch of
`fit` (MLP 32-128-128-1, batch 512, validation scored), timed, and the process's peak resident memory
above what it held after its imports and a first use, against the table's own size in memory (rows x 33
float64). The first use (prepare and an epoch on a 1,000-row table) takes what a process holds once,
whatever the rows: Arrow's reader threads and pools, torch's autograd engine (about 30 MiB here); it is
reported on its own. Time should grow linearly with the rows; the peak should stay within about 3x the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PYTHON, ROOT, print_rows, row, save, synthetic_table

PARAMS = {"family": "mlp", "n_layers": 2, "hidden": 128, "activation": "relu", "dropout": 0.0, "loss": "mse",
          "optimizer": "adam", "lr": 1e-3, "batch_size": 512}
WARM_ROWS = 1000


def write_table(rows: int, path: Path) -> int:
    """The synthetic table with `rows` rows as a Parquet file; returns its size in memory (bytes)."""
    import pandas as pd

    X, y = synthetic_table(rows)
    frame = pd.DataFrame(X.astype("float64"), columns=[f"x{i}" for i in range(X.shape[1])])
    frame["target"] = y.astype("float64")
    frame.to_parquet(path)
    return int(frame.memory_usage(index=False).sum())


def memory() -> dict[str, int]:
    """This process's resident memory now (VmRSS) and at its peak (VmHWM), in bytes (Linux). Not getrusage's
    ru_maxrss: a child started by vfork and exec starts with its parent's peak there, so the parent's own
    copies of the table hid the child's peak under them."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024  # kB
    return found


def child(path: Path, warm: Path) -> dict:
    """One size, measured inside this process, after a first use on the small table `warm`."""
    import torch

    from harness.data.prepare import prepare
    from harness.nn.loop import fit
    from harness.nn.models import build_model

    def prepare_and_fit(source: Path) -> tuple[float, float]:
        started = time.perf_counter()
        data = prepare(str(source), "target", "regression", 0.15, 0.15, 0, "cpu")
        prepared = time.perf_counter() - started
        torch.manual_seed(0)
        model = build_model(PARAMS, data.n_features, 1)
        started = time.perf_counter()
        fit(model, data, PARAMS, epochs=1, patience=1, metric="rmse", minimize=True, seed=0)
        return prepared, time.perf_counter() - started

    torch.set_num_threads(1)
    torch.optim.Adam(torch.nn.Linear(1, 1).parameters())  # a first optimizer imports torch._dynamo: not an epoch
    imported = memory()["VmRSS"]
    prepare_and_fit(warm)
    before = memory()["VmRSS"]
    with contextlib.suppress(OSError):  # else the peak counts from the start, the first use's (smaller) included
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the peak from here on
    prepared, epoch = prepare_and_fit(path)
    return {"prepare_s": prepared, "epoch_s": epoch, "first_use": before - imported,
            "peak_above_first_use": memory()["VmHWM"] - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--child", type=Path, nargs=2, help=argparse.SUPPRESS)  # table, first-use table
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    found = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        warm = Path(folder) / "first_use.parquet"
        write_table(WARM_ROWS, warm)
        for size in args.sizes:
            path = Path(folder) / f"table_{size}.parquet"
            table_bytes = write_table(size, path)
            out = subprocess.run([PYTHON, str(Path(__file__)), "--child", str(path), str(warm)], capture_output=True,
                                 text=True, check=True, cwd=ROOT,
                                 env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
            found[size] = {**json.loads(out.stdout.strip().splitlines()[-1]), "table_bytes": table_bytes}
    first = args.sizes[0]
    rows = []
    for size in args.sizes:
        f, growth = found[size], size / first
        ratio = f["peak_above_first_use"] / f["table_bytes"]
        rows.append(row("5 scale", f"{size:,} rows x 32: prepare / one epoch (x{growth:g} the rows)",
                        f"{f['prepare_s']:.2f} s / {f['epoch_s']:.2f} s",
                        f["epoch_s"] / found[first]["epoch_s"] / growth, "~1x (linear)"))
        rows.append(row("5 scale", f"{size:,} rows: peak above first use / table in memory",
                        f"{f['peak_above_first_use'] / 2**20:,.0f} MiB / {f['table_bytes'] / 2**20:,.0f} MiB "
                        f"(first use {f['first_use'] / 2**20:,.0f} MiB)", ratio,
                        "<= ~3x", ratio <= 3.0 if size >= 100_000 else None))
    print_rows(rows)
    save("scale", rows, {str(k): v for k, v in found.items()})


if __name__ == "__main__":
    main()
    sys.exit(0)
