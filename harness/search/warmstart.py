"""Warm start: known-good parameter sets tried before the sampler's own proposals.

Two sources: `study.enqueue` in the study file (checked against the search space when the study loads,
enqueued once, when the study is new), and `--warm-start-from STUDY`, the best complete trials of an
earlier study in the same Optuna storage.
"""

from __future__ import annotations

from typing import Any, Callable

import optuna

from harness.errors import HarnessError
from harness.search.samplers import ENQUEUED_TRIAL_ATTR
from harness.search.space import searched
from harness.spec.distributions import ChoiceDist, IntDist
from harness.spec.names import FAMILY_PARAMS
from harness.spec.schema import StudySpec

ENQUEUED_ATTR = "harness_enqueued"  # study user attribute: study.enqueue was done, not again on resume
WARM_START_TRIALS = 3  # best complete trials taken from the earlier study


def fits(dist: Any, value: Any) -> bool:
    if isinstance(dist, ChoiceDist):
        return value in dist.options
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(dist, IntDist):
        return isinstance(value, int) and dist.low <= value <= dist.high and (value - dist.low) % dist.step == 0
    return dist.low <= value <= dist.high


def _family_key(key: str) -> str:
    return "hidden" if key.startswith("hidden_") else key


def problems(spec: StudySpec, params: dict[str, Any]) -> dict[str, str]:
    """Key -> what is wrong with it, for one parameter set against this study's space."""
    space = searched(spec)
    family = params.get("family", spec.model.family)  # a distribution when the set leaves it to the sampler
    branch_keys = {k for keys in FAMILY_PARAMS.values() for k in keys}
    found = {}
    for key, value in params.items():
        if key not in space:
            fixed = getattr(spec.model, key, getattr(spec.train, key, None))
            why = (f"it is fixed ({fixed!r}) in this study" if isinstance(fixed, (int, float, str))
                   else "it is not a parameter of this study")
            found[key] = f"{key!r} cannot be enqueued: {why}; searched parameters: {', '.join(sorted(space))}"
        elif not fits(space[key], value):
            found[key] = f"{key}: {value!r} is outside its search space {space[key].to_yaml()}"
        elif isinstance(family, str) and _family_key(key) in branch_keys - set(FAMILY_PARAMS[family]):
            found[key] = f"{key} belongs to another family than {family!r}, whose trials never use it"
    return found


def check_enqueue(spec: StudySpec) -> list[dict[str, Any]]:
    """The study file's `study.enqueue` sets, or a HarnessError naming the set and key that is wrong."""
    for i, params in enumerate(spec.study.enqueue):
        wrong = problems(spec, params)
        if wrong:
            raise HarnessError(f"{spec.origin}: study.enqueue[{i}]: {next(iter(wrong.values()))}")
    return [dict(p) for p in spec.study.enqueue]


def enqueue_from_file(study: optuna.Study, spec: StudySpec, echo: Callable[[str], None]) -> None:
    """Enqueue `study.enqueue` the first time the study runs; a resumed study already has them."""
    sets = check_enqueue(spec)
    if not sets or study.user_attrs.get(ENQUEUED_ATTR):
        return
    for params in sets:
        study.enqueue_trial(params, user_attrs={ENQUEUED_TRIAL_ATTR: True}, skip_if_exists=True)
    study.set_user_attr(ENQUEUED_ATTR, True)
    echo(f"warm start: {len(sets)} parameter set(s) from study.enqueue go first")


def best_trials(source: optuna.Study, n: int = WARM_START_TRIALS) -> list[optuna.trial.FrozenTrial]:
    """The n best complete trials: by value, or (multi-objective) the front by its first objective."""
    if len(source.directions) > 1:
        pool = source.best_trials
    else:
        pool = source.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    sign = 1.0 if source.directions[0] == optuna.study.StudyDirection.MINIMIZE else -1.0
    return sorted(pool, key=lambda t: (sign * t.values[0], t.number))[:n]


def enqueue_from_study(study: optuna.Study, spec: StudySpec, source: optuna.Study,
                       echo: Callable[[str], None]) -> int:
    """Enqueue the best trials of `source`, keeping the params that fit this study's space."""
    picked = best_trials(source)
    if not picked:
        raise HarnessError(f"--warm-start-from {source.study_name}: that study has no complete trial to start from")
    dropped: set[str] = set()
    for trial in picked:
        wrong = problems(spec, trial.params)
        dropped |= wrong.keys()
        study.enqueue_trial({k: v for k, v in trial.params.items() if k not in wrong},
                            user_attrs={ENQUEUED_TRIAL_ATTR: True}, skip_if_exists=True)
    echo(f"warm start: the best {len(picked)} trial(s) of study {source.study_name} "
         f"({', '.join(str(t.number) for t in picked)}) go first")
    if dropped:
        echo(f"  note: left to the sampler, as they do not fit this study's space: {', '.join(sorted(dropped))}")
    return len(picked)


def load_source_study(name: str, storage: Any, where: str) -> optuna.Study:
    """An existing study in `storage`, or a HarnessError listing the studies that are there."""
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        known = f"studies there: {', '.join(names)}" if names else "it holds no study"
        raise HarnessError(f"--warm-start-from {name}: no such study in {where} ({known})") from None
