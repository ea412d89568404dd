"""How numeric columns are scaled before the network sees them: `standard`, `robust` or `quantile`.

A network extrapolates linearly far outside its training inputs: one impossible row (a diamond with
x = y = z = 0, five standard deviations below any real one) can then drive a prediction to an absurd
value. `robust` (RealMLP, Holzmüller et al. 2024) centres each column on its median, scales it by its
interquartile range and then clips it smoothly, x / sqrt(1 + (x / 3)^2), so no input leaves (-3, 3);
`quantile` maps each column's ranks to a normal distribution, bounded by construction. Both are fitted
on the training rows only and travel in the packaged model's preprocessor.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import QuantileTransformer, StandardScaler

CLIP = 3.0  # the smooth clip's asymptote: |output| < CLIP for any input, and ~identity for |x| << CLIP
QUANTILES = 1000  # quantile: at most this many landmarks (fewer on small tables: one per training row)


def smooth_clip(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x / sqrt(1 + (x / CLIP)^2): close to x near 0, never beyond ±CLIP, smooth and strictly increasing.
    Written with hypot, which does not overflow: 1e300 clips to CLIP, not to 0. `out` (x itself may be
    given) receives the result: one temporary the size of x instead of three."""
    t = np.divide(x, CLIP, out=out)
    denominator = np.hypot(1.0, t)
    t *= CLIP  # the same operations, in the same order, as CLIP * t / denominator
    t /= denominator
    return t


class RobustSmoothClip(TransformerMixin, BaseEstimator):
    """(x - median) / IQR, then smooth_clip. A column with no spread between its quartiles (a mostly-zero
    or binary column) is scaled by half its range instead, and a constant column becomes 0."""

    def fit(self, X, y=None) -> RobustSmoothClip:
        X = np.asarray(X, dtype=np.float64)
        self.median_ = np.median(X, axis=0)
        q25, q75 = np.quantile(X, [0.25, 0.75], axis=0)
        half_range = (X.max(axis=0) - X.min(axis=0)) / 2
        iqr = q75 - q25
        scale = np.where(iqr > 0, iqr, half_range)
        self.factor_ = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 0.0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        scaled = np.asarray(X, dtype=np.float64) - self.median_  # the one new array, scaled and clipped in place
        scaled *= self.factor_
        return smooth_clip(scaled, out=scaled)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features if input_features is not None else
                          [f"x{i}" for i in range(self.n_features_in_)], dtype=object)


def numeric_scaler(name: str, n_train_rows: int):
    """The scaler a `data.numeric` name (spec/names.py: NUMERIC_SCALINGS) stands for, unfitted."""
    if name == "standard":
        return StandardScaler()
    if name == "robust":
        return RobustSmoothClip()
    if name == "quantile":
        return QuantileTransformer(output_distribution="normal", n_quantiles=max(2, min(QUANTILES, n_train_rows)),
                                   subsample=None, random_state=0)
    raise ValueError(f"unknown numeric scaling {name!r}; use standard, robust or quantile")


WORDS = {"standard": "standardized", "robust": f"median/IQR-scaled, smoothly clipped to ±{CLIP:g}",
         "quantile": "quantile-mapped to a normal distribution"}


def describe_scaler(scaler) -> str:
    """A fitted numeric scaler in a few words, for the column report."""
    if isinstance(scaler, RobustSmoothClip):
        return WORDS["robust"]
    if isinstance(scaler, QuantileTransformer):
        return WORDS["quantile"]
    return WORDS["standard"]


def describe_scalings(names: list[str]) -> str:
    """What the networks' numeric scaling is (`data.numeric`: one name, or the searched choices)."""
    if len(names) == 1:
        return WORDS[names[0]]
    return "scaled per trial, searched: " + " or ".join(WORDS[n] for n in names)
