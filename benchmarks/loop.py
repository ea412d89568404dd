"""Item 1: the training loop on one model and one table, four ways, side by side.

    .venv/bin/python benchmarks/loop.py [--rows 50000] [--epochs 2] [--repeats 3]

MLP 32-128-128-1 (ReLU), Adam lr 1e-3, MSE, 50,000 x 32 synthetic rows, batch 64 and 256, every variant
scoring a 5,000-row validation split after each epoch (as any loop that picks its best epoch must):
- tutorial: `DataLoader(TensorDataset(X, y), shuffle=True)`, `Adam`, the PyTorch tutorial's loop;
- hand: the best loop written by hand here (STACK-NOTES section 6): the epoch permuted once, contiguous
  slices, `Adam(fused=True)`, gradients freed by hand (1.2x over `zero_grad` at batch 64), the loss
  summed on the device and read once per epoch;
- harness: `harness.nn.loop.fit` on the same tensors (early stopping off, metrics every epoch);
- sklearn: `MLPRegressor` of the same shape, solver adam, the same batch size and epochs.
One torch thread and one BLAS thread each (the harness's default). Samples per second of training, from
the fastest of the interleaved repeats.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from common import best, interleaved, print_rows, row, save, synthetic_table
from threadpoolctl import threadpool_limits
from torch import nn

from harness.data.prepare import Prepared
from harness.nn.loop import fit

WIDTH = 128


def hand_model(d: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 1))


def val_rmse(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return ((model(X) - y) ** 2).mean().sqrt().item()


def tutorial(data, batch: int, epochs: int) -> None:
    Xtr, ytr, Xva, yva = data
    torch.manual_seed(0)
    model = hand_model(Xtr.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xtr, ytr), batch_size=batch, shuffle=True)
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
        val_rmse(model, Xva, yva)


def hand(data, batch: int, epochs: int) -> None:
    Xtr, ytr, Xva, yva = data
    torch.manual_seed(0)
    model = hand_model(Xtr.shape[1])
    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3, fused=True)
    generator = torch.Generator().manual_seed(0)
    n = len(Xtr)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        X, y = Xtr[order], ytr[order]
        total = torch.zeros(())
        for start in range(0, n, batch):
            xb, yb = X[start:start + batch], y[start:start + batch]
            loss = nn.functional.mse_loss(model(xb), yb)
            for p in params:  # what zero_grad(set_to_none=True) does, without its per-step overhead
                p.grad = None
            loss.backward()
            optimizer.step()
            total.add_(loss.detach(), alpha=len(xb))
        model.eval()
        with torch.no_grad():
            torch.stack([total / n, ((model(Xva) - yva) ** 2).mean().sqrt()]).tolist()  # one host read


def harness_fit(prepared: Prepared, batch: int, epochs: int) -> None:
    params = {"family": "mlp", "n_layers": 2, "hidden": WIDTH, "activation": "relu", "dropout": 0.0,
              "loss": "mse", "optimizer": "adam", "lr": 1e-3, "batch_size": batch}
    from harness.nn.models import build_model

    torch.manual_seed(0)
    model = build_model(params, prepared.n_features, 1)
    fit(model, prepared, params, epochs=epochs, patience=epochs, metric="rmse", minimize=True, seed=0)


def sklearn_mlp(arrays, batch: int, epochs: int) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    Xtr, ytr = arrays
    model = MLPRegressor(hidden_layer_sizes=(WIDTH, WIDTH), solver="adam", learning_rate_init=1e-3,
                         batch_size=batch, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
                         shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xtr, ytr)


def as_prepared(Xtr, ytr, Xva, yva) -> Prepared:
    """The tensors as the harness's Prepared (a regression target already on its training scale)."""
    X = {"train": Xtr, "val": Xva, "test": Xva[:0]}
    y = {"train": ytr, "val": yva, "test": yva[:0]}
    return Prepared("regression", "target", [f"x{i}" for i in range(Xtr.shape[1])], None, None, 0.0, 1.0, X, y,
                    {}, {}, "", torch.device("cpu"), [], "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = synthetic_table(args.rows + 5000)
    Xtr, ytr, Xva, yva = (torch.as_tensor(a) for a in (X[:args.rows], y[:args.rows, None], X[args.rows:],
                                                       y[args.rows:, None]))
    data, prepared = (Xtr, ytr, Xva, yva), as_prepared(Xtr, ytr, Xva, yva)
    arrays = (X[:args.rows], y[:args.rows])
    rows, details = [], {}
    with threadpool_limits(1):
        for batch in args.batches:
            seconds = interleaved({
                "tutorial": lambda: tutorial(data, batch, args.epochs),
                "hand": lambda: hand(data, batch, args.epochs),
                "harness": lambda: harness_fit(prepared, batch, args.epochs),
                "sklearn": lambda: sklearn_mlp(arrays, batch, args.epochs),
            }, args.repeats)
            rate = {k: args.rows * args.epochs / best(v) for k, v in seconds.items()}
            details[f"batch_{batch}"] = {"seconds": seconds, "samples_per_s": rate}
            base = rate["tutorial"]
            for name in ("tutorial", "hand", "harness", "sklearn"):
                rows.append(row("1 loop", f"batch {batch}: {name} vs tutorial DataLoader loop",
                                f"{rate[name]:,.0f} samples/s", rate[name] / base))
            ratio = rate["harness"] / rate["hand"]
            rows.append(row("1 loop", f"batch {batch}: harness fit vs best hand loop", "", ratio, ">= 0.95x",
                            ratio >= 0.95))
    print_rows(rows)
    save("loop", rows, {"rows": args.rows, "epochs": args.epochs, "repeats": args.repeats, **details})


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
