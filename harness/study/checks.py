"""What is checked once the data is loaded and before anything is written: the metric fits the task, and
the families, losses and augmentations fit the data.
"""

from __future__ import annotations

from harness.data.prepare import Prepared, prepare
from harness.data.profile import with_scaling
from harness.errors import HarnessError
from harness.nn.losses import output_width
from harness.nn.models import check_cnn
from harness.search import objectives
from harness.spec.distributions import every_value, values_of
from harness.spec.names import FAMILY_PARAMS, bare, task_metrics
from harness.spec.schema import StudySpec


def load_data(spec: StudySpec) -> Prepared:
    """The study file's data, split and preprocessed as every process of the study prepares it (the study's
    workers, and `harness crown` when it scores the champion again); the column report names the numeric
    scaling the networks use."""
    split = spec.data.split
    data = prepare(spec.data.source, spec.data.target, spec.task, split.val, split.test, split.seed,
                   spec.train.device, spec.data.target_transform, kind=spec.data.kind, text=spec.data.text,
                   drop=spec.data.drop, group=split.group)
    data.columns = with_scaling(data.columns, list(values_of(spec.data.numeric)))
    return data


def check_metric(spec: StudySpec) -> str:
    """The bare name of the study metric, checked (with any other objectives) against the task's metrics."""
    name = bare(spec.study.metric)
    known = task_metrics(spec.task)
    objectives.check_objectives(spec, known)  # first: the metric may be the objectives' first val/ one
    if name not in known:
        raise HarnessError(f"study.metric: {spec.study.metric} is not a {spec.task} metric; "
                           f"choose one of {', '.join('val/' + k for k in known)}")
    return name


def input_description(data: Prepared) -> str:
    if data.input_shape:
        return "images of " + "x".join(map(str, data.input_shape)) + " (channels x height x width)"
    return f"{data.n_features} features after encoding"


def check_metric_fits_splits(spec: StudySpec, data: Prepared) -> None:
    """ROC AUC is undefined on a split that lacks a class: as the study metric it could never score."""
    if data.task != "classification" or "val/roc_auc" not in (spec.study.metric, *(spec.study.objectives or ())):
        return
    # The champion is scored on the test split too: a NaN there would keep it from being registered.
    for split, words in (("val", "validation"), ("test", "test")):
        present = set(data.labels[split].tolist())
        missing = [c for c in data.classes if c not in present]
        if missing:
            raise HarnessError(f"study.metric: val/roc_auc needs every class in the {words} split, but "
                               f"{', '.join(map(repr, missing[:5]))} has no {words} rows; use val/log_loss, or a "
                               f"larger data.split.{split}")


def check_model_fits_data(spec: StudySpec, data: Prepared) -> None:
    """Families, losses and augmentations that cannot work on this kind of data fail here, before any trial."""
    for loss in values_of(spec.train.loss):
        output_width(data.task, data.n_classes, loss)  # bce on three classes
    if "cnn" in values_of(spec.model.family):
        check_cnn(data.input_shape is not None, every_value(spec.model.kernel_size))
    augment = spec.train.augment
    if data.input_shape is None and (any(values_of(augment.shift)) or any(values_of(augment.flip))):
        raise HarnessError("train.augment: shift and flip move pixels, and this data is a table; remove them "
                           "(noise works on tables too)")
    check_table_options(spec, data)


def check_table_options(spec: StudySpec, data: Prepared) -> None:
    """Numeric scaling, numeric embeddings and cross-validation need a table with numeric columns: on
    anything else they would silently do nothing."""
    images = data.input_shape is not None
    if images and set(values_of(spec.data.numeric)) != {"standard"}:
        raise HarnessError("data.numeric: images are standardized per channel; remove data.numeric")
    embedded = {f for f in values_of(spec.model.family) if "embedding" in FAMILY_PARAMS[f]}
    if embedded and set(values_of(spec.model.embedding)) - {"none"} and data.n_numeric == 0:
        what = "data holds images" if images else "table has none"
        raise HarnessError(f"model.embedding: embeddings read numeric columns, and this {what}; use embedding: none")
    if images and spec.study.folds > 1:
        raise HarnessError("study.folds: cross-validation is for tables; use study.folds: 1 for images")
