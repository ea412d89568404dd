"""Temperature scaling of class probabilities (Guo, Pleiss, Sun, Weinberger, ICML 2017), fitted on the
rows ensemble selection scores (validation, or out-of-fold predictions under cross-validation).

Averaged probabilities are less confident than their members (Rahaman & Thiery, NeurIPS 2021), and a
network stopped early on log loss is often less sure than a table's easy rows allow. One temperature T
reshapes every row as p^(1/T), renormalized: T < 1 sharpens, T > 1 softens. The most probable class
never changes, so accuracy, F1 and ROC AUC stay as they are; only log loss moves.

Rows without a single mistake say nothing about how sure to be: their log loss falls all the way to
certainty, and one wrong test row then pays for it (penguins: out-of-fold log loss 0.0008 sharpened to
1e-6 at T = 0.25, test log loss 0.028 became 0.082 through its one mistake in 69 rows). So no temperature
is fitted on such rows, and T stays within BOUNDS otherwise.
"""

from __future__ import annotations

import numpy as np

from harness.nn.metrics import EPS  # scikit-learn's clipping of probabilities, as every log loss here uses

BOUNDS = (0.25, 4.0)  # at most a fourth power: 0.9 against 0.1 becomes 0.9998, never 1
MIN_GAIN = 0.01  # a temperature is kept only if it lowers the selection rows' log loss by 1% or more


def calibrated(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of class probabilities (n, k) at `temperature`: p^(1/T), each row renormalized to sum to 1."""
    if temperature == 1.0:
        return probabilities
    with np.errstate(divide="ignore"):  # a probability of exactly 0 stays 0 (log 0 = -inf, exp(-inf) = 0)
        logits = np.log(probabilities) / temperature
    logits -= logits.max(1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(1, keepdims=True)


def log_loss(probabilities: np.ndarray, codes: np.ndarray) -> float:
    """Mean negative log probability of the true class, clipped as scikit-learn clips."""
    true = probabilities[np.arange(len(codes)), codes]
    return float(-np.log(np.clip(true, EPS, 1 - EPS)).mean())


def fit_temperature(probabilities: np.ndarray, codes: np.ndarray) -> float:
    """The temperature within BOUNDS that minimizes log loss on these rows; 1.0 when they hold no mistake,
    or when it gains less than MIN_GAIN (a temperature that barely helps on the rows it was fitted to is
    noise, not calibration)."""
    if (probabilities.argmax(1) == codes).all():
        return 1.0
    from scipy.optimize import minimize_scalar  # scipy.optimize takes a second to import: only the crown needs it

    before = log_loss(probabilities, codes)
    low, high = np.log(BOUNDS[0]), np.log(BOUNDS[1])
    found = minimize_scalar(lambda t: log_loss(calibrated(probabilities, float(np.exp(t))), codes),
                            bounds=(low, high), method="bounded", options={"xatol": 1e-3})
    temperature = float(np.exp(found.x))
    after = log_loss(calibrated(probabilities, temperature), codes)
    return temperature if after < before * (1 - MIN_GAIN) else 1.0
