"""Temperature scaling (nn/calibration.py): it moves log loss and nothing else, and only when it helps."""

from __future__ import annotations

import numpy as np
import pytest

from harness.nn.calibration import BOUNDS, calibrated, fit_temperature, log_loss
from harness.nn.metrics import classification_metrics


def rows(n: int, sureness: float, wrong: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three-class probabilities giving the true class `sureness` (the rest split evenly), with a share
    `wrong` of rows giving it instead to another class."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, n)
    favoured = np.where(rng.random(n) < wrong, (codes + 1) % 3, codes)
    proba = np.full((n, 3), (1 - sureness) / 2)
    proba[np.arange(n), favoured] = sureness
    return proba, codes


def test_a_temperature_keeps_every_predicted_class_and_sums_to_one() -> None:
    proba = np.random.default_rng(1).dirichlet([1, 1, 1], 200)
    for temperature in (0.25, 0.7, 1.0, 3.0):
        scaled = calibrated(proba, temperature)
        np.testing.assert_allclose(scaled.sum(1), 1.0)
        assert (scaled.argmax(1) == proba.argmax(1)).all()
    assert calibrated(proba, 0.5).max(1).mean() > proba.max(1).mean() > calibrated(proba, 2.0).max(1).mean()
    np.testing.assert_allclose(calibrated(proba, 0.5), proba ** 2 / (proba ** 2).sum(1, keepdims=True))
    zero = np.array([[0.0, 0.4, 0.6]])  # a class given exactly 0 stays at 0, without warnings or NaN
    np.testing.assert_allclose(calibrated(zero, 0.5), [[0.0, 4 / 13, 9 / 13]])


def test_underconfident_rows_are_sharpened_and_overconfident_ones_softened() -> None:
    timid, codes = rows(300, sureness=0.55, wrong=0.05)
    t = fit_temperature(timid, codes)
    assert t < 1 and log_loss(calibrated(timid, t), codes) < 0.9 * log_loss(timid, codes)
    brash, codes = rows(300, sureness=0.999, wrong=0.1)
    t = fit_temperature(brash, codes)
    assert t > 1 and log_loss(calibrated(brash, t), codes) < 0.6 * log_loss(brash, codes)
    # Accuracy and F1 are those of the uncalibrated rows; log loss is scikit-learn's.
    before, after = classification_metrics(codes, brash), classification_metrics(codes, calibrated(brash, t))
    assert before["accuracy"] == after["accuracy"] and before["f1"] == after["f1"]
    assert after["log_loss"] == pytest.approx(log_loss(calibrated(brash, t), codes))


def test_rows_with_no_mistake_and_calibrated_rows_keep_a_temperature_of_one() -> None:
    # Without a mistake, sharper is always better on these rows, and one wrong row elsewhere pays for it.
    perfect, codes = rows(100, sureness=0.9)
    assert fit_temperature(perfect, codes) == 1.0
    one_wrong = perfect.copy()
    one_wrong[0] = np.roll(one_wrong[0], 1)
    assert BOUNDS[0] <= fit_temperature(one_wrong, codes) < 1
    # Rows as sure as they are right (0.8 sure, wrong 20% of the time) gain nothing: the temperature is 1.
    honest, codes = rows(2000, sureness=0.8, wrong=0.2, seed=3)
    assert fit_temperature(honest, codes) == 1.0
