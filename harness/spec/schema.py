"""The study file: its schema, its defaults (here and nowhere else), loading and `--set` overrides.

Every user mistake becomes a HarnessError that names the file and the key, e.g.
`experiments/x.yaml: train.lr: low 0.1 is greater than high 0.001`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.errors import HarnessError
from harness.spec.distributions import (
    ChoiceDist,
    Distribution,
    FloatDist,
    IntDist,
    parse_distribution,
    values_of,
)
from harness.spec.names import (
    ACTIVATIONS,
    CLASSIFICATION_LOSSES,
    EMBEDDINGS,
    EXTRA_OBJECTIVES,
    FAMILIES,
    FAMILY_PARAMS,
    LOSSES,
    MODEL_CONDITIONS,
    NORMS,
    NUMERIC_SCALINGS,
    OPTIMIZERS,
    POOLINGS,
    PRUNERS,
    REGRESSION_LOSSES,
    SAMPLERS,
    SCHEDULES,
    direction_of,
    is_named_source,
    resolve_loss,
)
from harness.spec.rules import (
    AT_LEAST_ONE,
    FRACTION,
    MAX_SEED,
    NON_NEGATIVE,
    POSITIVE,
    Bounds,
    check_alias,
    check_bounds,
    check_model_name,
)
from harness.spec.yaml_file import read_yaml


def _fixed(value: Any, kind: type, allowed: tuple | None) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ValueError(f"expected {kind.__name__} or a distribution, got {value!r}")
    if allowed is not None and value not in allowed:
        raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    return value


def searchable(kind: type, allowed: tuple | None = None, bounds: Bounds | None = None):
    """A field that is either a fixed `kind` value or a distribution over such values; with `bounds`, every
    value it can take (a fixed value, a range's ends, each choice) must lie within them."""

    def parse(value: Any) -> Any:
        if isinstance(value, (IntDist, FloatDist, ChoiceDist)):
            return value
        if not isinstance(value, dict):
            return _fixed(value, kind, allowed)
        dist = parse_distribution(value)
        if isinstance(dist, ChoiceDist):
            return ChoiceDist(tuple(_fixed(v, kind, allowed) for v in dist.options))
        if allowed is not None or kind not in (int, float) or (kind is int and isinstance(dist, FloatDist)):
            raise ValueError(f"expected a fixed {kind.__name__} or {{choice: [...]}}, got {value}")
        return dist

    def validate(value: Any) -> Any:
        value = parse(value)
        return value if bounds is None else check_bounds(value, bounds)

    def serialize(value: Any) -> Any:
        return value.to_yaml() if isinstance(value, (IntDist, FloatDist, ChoiceDist)) else value

    return Annotated[Any, PlainValidator(validate), PlainSerializer(serialize)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)


class Split(Strict):
    val: float = Field(0.15, gt=0, lt=1)
    """Fraction of rows held out for validation (early stopping, pruning, model selection)."""
    test: float = Field(0.15, gt=0, lt=1)
    """Fraction of rows held out for the one final score of the champion."""
    seed: int = Field(0, ge=0, le=MAX_SEED)
    """Seed of the split: the same seed gives the same rows in every split."""
    group: str | None = None
    """A column whose rows belong together (a person, a store): each value's rows in one split and one
    cross-validation fold, so test scores are for unseen groups; the column is then no feature."""

    @model_validator(mode="after")
    def _leave_training_rows(self) -> Split:
        if self.val + self.test >= 0.9:
            raise ValueError(f"val + test = {self.val + self.test:.2f} leaves too few training rows; keep it under 0.9")
        return self


class DataSpec(Strict):
    source: str
    """A CSV/Parquet path, `sklearn:<name>` (diabetes, breast_cancer, wine, iris, digits) or `synthetic:linear`."""
    target: str | None = None
    """The column to predict; bundled and synthetic sets know their own."""
    split: Split = Split()
    """How rows are divided into train/validation/test."""
    kind: Literal["auto", "table", "images"] = "auto"
    """`images` reads sklearn:digits as 8x8 images; .npz files and image folders are always images."""
    text: list[str] | None = None
    """Text columns vectorized with TF-IDF; default: detected (free text in a non-numeric column)."""
    target_transform: Literal["standardize", "log", "none"] = "standardize"
    """Regression only: how targets are scaled for training; undone inside the packaged model."""
    numeric: searchable(str, NUMERIC_SCALINGS) = "standard"
    """Tables: numeric columns `standard` (z-score), `robust` (median/IQR, smoothly clipped to +-3) or
    `quantile` (ranks to a normal); fitted on training rows, packaged with the model; a choice is searched."""
    drop: list[str] | dict[str, str] = []
    """Columns left out before anything else (identifiers, leaks): a list, or {column: why} for the report;
    the packaged model does not ask for them."""


class ModelSpace(Strict):
    family: searchable(str, FAMILIES) = "mlp"
    """Architecture: `linear` (one affine layer), `mlp`, `tabm` (k MLPs in one, averaged) or `cnn` (images)."""
    n_layers: searchable(int, bounds=AT_LEAST_ONE) = 2
    """mlp: hidden layers."""
    hidden: searchable(int, bounds=NON_NEGATIVE) = 64
    """mlp: units per hidden layer; cnn: units of the head's hidden layer (0 for none)."""
    per_layer_width: searchable(bool) = False
    """mlp: sample `hidden` once per layer (hidden_0, hidden_1, ...) instead of once for all."""
    activation: searchable(str, ACTIVATIONS) = "relu"
    """mlp, cnn: the non-linearity."""
    dropout: searchable(float, bounds=FRACTION) = 0.0
    """mlp, cnn: dropout probability after each hidden layer or conv block."""
    norm: searchable(str, NORMS) = "none"
    """mlp, cnn: normalization after each layer (`layer` is GroupNorm(1) in a cnn)."""
    residual: searchable(bool) = False
    """mlp: skip connections around hidden layers of equal width."""
    conv_blocks: searchable(int, bounds=AT_LEAST_ONE) = 2
    """cnn: conv blocks (conv, norm, activation, pooling, dropout)."""
    channels: searchable(int, bounds=AT_LEAST_ONE) = 32
    """cnn: channels of the first block, doubled in each later block."""
    kernel_size: searchable(int, bounds=AT_LEAST_ONE) = 3
    """cnn: square kernel size (odd, padded to keep the size)."""
    pooling: searchable(str, POOLINGS) = "max"
    """cnn: 2x2 pooling after each block while the image is larger than 1x1."""
    ensemble_size: searchable(int, bounds=AT_LEAST_ONE) = 8
    """tabm: members sharing the MLP's weights (own adapters and heads), trained together, averaged."""
    embedding: searchable(str, EMBEDDINGS) = "none"
    """mlp, tabm: numeric columns embedded first, `periodic` (sin, cos), `pl` (+ linear) or `plr` (+ ReLU)."""
    embedding_frequencies: searchable(int, bounds=AT_LEAST_ONE) = 16
    """mlp, tabm with an embedding: trainable frequencies per numeric column."""
    embedding_scale: searchable(float, bounds=POSITIVE) = 0.1
    """mlp, tabm with an embedding: standard deviation of the initial frequencies (inputs are scaled)."""
    embedding_dim: searchable(int, bounds=AT_LEAST_ONE) = 16
    """mlp, tabm with a pl or plr embedding: values per numeric column after its linear map."""

    @model_validator(mode="after")
    def _branches_are_offered(self) -> ModelSpace:
        offered = set(values_of(self.family))
        for key in sorted(self.model_fields_set - {"family"}):
            owners = {f for f, keys in FAMILY_PARAMS.items() if key in keys}
            if owners and not owners & offered:
                raise ValueError(f"{key} belongs to {' and '.join(sorted(owners))}, which this study does "
                                 f"not offer (family: {', '.join(sorted(offered))}); remove it or add the family")
        tuning = sorted(self.model_fields_set & set(MODEL_CONDITIONS))
        if tuning and set(values_of(self.embedding)) == {"none"}:
            raise ValueError(f"{tuning[0]} tunes a numeric embedding, and embedding is none; set embedding "
                             "(periodic, pl, plr) or remove it")
        if offered & {"mlp", "tabm"} and min(values_of(self.hidden)) < 1:  # a cnn reads 0 as "no hidden layer"
            raise ValueError(f"hidden must be at least 1 for an mlp or tabm (units per hidden layer), got "
                             f"{min(values_of(self.hidden))}")
        return self


class EarlyStopping(Strict):
    patience: int = Field(20, ge=1)
    """Epochs without improvement of the study metric on validation before training stops."""


class Augment(Strict):
    shift: searchable(int, bounds=NON_NEGATIVE) = 0
    """Images: random shifts of up to this many pixels in each direction."""
    flip: searchable(bool) = False
    """Images: random horizontal flips."""
    noise: searchable(float, bounds=NON_NEGATIVE) = 0.0
    """Gaussian noise of this standard deviation added to (standardized) inputs."""


class TrainSpace(Strict):
    loss: searchable(str, LOSSES) = "auto"
    """`auto` is mse for regression and cross_entropy for classification; `bce` for binary classes."""
    label_smoothing: searchable(float, bounds=FRACTION) = 0.0
    """cross_entropy: share of the target mass spread over all classes."""
    optimizer: searchable(str, OPTIMIZERS) = "adam"
    """Optimizer; fused kernels are used where torch has them."""
    lr: searchable(float, bounds=POSITIVE) = 1e-3
    """Learning rate (the peak rate under onecycle)."""
    momentum: searchable(float, bounds=FRACTION) = 0.9
    """sgd, rmsprop: momentum."""
    nesterov: searchable(bool) = False
    """sgd: Nesterov momentum."""
    weight_decay: searchable(float, bounds=NON_NEGATIVE) = 0.0
    """L2 penalty (decoupled for adamw)."""
    schedule: searchable(str, SCHEDULES) = "none"
    """Learning-rate schedule over the epochs: cosine, step, onecycle or plateau (on the study metric)."""
    grad_clip: searchable(float, bounds=NON_NEGATIVE) = 0.0
    """Clip the gradients' total norm to this value; 0 turns clipping off."""
    augment: Augment = Augment()
    """Augmentation of training batches, on the device; validation and test data are never augmented."""
    batch_size: searchable(int, bounds=AT_LEAST_ONE) = 64
    """Rows per optimizer step."""
    epochs: int = Field(100, ge=1)
    """Upper bound on passes over the training rows."""
    early_stopping: EarlyStopping = EarlyStopping()
    """When to stop before `epochs` (the best epoch's weights are kept)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where data and model live: `auto` is CUDA when available, else the CPU."""
    threads: int | None = Field(None, ge=1)
    """Torch threads per process (and the baselines' OpenMP/BLAS threads); default one. Measured on a 2-core
    machine (benchmarks/busy.py): a second thread gains these models at most ~1.5x when the machine is idle
    and makes them 8 to 60x slower once other processes want the cores; use 2+ for a big model alone."""


class StudySettings(Strict):
    metric: str | None = None
    """Validation metric to optimize, e.g. `val/rmse`; default val/rmse (regression), val/accuracy.
    In a multi-objective study it is the primary one, which picks the champion from the Pareto front."""
    objectives: list[str] | None = None
    """Multi-objective: e.g. [val/rmse, n_parameters] or [val/accuracy, latency_ms]; includes `metric`."""
    direction: Literal["minimize", "maximize"] | None = None
    """Default follows the metric: rmse, mae, loss and log_loss are minimized, the rest maximized."""
    trials: int = Field(20, ge=1)
    """Trials to run in this invocation (a resumed study adds this many)."""
    timeout: float | None = Field(None, gt=0)
    """Stop starting new trials after this many seconds."""
    sampler: Literal[SAMPLERS] = "tpe"
    """Optuna sampler."""
    pruner: Literal[PRUNERS] = "median"
    """Optuna pruner that stops unpromising trials early."""
    seed: int = Field(0, ge=0, le=MAX_SEED)
    """Seeds the sampler and each trial's weights and batch order."""
    enqueue: list[dict[str, Any]] = []
    """Warm start: known-good parameter sets tried first, e.g. [{lr: 0.01, n_layers: 2}]."""
    folds: int = Field(1, ge=1)
    """Tables: score each trial by k-fold cross-validation of train+val together (test untouched), its model
    the average of its k fold models; 1 scores on the validation split. Quick mode uses 5 on small tables."""
    fold_workers: int | None = Field(None, ge=1)
    """How many of a trial's folds fit at once, each in a process of its own with `train.threads` threads;
    default: the cores left to each of the study's worker processes. The results are the same either way."""


class Register(Strict):
    name: str | None = None
    """Registered model name; defaults to the study's name."""
    alias: str = "champion"
    """Alias given to the new version when it beats the current holder."""
    ensemble: bool = True
    """Offer a weighted ensemble of the best trials (greedy selection on validation) instead of the best
    trial, when it scores better on validation (with log loss as the metric, at a fitted temperature); off
    for multi-objective studies."""
    linear_member: bool = True
    """Tables: offer the ensemble a linear model too (ridge, or logistic regression), fitted on the trials'
    own folds or training split with its penalty and numeric scaling (the study's, or standardized) chosen
    on the same rows; it takes weight only when it improves the ensemble on validation."""

    # Checked here, when the file loads: MLflow would refuse them only at registration, after every trial.
    @field_validator("name")
    @classmethod
    def _registrable_name(cls, name: str | None) -> str | None:
        return name if name is None else check_model_name(name)

    @field_validator("alias")
    @classmethod
    def _free_alias(cls, alias: str) -> str:
        return check_alias(alias)


class StudySpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """The study's name: also the MLflow experiment and the Optuna study."""
    description: str = ""
    """One line on the goal of the study."""
    task: Literal["auto", "regression", "classification"] = "auto"
    """`auto` infers it from the target column."""
    data: DataSpec
    model: ModelSpace = ModelSpace()
    train: TrainSpace = TrainSpace()
    study: StudySettings = StudySettings()
    baselines: bool = True
    """Fit reference models (ridge or logistic regression, histogram gradient boosting) on the same splits."""
    registry: Register = Field(Register(), alias="register")
    """Where the champion goes (`register:` in the file)."""
    _origin: str = PrivateAttr("study")  # the file (or command line) the spec came from, for error messages

    @property
    def origin(self) -> str:
        return self._origin

    @model_validator(mode="after")
    def _check_metric(self) -> StudySpec:
        if self.study.metric is not None and not self.study.metric.startswith("val/"):
            raise ValueError(f"study.metric must be a validation metric like val/rmse, got {self.study.metric!r}")
        losses = set(values_of(self.train.loss))
        if self.task == "regression" and losses & set(CLASSIFICATION_LOSSES):
            raise ValueError("train.loss cross_entropy and bce are for classification; use mse, l1 or huber")
        if self.task == "classification" and losses & set(REGRESSION_LOSSES):
            raise ValueError("train.loss for classification is cross_entropy, bce (two classes) or auto")
        objectives = self.study.objectives
        if objectives is not None:
            for name in objectives:
                if not (name.startswith("val/") or name in EXTRA_OBJECTIVES):
                    raise ValueError(f"study.objectives: {name!r} is neither a val/ metric nor one of "
                                     f"{', '.join(EXTRA_OBJECTIVES)}")
            if len(set(objectives)) != len(objectives) or len(objectives) < 2:
                raise ValueError("study.objectives needs two or more different objectives")
            if self.study.metric is not None and self.study.metric not in objectives:
                raise ValueError(f"study.metric {self.study.metric} must be one of study.objectives")
        return self

    @property
    def model_name(self) -> str:
        return self.registry.name or self.name

    def resolved(self, task: str) -> StudySpec:
        """A copy with the `auto` choices made now that the task is known."""
        objectives = self.study.objectives
        default = "val/rmse" if task == "regression" else "val/accuracy"
        metric = self.study.metric or next((o for o in objectives or () if o.startswith("val/")), default)
        direction = self.study.direction or direction_of(metric)
        loss = resolve_loss(self.train.loss, task) if isinstance(self.train.loss, str) else self.train.loss
        return self.model_copy(
            update={
                "task": task,
                "train": self.train.model_copy(update={"loss": loss}),
                "study": self.study.model_copy(update={"metric": metric, "direction": direction}),
                "registry": self.registry.model_copy(update={"name": self.model_name}),
            }
        )

    def to_yaml(self) -> str:
        """The study as a file that loads back to this spec: the keys set (in the file, by --set, or
        resolved from `auto`), not every default (a default of another family's key would be refused)."""
        return yaml.safe_dump(self.model_dump(mode="python", by_alias=True, exclude_unset=True), sort_keys=False)


def apply_override(raw: dict, assignment: str, origin: str) -> None:
    """Set `a.b.c=value` in the raw study dict; the value is read as YAML (`3`, `0.1`, `[1, 2]`, `{int: [1, 4]}`)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise HarnessError(f"{origin}: --set expects key=value (e.g. train.epochs=50), got {assignment!r}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise HarnessError(f"{origin}: --set {key}: cannot read {text!r} as a value ({err.problem})") from None
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise HarnessError(f"{origin}: --set {key}: {part} holds a value, not a section")
    node[parts[-1]] = value


def _describe(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{origin}: unknown key {key!r}; check the spelling (see harness/spec/schema.py for every key)"
    if first["type"] == "missing":
        return f"{origin}: {key} is required"
    message = first["msg"].removeprefix("Value error, ")
    if message.startswith("Input should"):  # pydantic's own checks do not say what they got
        message += f", got {first['input']!r}"
    return f"{origin}: {key}: {message}"


def build_spec(raw: dict, origin: str, overrides: list[str] = ()) -> StudySpec:
    """Validate a raw study dict (after `--set` overrides) into a StudySpec."""
    for assignment in overrides:
        apply_override(raw, assignment, origin)
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as err:
        raise HarnessError(_describe(err, origin)) from None
    spec._origin = origin
    return spec


def load_spec(path: str | Path, overrides: list[str] = ()) -> StudySpec:
    """Read and validate a study file; relative data paths are resolved here, once."""
    path = Path(path)
    raw = read_yaml(path)
    if raw is None:
        raise HarnessError(f"{path}: is empty; a study file needs at least name and data (see experiments/)")
    if not isinstance(raw, dict):
        raise HarnessError(f"{path}: a study file is a mapping of keys (name, data, model, ...), got {type(raw).__name__}")
    spec = build_spec(raw, str(path), overrides)
    spec.data.source = _resolve_source(spec.data.source, path)
    return spec


def _resolve_source(source: str, study_file: Path) -> str:
    """A relative file path means the working directory first, then the study file's own folder."""
    if is_named_source(source):
        return source
    candidate = Path(source)
    if not candidate.is_absolute() and not candidate.exists() and (study_file.parent / candidate).exists():
        candidate = study_file.parent / candidate
    return str(candidate.resolve()) if candidate.exists() else source


__all__ = ["Distribution", "StudySpec", "load_spec", "build_spec", "apply_override"]
