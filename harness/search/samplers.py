"""Optuna samplers and pruners by the names a study file uses (`study.sampler`, `study.pruner`).

Every sampler is seeded from `study.seed`, so the same file and seed propose the same trials.
"""

from __future__ import annotations

import math
import warnings

import optuna

from harness.errors import HarnessError
from harness.search.space import grid_space
from harness.spec.schema import StudySpec

# Stricter than the median: a trial goes on only while it is in the best quarter of trials at the same epoch.
PERCENTILE_KEPT = 25.0
# Successive halving and hyperband keep the best third at each rung.
REDUCTION_FACTOR = 3
# Trial user attribute of a warm-start trial (its params were given, not sampled).
ENQUEUED_TRIAL_ATTR = "harness_enqueued"


def multi_objective(spec: StudySpec) -> bool:
    return bool(spec.study.objectives)


def grid_size(spec: StudySpec) -> int:
    """Points of the grid sampler's grid (a conditional space counts every branch's values)."""
    return math.prod(len(values) for values in grid_space(spec).values())


def make_sampler(spec: StudySpec, stream: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler; raises HarnessError for a sampler that cannot serve this study.

    `stream` 0 is `study.seed` itself; a resumed study or another worker passes its own stream, so that no
    two processes replay the same seeded draws (each would propose the first trials' params again)."""
    name, seed = spec.study.sampler, spec.study.seed
    seed = None if seed is None else seed + stream
    if name == "cmaes" and multi_objective(spec):
        raise HarnessError(f"{spec.origin}: study.sampler cmaes handles one objective only; for study.objectives "
                           "use tpe, nsga2, gp, qmc or random")
    # The samplers below sample what they cannot model (categorical or conditional parameters) with an
    # "independent" sampler; seed it too, and keep Optuna from warning about it on every trial.
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(spec), seed=seed)
    if name == "cmaes":
        # CMA-ES models numeric parameters only; TPE takes the categorical ones (family, optimizer, ...).
        return optuna.samplers.CmaEsSampler(seed=seed, independent_sampler=optuna.samplers.TPESampler(seed=seed),
                                            warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, independent_sampler=optuna.samplers.RandomSampler(seed=seed),
                                         warn_independent_sampling=False)
    if name == "qmc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # Scrambled Sobol points, so that the seed matters (an unscrambled sequence ignores it).
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed,
                                              independent_sampler=optuna.samplers.RandomSampler(seed=seed),
                                              warn_asynchronous_seeding=False, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise AssertionError(f"unknown sampler {name}")  # config.SAMPLERS and this function must agree


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """The study's pruner. Multi-objective studies cannot prune in Optuna, so they get none."""
    if multi_objective(spec):
        return optuna.pruners.NopPruner()
    epochs = spec.train.epochs
    # Let a few trials and epochs pass before judging: early epochs of a good config can look poor.
    warmup = min(10, max(1, epochs // 5))
    if spec.study.folds > 1:
        # Cross-validated trials report once per fold (their running out-of-fold score): the resource is
        # the fold, and one fold's few rows are too noisy to judge on, so judging starts at the second.
        epochs, warmup = spec.study.folds, 1
    name = spec.study.pruner
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup)
    if name == "percentile":
        return optuna.pruners.PercentilePruner(PERCENTILE_KEPT, n_startup_trials=5, n_warmup_steps=warmup)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup, reduction_factor=REDUCTION_FACTOR)
    if name == "hyperband":
        # The resource is the epoch: the longest a trial can train is train.epochs.
        return optuna.pruners.HyperbandPruner(min_resource=min(warmup, epochs), max_resource=epochs,
                                              reduction_factor=REDUCTION_FACTOR)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise AssertionError(f"unknown pruner {name}")


def planned_trials(spec: StudySpec, trials: int, study: optuna.Study) -> tuple[int, str | None]:
    """Trials to run now and a note for the terminal: a grid has a natural size, and trials past its
    last unvisited point would only repeat points."""
    if spec.study.sampler != "grid":
        return trials, None
    size = grid_size(spec)
    # Every finished trial the grid sampled took one point; enqueued (warm-start) trials took none.
    visited = sum(1 for t in study.get_trials(deepcopy=False)
                  if t.state.is_finished() and not t.user_attrs.get(ENQUEUED_TRIAL_ATTR))
    left = max(size - visited, 0)
    # Enqueued (warm-start) trials take no grid point, but they count among the trials optimize runs.
    cap = left + len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))
    if trials <= cap:
        return trials, f"the grid has {size} points, {left} not yet tried; running {trials} trials"
    return cap, f"the grid has {size} points, {left} not yet tried: running {cap} trials, not {trials}"


__all__ = ["make_sampler", "make_pruner", "planned_trials", "grid_size", "multi_objective"]
