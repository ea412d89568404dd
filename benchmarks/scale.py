"""Item 5: how preparation, an epoch and memory grow with the rows: 10k, 100k and 1M rows of a synthetic
table (32 float features and a target, a Parquet file).

    .venv/bin/python benchmarks/scale.py [--sizes 10000 100000 1000000]

Each size runs in a fresh process: `prepare` (read, split, fit the preprocessor, tensors) and one epoch of
`fit` (MLP 32-128-128-1, batch 512, validation scored), timed, and the process's peak resident memory
above what it held after its imports, against the table's own size in memory (rows x 33 float64).
Time should grow linearly with the rows; the peak should stay within about 3x the table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PYTHON, ROOT, print_rows, row, save, synthetic_table

PARAMS = {"family": "mlp", "n_layers": 2, "hidden": 128, "activation": "relu", "dropout": 0.0, "loss": "mse",
          "optimizer": "adam", "lr": 1e-3, "batch_size": 512}


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(path: Path) -> dict:
    """One size, measured inside this process."""
    import torch

    from harness.data.prepare import prepare
    from harness.nn.loop import fit
    from harness.nn.models import build_model

    torch.set_num_threads(1)
    torch.optim.Adam(torch.nn.Linear(1, 1).parameters())  # a first optimizer imports torch._dynamo: not an epoch
    before = peak_bytes()
    started = time.perf_counter()
    data = prepare(str(path), "target", "regression", 0.15, 0.15, 0, "cpu")
    prepared = time.perf_counter() - started
    torch.manual_seed(0)
    model = build_model(PARAMS, data.n_features, 1)
    started = time.perf_counter()
    fit(model, data, PARAMS, epochs=1, patience=1, metric="rmse", minimize=True, seed=0)
    epoch = time.perf_counter() - started
    return {"prepare_s": prepared, "epoch_s": epoch, "peak_above_imports": peak_bytes() - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    import pandas as pd

    found = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        for size in args.sizes:
            X, y = synthetic_table(size)
            path = Path(folder) / f"table_{size}.parquet"
            frame = pd.DataFrame(X.astype("float64"), columns=[f"x{i}" for i in range(X.shape[1])])
            frame["target"] = y.astype("float64")
            frame.to_parquet(path)
            table_bytes = int(frame.memory_usage(index=False).sum())
            del frame, X, y
            out = subprocess.run([PYTHON, str(Path(__file__)), "--child", str(path)], capture_output=True, text=True,
                                 check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                                            "OMP_NUM_THREADS": "1"})
            found[size] = {**json.loads(out.stdout.strip().splitlines()[-1]), "table_bytes": table_bytes}
    first = args.sizes[0]
    rows = []
    for size in args.sizes:
        f, growth = found[size], size / first
        memory = f["peak_above_imports"] / f["table_bytes"]
        rows.append(row("5 scale", f"{size:,} rows x 32: prepare / one epoch (x{growth:g} the rows)",
                        f"{f['prepare_s']:.2f} s / {f['epoch_s']:.2f} s",
                        f["epoch_s"] / found[first]["epoch_s"] / growth, "~1x (linear)"))
        rows.append(row("5 scale", f"{size:,} rows: peak memory above imports / table in memory",
                        f"{f['peak_above_imports'] / 2**20:,.0f} MiB / {f['table_bytes'] / 2**20:,.0f} MiB", memory,
                        "<= ~3x", memory <= 3.0 if size >= 100_000 else None))
    print_rows(rows)
    save("scale", rows, {str(k): v for k, v in found.items()})


if __name__ == "__main__":
    main()
    sys.exit(0)
