"""Network builders. They take plain values (a params dict), never an Optuna trial, so the packaged model
can rebuild the exact network from the params logged with it.
"""

from __future__ import annotations

from torch import nn

from harness.config import FAMILY_PARAMS

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU, "leaky_relu": nn.LeakyReLU}


def linear(n_in: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, n_out))


def mlp(n_in: int, n_out: int, n_layers: int = 2, hidden: int = 64, activation: str = "relu",
        dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
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
