"""How the loop cuts an epoch: a large table is gathered batch by batch (never copied whole) and trains
exactly as a small one permuted at once; evaluation passes of any size give the same outputs."""

from __future__ import annotations

import pytest
import torch

from harness.data.prepare import prepare
from harness.nn import loop
from harness.nn.models import build_model

PARAMS = {"family": "mlp", "n_layers": 1, "hidden": 16, "activation": "relu", "dropout": 0.2, "loss": "mse",
          "optimizer": "adam", "lr": 1e-2, "batch_size": 32}


@pytest.fixture(scope="module")
def diabetes():
    return prepare("sklearn:diabetes", None, "auto", 0.15, 0.15, seed=0, device="cpu")


def trained(data) -> tuple[list[float], dict]:
    torch.manual_seed(0)
    model = build_model(PARAMS, data.n_features, 1)
    result = loop.fit(model, data, PARAMS, epochs=4, patience=10, metric="rmse", minimize=True, seed=0)
    return [h["train/loss"] for h in result.history], model.state_dict()


def test_a_table_too_large_to_copy_trains_exactly_like_one_permuted_whole(diabetes, monkeypatch) -> None:
    whole_losses, whole_weights = trained(diabetes)
    copies = []
    original = torch.Tensor.__getitem__

    def watched(self, index):
        if isinstance(index, torch.Tensor) and self is diabetes.X["train"]:
            copies.append(len(index))
        return original(self, index)

    monkeypatch.setattr(loop, "WHOLE_EPOCH_COPY_BYTES", 0)  # every table counts as large
    monkeypatch.setattr(torch.Tensor, "__getitem__", watched)
    batched_losses, batched_weights = trained(diabetes)
    monkeypatch.undo()
    assert copies and max(copies) <= PARAMS["batch_size"] + 1  # batches gathered, never the whole table
    assert batched_losses == whole_losses  # the same order, the same batches, the same training
    for name, value in whole_weights.items():
        assert torch.equal(value, batched_weights[name]), name


def test_evaluation_passes_of_any_size_give_the_same_outputs(diabetes) -> None:
    model = build_model(PARAMS, diabetes.n_features, 1)
    X = diabetes.X["train"]
    assert loop.eval_rows(X) == loop.EVAL_ROWS_CPU
    whole = loop.outputs(model, X, batch=len(X))
    torch.testing.assert_close(loop.outputs(model, X, batch=7), whole)
    torch.testing.assert_close(loop.outputs(model, X), whole)
