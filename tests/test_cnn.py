"""The CNN builder from plain params, flat networks on images, and the packaged model rebuilding both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness.data.prepare import prepare
from harness.errors import HarnessError
from harness.nn.models import build_model, count_parameters
from harness.serve.predictor import Predictor

CNN = {"family": "cnn", "conv_blocks": 2, "channels": 4, "kernel_size": 3, "pooling": "max", "norm": "none",
       "activation": "relu", "dropout": 0.0, "hidden": 16}


@pytest.mark.parametrize("pooling", ["max", "avg", "none"])
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_cnn_shapes_for_each_pooling_and_norm(pooling: str, norm: str) -> None:
    params = {**CNN, "pooling": pooling, "norm": norm, "dropout": 0.2}
    model = build_model(params, 3 * 8 * 8, 5, input_shape=(3, 8, 8))
    assert model(torch.randn(4, 3, 8, 8)).shape == (4, 5)
    kinds = [type(m) for m in model]
    norms = [k for k in kinds if k in (nn.BatchNorm2d, nn.GroupNorm)]
    assert norms == {"batch": [nn.BatchNorm2d] * 2, "layer": [nn.GroupNorm] * 2, "none": []}[norm]
    pools = sum(k in (nn.MaxPool2d, nn.AvgPool2d) for k in kinds)
    assert pools == (0 if pooling == "none" else 2)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8]  # channels double per block
    assert all(c.padding == (1, 1) for c in convs)  # size kept by the conv; only pooling shrinks it
    flatten = kinds.index(nn.Flatten)
    side = 8 if pooling == "none" else 2
    assert model[flatten + 1].in_features == 8 * side * side


def test_pooling_stops_at_one_pixel_and_the_head_is_optional() -> None:
    deep = build_model({**CNN, "conv_blocks": 5, "hidden": 0}, 64, 10, input_shape=(1, 8, 8))
    assert sum(isinstance(m, nn.MaxPool2d) for m in deep) == 3  # 8 -> 4 -> 2 -> 1, then no more pooling
    assert deep(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert isinstance(deep[-2], nn.Flatten)  # hidden 0: the conv features go straight to the outputs
    wide = build_model({**CNN, "kernel_size": 5}, 35, 3, input_shape=(1, 5, 7))
    assert wide(torch.randn(2, 1, 5, 7)).shape == (2, 3)


def test_cnn_needs_images_and_an_odd_kernel() -> None:
    with pytest.raises(HarnessError, match="cnn needs images"):
        build_model(CNN, 30, 2)
    with pytest.raises(HarnessError, match="odd"):
        build_model({**CNN, "kernel_size": 4}, 64, 2, input_shape=(1, 8, 8))


@pytest.mark.parametrize("family", ["linear", "mlp"])
def test_flat_networks_read_images_flattened(family: str) -> None:
    params = {"family": family, "n_layers": 1, "hidden": 8}
    model = build_model(params, 3 * 4 * 4, 2, input_shape=(3, 4, 4))
    assert model(torch.randn(5, 3, 4, 4)).shape == (5, 2)
    assert count_parameters(model) == count_parameters(build_model(params, 48, 2))


def test_predictor_rebuilds_the_cnn_and_takes_raw_images(tmp_path: Path) -> None:
    data = prepare("sklearn:digits", None, "auto", 0.15, 0.15, seed=0, device="cpu", kind="images")
    torch.manual_seed(0)
    params = {**CNN, "norm": "batch"}
    network = build_model(params, data.n_features, data.n_classes, data.input_shape)
    network.eval()
    with torch.no_grad():
        expected = torch.softmax(network(data.X["test"]), 1).numpy()
    files = Predictor.from_training(data, network, params).save(tmp_path)
    loaded = Predictor.load(files)
    assert loaded.meta["input_shape"] == [1, 8, 8]
    for raw in (data.raw["test"], data.raw["test"][:, None]):  # (N, H, W) and (N, 1, H, W) raw pixels
        out = loaded.predict(raw)
        assert list(out.columns) == ["prediction"] + [f"proba_{c}" for c in range(10)]
        np.testing.assert_allclose(out.iloc[:, 1:].to_numpy(), expected, rtol=1e-4, atol=1e-6)
