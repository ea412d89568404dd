"""Network builders. They take plain values (a params dict), never an Optuna trial, so the packaged model
can rebuild the exact network from the params logged with it.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.errors import HarnessError
from harness.nn.embeddings import NumericEmbedding
from harness.nn.tabm import TabM, combine_for
from harness.spec.names import EMBEDDING_PARAMS, FAMILY_PARAMS

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU, "leaky_relu": nn.LeakyReLU}


def linear(n_in: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, n_out))


class Residual(nn.Module):
    """x + f(x): lets a deeper MLP start close to a shallower one."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return x + self.inner(x)


def mlp(n_in: int, n_out: int, n_layers: int = 2, hidden: int | list[int] = 64, activation: str = "relu",
        dropout: float = 0.0, norm: str = "none", residual: bool = False, per_layer_width: bool = False) -> nn.Module:
    """Hidden layers of Linear -> norm -> activation -> dropout; `hidden` is one width or one per layer."""
    widths = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden] * n_layers
    layers: list[nn.Module] = []
    width = n_in
    for out in widths[:n_layers]:
        block = [nn.Linear(width, out)]
        if norm != "none":
            block.append(nn.BatchNorm1d(out) if norm == "batch" else nn.LayerNorm(out))
        block.append(ACTIVATIONS[activation]())
        if dropout > 0:
            block.append(nn.Dropout(dropout))
        layers.append(Residual(nn.Sequential(*block)) if residual and width == out else nn.Sequential(*block))
        width = out
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def check_cnn(images: bool, kernel_sizes) -> None:
    """The cnn family's conditions: images to read and odd kernels (padding then keeps the image size).
    Checked when a study loads, before any trial, and again whenever a network is built."""
    if not images:
        raise HarnessError("model.family: cnn needs images (data.kind: images, an .npz file or an image folder); "
                           "use linear or mlp for a table")
    even = [k for k in kernel_sizes if k % 2 == 0]
    if even:
        raise HarnessError(f"model.kernel_size: use odd sizes (3, 5, ...) so padding keeps the image size; "
                           f"got {', '.join(map(str, even))}")


def cnn(input_shape: tuple[int, int, int], n_out: int, conv_blocks: int = 2, channels: int = 32,
        kernel_size: int = 3, pooling: str = "max", norm: str = "none", activation: str = "relu",
        dropout: float = 0.0, hidden: int = 64) -> nn.Module:
    """Conv blocks (conv -> norm -> activation -> 2x2 pooling -> dropout), channels doubling per block,
    then flatten -> an optional hidden layer of `hidden` units -> the output layer."""
    check_cnn(True, [kernel_size])
    in_channels, h, w = input_shape
    layers: list[nn.Module] = []
    for block in range(conv_blocks):
        out = channels * 2 ** block
        # A conv followed by batch norm needs no bias: the norm's shift replaces it.
        layers.append(nn.Conv2d(in_channels, out, kernel_size, padding=kernel_size // 2, bias=norm != "batch"))
        if norm != "none":
            layers.append(nn.BatchNorm2d(out) if norm == "batch" else nn.GroupNorm(1, out))
        layers.append(ACTIVATIONS[activation]())
        if pooling != "none" and min(h, w) >= 2:  # a 1-pixel-wide map has nothing left to pool
            layers.append(nn.MaxPool2d(2) if pooling == "max" else nn.AvgPool2d(2))
            h, w = h // 2, w // 2
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_channels = out
    layers.append(nn.Flatten())
    flat = in_channels * h * w
    if hidden:
        layers += [nn.Linear(flat, hidden), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        flat = hidden
    layers.append(nn.Linear(flat, n_out))
    return nn.Sequential(*layers)


def tabm(n_in: int, n_out: int, n_layers: int = 2, hidden: int = 256, activation: str = "relu",
         dropout: float = 0.0, ensemble_size: int = 8, loss: str = "auto") -> nn.Module:
    """TabM (nn/tabm.py): `ensemble_size` MLP members sharing their weights, trained together and averaged
    as the training `loss` implies (mean values, or mean class probabilities)."""
    return TabM(n_in, n_out, ensemble_size, n_layers, hidden, ACTIVATIONS[activation](), dropout,
                combine_for(loss, n_out))


class OutputRange(nn.Module):
    """Clamps regression outputs to the training targets' range, in evaluation only (training keeps its
    gradients): no input, however impossible, yields a prediction beyond what any training row had.
    The bounds are buffers, so the packaged model restores them with the weights."""

    def __init__(self, low: float, high: float):
        super().__init__()
        self.register_buffer("low", torch.tensor(float(low)))
        self.register_buffer("high", torch.tensor(float(high)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.training else torch.clamp(x, self.low, self.high)


def output_range_of(network: nn.Module) -> tuple[float, float] | None:
    """The bounds a network clamps its outputs to, or None: what rebuilding it needs to know."""
    for module in network.modules():
        if isinstance(module, OutputRange):
            return float(module.low), float(module.high)
    return None


BUILDERS = {"linear": linear, "mlp": mlp, "cnn": cnn, "tabm": tabm}


def build_model(params: dict, n_in: int, n_out: int, input_shape: tuple[int, int, int] | None = None,
                n_numeric: int = 0, output_range: tuple[float, float] | None = None) -> nn.Module:
    """The network a params dict describes (`family` plus that family's own keys).

    `input_shape` (C, H, W) is given for images: a cnn needs it, linear and mlp read the flattened pixels.
    `n_numeric` is how many leading inputs are numeric columns (what `embedding` embeds); `output_range`
    (encoded targets) clamps a regression network's outputs in evaluation.
    """
    family = params.get("family", "mlp")
    own = {k: params[k] for k in FAMILY_PARAMS[family] if k in params and k not in EMBEDDING_PARAMS}
    if family == "cnn":
        check_cnn(input_shape is not None, [own.get("kernel_size", 3)])
        return cnn(tuple(input_shape), n_out, **own)
    if family == "tabm":
        own["loss"] = params.get("loss", "auto")
    layers: list[nn.Module] = [nn.Flatten()] if input_shape is not None else []
    kind = params.get("embedding", "none") if "embedding" in FAMILY_PARAMS[family] else "none"
    if kind != "none":
        if n_numeric < 1:
            raise HarnessError("model.embedding: the data has no numeric columns to embed; use embedding: none")
        embedding = NumericEmbedding(n_numeric, kind, params.get("embedding_frequencies", 16),
                                     params.get("embedding_scale", 0.1), params.get("embedding_dim", 16))
        layers.append(embedding)
        n_in = embedding.output_width(n_in)
    layers.append(BUILDERS[family](n_in, n_out, **own))
    if output_range is not None:
        layers.append(OutputRange(*output_range))
    # The bare network when nothing wraps it, so the state dicts of models saved before these options load.
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
