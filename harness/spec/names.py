"""The study file's vocabulary, and the few decisions every layer reads from it (one home each).

Plain constants and functions only (no pydantic, torch, Optuna or MLflow), so every room of the harness
can import them without pulling anything heavy.
"""

from __future__ import annotations

FAMILIES = ("linear", "mlp", "cnn", "tabm")
# Numeric embeddings (nn/embeddings.py) and the keys that tune them, read by mlp and tabm trials.
EMBEDDINGS = ("none", "periodic", "pl", "plr")
EMBEDDING_PARAMS = ("embedding", "embedding_frequencies", "embedding_scale", "embedding_dim")
# The model keys each family reads: the others are neither sampled nor logged for its trials.
FAMILY_PARAMS = {
    "linear": (),
    "mlp": ("n_layers", "per_layer_width", "hidden", "activation", "dropout", "norm", "residual",
            *EMBEDDING_PARAMS),
    "cnn": ("conv_blocks", "channels", "kernel_size", "pooling", "norm", "activation", "dropout", "hidden"),
    "tabm": ("n_layers", "hidden", "activation", "dropout", "ensemble_size", *EMBEDDING_PARAMS),
}
# Model keys that a trial of the family reads only under a condition on the keys sampled before them.
MODEL_CONDITIONS = {
    "embedding_frequencies": lambda p: p["embedding"] != "none",
    "embedding_scale": lambda p: p["embedding"] != "none",
    "embedding_dim": lambda p: p["embedding"] in ("pl", "plr"),
}
# How numeric columns are scaled (data/scaling.py holds the scalers under these names).
NUMERIC_SCALINGS = ("standard", "robust", "quantile")
# Training keys, each with the condition under which a trial reads (samples and logs) it.
TRAIN_PARAMS = {
    "loss": lambda p: True,
    "label_smoothing": lambda p: p["loss"] == "cross_entropy",
    "optimizer": lambda p: True,
    "lr": lambda p: True,
    "momentum": lambda p: p["optimizer"] in ("sgd", "rmsprop"),
    "nesterov": lambda p: p["optimizer"] == "sgd",
    "weight_decay": lambda p: True,
    "schedule": lambda p: True,
    "grad_clip": lambda p: True,
    "batch_size": lambda p: True,
}
AUGMENT_PARAMS = ("shift", "flip", "noise")
ACTIVATIONS = ("relu", "gelu", "tanh", "silu", "leaky_relu")
NORMS = ("none", "batch", "layer")
POOLINGS = ("max", "avg", "none")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("auto", "mse", "l1", "huber", "cross_entropy", "bce")
REGRESSION_LOSSES = ("mse", "l1", "huber")
CLASSIFICATION_LOSSES = ("cross_entropy", "bce")
SCHEDULES = ("none", "cosine", "step", "onecycle", "plateau")
SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp", "qmc", "nsga2")
PRUNERS = ("median", "percentile", "successive_halving", "hyperband", "none")
# Metrics by task, named the same everywhere (Optuna, MLflow, the terminal): `val/<name>`, `test/<name>`.
REGRESSION_METRICS = ("rmse", "mae", "r2")
CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc", "log_loss")
# Objectives beside validation metrics: the network's size and its inference time per 1,000 rows.
EXTRA_OBJECTIVES = ("n_parameters", "latency_ms")
MINIMIZED = ("loss", "rmse", "mae", "log_loss") + EXTRA_OBJECTIVES


def bare(metric: str) -> str:
    """`val/rmse` -> `rmse`; a bare name stays as it is."""
    return metric.split("/", 1)[-1]


def minimized(metric: str) -> bool:
    """Whether smaller is better for a metric or objective, by its name (`val/rmse`, `test/accuracy`, ...)."""
    return bare(metric) in MINIMIZED


def direction_of(metric: str) -> str:
    """Optuna's word for `minimized`: errors, losses, size and latency are minimized, the rest maximized."""
    return "minimize" if minimized(metric) else "maximize"


def task_metrics(task: str) -> tuple[str, ...]:
    """The bare metric names a task reports, the loss included."""
    return (REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS) + ("loss",)


def resolve_loss(loss: str, task: str) -> str:
    """`auto` is mse for regression and cross_entropy for classification; any other name as it is."""
    if loss != "auto":
        return loss
    return "mse" if task == "regression" else "cross_entropy"


SOURCE_SCHEMES = ("sklearn", "synthetic")  # data sources named rather than read from a file


def is_named_source(source: str) -> bool:
    """`sklearn:wine`, `synthetic:linear`: a source by name, not a path (a file of that name wins)."""
    from pathlib import Path

    return source.split(":", 1)[0] in SOURCE_SCHEMES and ":" in source and not Path(source).exists()
