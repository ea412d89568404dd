"""Network builders. They take plain values (a params dict), never an Optuna trial, so the packaged model
can rebuild the exact network from the params logged with it.
"""

from __future__ import annotations

from torch import nn

from harness.config import FAMILY_PARAMS

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


BUILDERS = {"linear": linear, "mlp": mlp}


def build_model(params: dict, n_in: int, n_out: int) -> nn.Module:
    """The network a params dict describes (`family` plus that family's own keys)."""
    family = params.get("family", "mlp")
    own = {k: params[k] for k in FAMILY_PARAMS[family] if k in params}
    return BUILDERS[family](n_in, n_out, **own)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
