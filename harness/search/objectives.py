"""What a trial returns to Optuna: the study metric, or in a multi-objective study one value per objective.

Objectives are validation metrics (`val/rmse`, `val/accuracy`, ...) or measures of the network itself:
`n_parameters` (its trainable size) and `latency_ms` (inference time per 1,000 validation rows on the
training device). Directions follow the names: errors, losses, size and latency are minimized.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from harness.errors import HarnessError
from harness.nn.models import count_parameters
from harness.spec.names import EXTRA_OBJECTIVES, bare, direction_of
from harness.spec.schema import StudySpec

LATENCY_ROWS = 1000  # latency is reported per this many rows
LATENCY_REPEATS = 5  # timed blocks after the warm-up; the median is reported
WARMUP_SECONDS = 0.01  # at least this long (and 3 passes) of untimed passes first
BLOCK_SECONDS = 0.002  # each timed block repeats the pass this long: one pass of a small net is ~20 us


def objective_names(spec: StudySpec) -> list[str]:
    """The study's objectives in order: `study.objectives`, or just the (resolved) study metric."""
    return list(spec.study.objectives or [spec.study.metric])


def directions(spec: StudySpec) -> list[str]:
    """One direction per objective; the study metric keeps `study.direction` when the file sets it."""
    return [spec.study.direction if name == spec.study.metric else direction_of(name)
            for name in objective_names(spec)]


def check_objectives(spec: StudySpec, known: tuple[str, ...]) -> None:
    """Every val/ objective must be a metric of the task (`known`: bare names such as rmse, loss)."""
    for name in spec.study.objectives or ():
        if name not in EXTRA_OBJECTIVES and bare(name) not in known:
            raise HarnessError(f"study.objectives: {name} is not a {spec.task} metric; choose from "
                               f"{', '.join('val/' + k for k in known)}, {', '.join(EXTRA_OBJECTIVES)}")


@torch.no_grad()
def latency_ms(model: nn.Module, X: torch.Tensor) -> float:
    """Milliseconds to predict 1,000 rows, from passes over the validation rows in one batch: the median
    of a few timed blocks, after a warm-up (lazy initialisation, allocator, kernel selection and waking
    the thread pool are not inference)."""
    model.eval()

    def per_pass(passes: int) -> float:
        if X.device.type == "cuda":
            torch.cuda.synchronize(X.device)  # kernels run asynchronously: wait for them around the clock
        start = time.perf_counter()
        for _ in range(passes):
            model(X)
        if X.device.type == "cuda":
            torch.cuda.synchronize(X.device)
        return (time.perf_counter() - start) / passes

    warm = [per_pass(1) for _ in range(3)]
    while sum(warm) < WARMUP_SECONDS and len(warm) < 1000:
        warm.append(per_pass(1))
    passes = max(1, int(BLOCK_SECONDS / min(warm)))
    block = statistics.median(per_pass(passes) for _ in range(LATENCY_REPEATS))
    return block * 1000.0 * LATENCY_ROWS / max(len(X), 1)


def measure(spec: StudySpec, model: nn.Module, X_val: torch.Tensor) -> dict[str, float]:
    """The network's own objectives this study asks for (nothing for a single-objective study)."""
    wanted = set(spec.study.objectives or ())
    out: dict[str, float] = {}
    if "n_parameters" in wanted:
        out["n_parameters"] = float(count_parameters(model))
    if "latency_ms" in wanted:
        out["latency_ms"] = latency_ms(model, X_val)
    return out


def values(spec: StudySpec, scores: dict[str, float]) -> float | tuple[float, ...]:
    """What the objective returns: one float, or a tuple in `study.objectives` order."""
    names = objective_names(spec)
    if len(names) == 1:
        return scores[names[0]]
    return tuple(scores[name] for name in names)
