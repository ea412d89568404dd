"""Greedy ensemble selection with replacement (Caruana, Niculescu-Mizil, Crew, Ksikes, ICML 2004).

Given the validation predictions of the study's best trials, grow an ensemble one member at a time:
each round adds (again, if it helps most) the trial whose addition gives the best validation score of
the averaged predictions. Adding a trial twice doubles its weight, so the result is a weighted average
with weights in multiples of 1/size. Of the ensembles met along the way, the best on validation is
kept (the first and smallest among equals); the first round's pick is the best single trial, so the
ensemble never scores worse on validation than it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

ROUNDS = 25  # ensemble size after the last round; weights are multiples of 1/ROUNDS at the finest


@dataclass
class Selection:
    weights: np.ndarray  # one per candidate, summing to 1; zero for candidates never picked
    score: float  # the ensemble's validation score
    single: float  # the best single candidate's validation score (the first round's pick)
    rounds: int  # members in the kept ensemble, repeats counted


def greedy_selection(predictions: list[np.ndarray], score: Callable[[np.ndarray], float], minimize: bool,
                     rounds: int = ROUNDS) -> Selection:
    """`predictions`: one array per candidate (regression values (n,) or class probabilities (n, k)) on
    the same rows; `score(averaged)` is the validation metric of an averaged prediction."""
    sign = 1.0 if minimize else -1.0
    counts = np.zeros(len(predictions))
    total = np.zeros_like(predictions[0], dtype=np.float64)
    best_counts, best_score, single = None, np.inf, None
    for size in range(1, rounds + 1):
        scores = [score((total + p) / size) for p in predictions]
        pick = int(np.argmin([sign * s if np.isfinite(s) else np.inf for s in scores]))
        counts[pick] += 1
        total = total + predictions[pick]
        if single is None:
            single = scores[pick]
        if sign * scores[pick] < best_score:  # strictly better: among equals the smaller ensemble stays
            best_score, best_counts = sign * scores[pick], counts.copy()
    return Selection(best_counts / best_counts.sum(), sign * best_score, single, int(best_counts.sum()))
