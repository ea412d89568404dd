"""Item 7 (`make bench-gpu`): what a lent GPU does for these models, in under 8 minutes. Without CUDA it
says so and exits 0.

    .venv/bin/python benchmarks/gpu.py [--budget 420]

- loop: the tutorial `DataLoader` loop (CPU tensors, batches moved per step) against the harness's `fit`
  (data on the GPU, permuted once per epoch) at batch 256 and 4096; MLP 32-256-256-1 on 200,000 rows;
- workers: 1, 2 and 4 processes each running the harness's `fit` at batch 4096 at once: total samples/s
  (one small trial leaves most of the GPU idle; STACK-NOTES measured linear scaling on an H200);
- bf16: the same `fit` under `torch.autocast("cuda", torch.bfloat16)` for the MLP at batch 4096 and for the
  digits CNN; reported as a ratio, so a change of default follows only where it pays;
- study: `harness study experiments/digits_cnn.yaml` through the CLI: wall time and per-trial time.
Every section is skipped, and says so, once the time budget is spent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from common import PYTHON, ROOT, harness_env, print_rows, row, save, synthetic_table

ROWS, WIDTH = 200_000, 256


def mlp_params(batch: int) -> dict:
    return {"family": "mlp", "n_layers": 2, "hidden": WIDTH, "activation": "relu", "dropout": 0.0, "loss": "mse",
            "optimizer": "adam", "lr": 1e-3, "batch_size": batch}


def gpu_prepared(rows: int = ROWS):
    from loop import as_prepared

    X, y = synthetic_table(rows + 20_000)
    tensors = [torch.as_tensor(a, device="cuda") for a in (X[:rows], y[:rows, None], X[rows:], y[rows:, None])]
    prepared = as_prepared(*tensors)
    prepared.device = torch.device("cuda")
    return prepared, (X, y)


def harness_rate(prepared, batch: int, epochs: int = 3, bf16: bool = False) -> float:
    from harness.nn.loop import fit
    from harness.nn.models import build_model

    params = mlp_params(batch)
    torch.manual_seed(0)
    model = build_model(params, prepared.n_features, 1)
    fit(model, prepared, params, epochs=1, patience=1, metric="rmse", minimize=True, seed=0)  # warm-up
    torch.cuda.synchronize()
    context = torch.autocast("cuda", torch.bfloat16) if bf16 else nullcontext()
    started = time.perf_counter()
    with context:
        fit(model, prepared, params, epochs=epochs, patience=epochs, metric="rmse", minimize=True, seed=0)
    torch.cuda.synchronize()
    return len(prepared.X["train"]) * epochs / (time.perf_counter() - started)


def tutorial_rate(arrays, batch: int, epochs: int = 2) -> float:
    X, y = arrays
    Xtr, ytr = torch.as_tensor(X[:ROWS]), torch.as_tensor(y[:ROWS, None])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], WIDTH), torch.nn.ReLU(), torch.nn.Linear(WIDTH, WIDTH),
                                torch.nn.ReLU(), torch.nn.Linear(WIDTH, 1)).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xtr, ytr), batch_size=batch, shuffle=True)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.cuda(), yb.cuda()
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(xb), yb).backward()
            optimizer.step()
    torch.cuda.synchronize()
    return ROWS * epochs / (time.perf_counter() - started)


def worker() -> None:
    """One of several processes sharing the GPU: its own samples/s, as JSON on stdout."""
    prepared, _ = gpu_prepared()
    print(json.dumps({"rate": harness_rate(prepared, 4096, epochs=5)}))


def cnn_rate(bf16: bool) -> float:
    from harness.data.prepare import prepare
    from harness.nn.loop import fit
    from harness.nn.models import build_model

    data = prepare("sklearn:digits", None, "classification", 0.15, 0.15, 0, "cuda", kind="images")
    params = {"family": "cnn", "conv_blocks": 2, "channels": 32, "kernel_size": 3, "pooling": "max", "norm": "batch",
              "activation": "relu", "hidden": 64, "loss": "cross_entropy", "optimizer": "adam", "lr": 1e-3,
              "batch_size": 256}
    torch.manual_seed(0)
    model = build_model(params, data.n_features, data.n_classes, data.input_shape)
    fit(model, data, params, epochs=1, patience=1, metric="accuracy", minimize=False, seed=0)  # warm-up
    torch.cuda.synchronize()
    started = time.perf_counter()
    with torch.autocast("cuda", torch.bfloat16) if bf16 else nullcontext():
        fit(model, data, params, epochs=20, patience=20, metric="accuracy", minimize=False, seed=0)
    torch.cuda.synchronize()
    return len(data.X["train"]) * 20 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; sections after it are skipped")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("  no CUDA device here: the GPU benchmark is skipped (run `make bench-gpu` where a GPU is lent)")
        return
    if args.worker:
        worker()
        return
    started = time.perf_counter()

    def left() -> float:
        return args.budget - (time.perf_counter() - started)

    name = torch.cuda.get_device_name(0)
    rows, details = [], {"device": name}
    prepared, arrays = gpu_prepared()

    for batch in (256, 4096):
        tutorial, ours = tutorial_rate(arrays, batch), harness_rate(prepared, batch)
        details[f"loop_{batch}"] = {"tutorial": tutorial, "harness": ours}
        rows.append(row("7 gpu", f"{name}: batch {batch}, tutorial DataLoader loop", f"{tutorial:,.0f} samples/s", 1.0))
        rows.append(row("7 gpu", f"{name}: batch {batch}, harness fit (data on the GPU)", f"{ours:,.0f} samples/s",
                        ours / tutorial))

    single = None
    for count in (1, 2, 4):
        if left() < 60:
            rows.append(row("7 gpu", f"{count} workers sharing the GPU", "skipped: time budget spent"))
            continue
        procs = [subprocess.Popen([PYTHON, str(Path(__file__)), "--worker"], stdout=subprocess.PIPE, text=True,
                                  env=harness_env()) for _ in range(count)]
        total = sum(json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1])["rate"] for p in procs)
        single = single or total
        details[f"workers_{count}"] = total
        rows.append(row("7 gpu", f"{count} worker process(es) sharing the GPU, batch 4096: total",
                        f"{total:,.0f} samples/s", total / single))

    if left() > 60:
        fp32, bf16 = harness_rate(prepared, 4096), harness_rate(prepared, 4096, bf16=True)
        cnn32, cnn16 = cnn_rate(False), cnn_rate(True)
        details["bf16"] = {"mlp": [fp32, bf16], "cnn": [cnn32, cnn16]}
        rows.append(row("7 gpu", "bf16 autocast vs fp32: MLP, batch 4096", f"{bf16:,.0f} vs {fp32:,.0f} samples/s",
                        bf16 / fp32, "pays if > 1.2x"))
        rows.append(row("7 gpu", "bf16 autocast vs fp32: digits CNN, batch 256", f"{cnn16:,.0f} vs {cnn32:,.0f} "
                        "samples/s", cnn16 / cnn32, "pays if > 1.2x"))

    if left() > 90:
        folder = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
        try:
            shutil.copytree(ROOT / "experiments", folder / "experiments")
            begun = time.perf_counter()
            proc = subprocess.run([PYTHON, "-m", "harness", "study", "experiments/digits_cnn.yaml"], cwd=folder,
                                  env=harness_env(), capture_output=True, text=True, timeout=max(60, int(left())))
            wall = time.perf_counter() - begun
            trials = proc.stdout.count(" trial ")
            details["digits_study"] = {"seconds": wall, "returncode": proc.returncode, "tail": proc.stdout[-1500:]}
            rows.append(row("7 gpu", "harness study experiments/digits_cnn.yaml (CLI)",
                            f"{wall:.1f} s, {trials} trials, exit {proc.returncode}"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print_rows(rows)
    save("gpu", rows, details)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
