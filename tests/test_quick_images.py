"""Quick mode on images (spec/quick_images.py): `harness study --data images.npz` or `--data folder/`, with no
study file and no --target, writes a CNN study sized to the images and runs it to a registered champion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli
from sklearn.datasets import load_digits

from harness.errors import HarnessError
from harness.spec.distributions import values_of
from harness.spec.quick_images import conv_blocks, quick_image_spec


def test_the_conv_blocks_fit_the_image_and_the_study_is_a_cnn_of_images(tmp_path: Path) -> None:
    assert conv_blocks(8, 8) == (2, 3)  # 8 -> 4 -> 2 (-> 1)
    assert conv_blocks(32, 48) == (3, 4) and conv_blocks(2, 2) == (1, 1) and conv_blocks(6, 100) == (1, 2)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "cells.npz", images=rng.integers(0, 255, (90, 3, 16, 16), dtype=np.uint8),
             kind=np.repeat(["a", "b", "c"], 30))
    spec = quick_image_spec(str(tmp_path / "cells.npz"), "kind", overrides=["study.trials=5"])
    assert spec.data.kind == "images" and spec.data.target == "kind" and spec.task == "classification"
    assert spec.model.family == "cnn" and values_of(spec.model.conv_blocks) == (3, 4)
    assert values_of(spec.train.augment.shift) == (0, 2) and spec.train.augment.flip is False
    assert spec.study.metric == "val/log_loss" and spec.study.trials == 5 and spec.name == "cells"
    assert "90 images of 3x16x16" in spec.description and "3 classes" in spec.description
    with pytest.raises(HarnessError, match="no array named 'labels'"):  # the labels under another name
        quick_image_spec(str(tmp_path / "cells.npz"), None)
    (tmp_path / "photos" / "cats").mkdir(parents=True)
    with pytest.raises(HarnessError, match="--target kind: a folder of images is labelled by its sub-folder names"):
        quick_image_spec(str(tmp_path / "photos"), "kind")  # the study file's `data.target` was named before


@pytest.mark.slow
def test_quick_mode_on_an_npz_of_digits_registers_a_champion_that_reads_them(workdir: Path) -> None:
    digits = load_digits()
    np.savez(workdir / "digits.npz", images=(digits.images * 15).astype(np.uint8), labels=digits.target)
    out = run_cli("study", "--data", "digits.npz", "--trials", "2", "--set", "train.epochs=4")
    assert "quick mode: Quick study of the images in digits.npz: 1797 images of 1x8x8" in out.stdout
    assert "registered digits version 1" in out.stdout, out.stdout[-2000:]
    run_cli("predict", "models:/digits@champion", "digits.npz", "-o", "predicted.csv")
    predicted = pd.read_csv(workdir / "predicted.csv")
    assert len(predicted) == 1797 and (predicted["prediction"] == digits.target).mean() > 0.5  # chance: 0.1

    refused = run_cli("study", "--data", "digits.npz", "--drop", "x", check=False)
    assert refused.returncode == 2 and "--drop is for tables" in refused.stderr
    np.savez(workdir / "last.npz", images=np.zeros((20, 8, 8, 3)), labels=np.arange(20) % 2)
    refused = run_cli("study", "--data", "last.npz", check=False)
    assert refused.returncode == 2 and "look channels-last" in refused.stderr
    assert "Traceback" not in refused.stderr
