"""A model of images as a user meets it: trained from a folder of image files, registered, then used by
`harness predict` in a fresh process on an .npz of raw pixels and on a folder of image files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli
from PIL import Image
from sklearn.datasets import load_digits

from harness.errors import HarnessError
from harness.serve.predict import predict_file

STUDY = """
name: png-digits
task: classification
data: {source: digits_png, split: {val: 0.2, test: 0.2, seed: 0}}
model: {family: cnn, conv_blocks: 2, channels: 8, norm: batch, hidden: 0}
train: {lr: 0.01, batch_size: 32, epochs: 4, augment: {shift: 1}}
study: {trials: 1, pruner: none}
baselines: false
"""


def write_digit_pngs(root: Path, per_class: int = 15) -> np.ndarray:
    """8x8 grayscale PNGs in one sub-folder per digit; returns their pixels in sorted-path order."""
    digits = load_digits()
    pixels = []
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == label][:per_class]):
            array = (image * 15).astype(np.uint8)
            Image.fromarray(array, "L").save(root / str(label) / f"{i:03d}.png")
            pixels.append(array)
    return np.stack(pixels)


@pytest.mark.slow
def test_image_model_predicts_from_npz_and_image_files_in_a_fresh_process(workdir: Path) -> None:
    pixels = write_digit_pngs(workdir / "digits_png")
    (workdir / "png.yaml").write_text(STUDY)
    out = run_cli("study", "png.yaml")
    assert "images of 1x8x8" in out.stdout and "promoted to @champion" in out.stdout
    uri = "models:/png-digits@champion"

    run_cli("predict", uri, "digits_png", "-o", "from_files.csv")
    from_files = pd.read_csv(workdir / "from_files.csv", dtype={"file": str})
    assert list(from_files.columns) == ["file", "prediction"] + [f"proba_{d}" for d in range(10)]
    assert from_files["file"].tolist() == sorted(f"{d}/{i:03d}.png" for d in range(10) for i in range(15))

    np.savez(workdir / "flat.npz", images=pixels)  # (N, H, W) uint8, as the files hold them
    run_cli("predict", uri, "flat.npz", "-o", "from_npz.csv")
    from_npz = pd.read_csv(workdir / "from_npz.csv")
    assert list(from_npz.columns) == list(from_files.columns[1:]) and len(from_npz) == 150
    np.testing.assert_allclose(from_npz.to_numpy(), from_files.iloc[:, 1:].to_numpy(), rtol=1e-5)

    # In this process: (N, 1, H, W) floats give the same numbers (reshaped and cast to the signature's).
    np.savez(workdir / "channel.npz", images=pixels[:, None].astype(np.float64))
    own = predict_file(uri, workdir / "channel.npz", os.environ["MLFLOW_TRACKING_URI"])
    np.testing.assert_allclose(own.iloc[:, 1:].to_numpy(), from_files.iloc[:, 2:].to_numpy(), rtol=1e-5)
    labels = np.repeat(np.arange(10), 15).astype(str)  # the sub-folder names
    assert (own["prediction"].to_numpy() == labels).mean() > 0.5  # it learned something

    with pytest.raises(HarnessError, match="model of images"):
        predict_file(uri, workdir / "experiments/data/house_prices.csv", os.environ["MLFLOW_TRACKING_URI"])
    np.savez(workdir / "big.npz", images=np.zeros((2, 9, 9), dtype=np.uint8))
    with pytest.raises(HarnessError, match=r"\(8, 8\)"):
        predict_file(uri, workdir / "big.npz", os.environ["MLFLOW_TRACKING_URI"])
