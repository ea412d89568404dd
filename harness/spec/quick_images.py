"""Quick mode for images: `harness study --data images.npz` (arrays `images` and `labels`) or `--data
folder/` (a sub-folder of image files per class), with no study file and no --target.

It looks at the images once (how many, their size and channels, the labels) and writes the study of
`experiments/digits_cnn.yaml`'s kind, sized to them: a CNN with as many conv blocks as the image's size
allows, searched channels, pooling, normalization, dropout and head; AdamW; shifts of a few pixels and
noise as augmentation. Flips are left out: a mirrored digit or letter is another one (`--set
train.augment.flip=true` for photos). The choices and their reasons go into the study's description,
and any of them can be overridden with `--set key=value`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.spec.quick import SMALL_TABLE, batch_sizes
from harness.spec.schema import StudySpec, build_spec

TRIALS = 12  # a CNN trial costs far more than a small table's MLP on a CPU
EPOCHS, PATIENCE = 60, 10
MAX_BLOCKS = 4  # 2x2 pooling after each block: 4 blocks take a 32x32 image to 2x2


def conv_blocks(height: int, width: int) -> tuple[int, int]:
    """The searched range of conv blocks: each halves the image, down to 1x1 at most."""
    most = max(1, min(MAX_BLOCKS, int(math.log2(min(height, width)))))
    return max(1, most - 1), most


def quick_image_raw(images: np.ndarray, labels: np.ndarray, task: str, name: str, source: str,
                    target: str | None, label: str) -> dict:
    """The raw study dict for a set of images: what `quick_image_spec` validates."""
    from harness.data.target import infer_task

    n, (height, width) = len(images), images.shape[-2:]
    channels = 1 if images.ndim == 3 else images.shape[1]
    task = infer_task(pd.Series(labels)) if task == "auto" else task
    val = test = 0.2 if n < SMALL_TABLE else 0.15
    n_train = max(1, int(n * (1 - val - test)))
    sizes = batch_sizes(n_train)
    fewest, most = conv_blocks(height, width)
    shift = max(1, min(height, width) // 8)
    kind = f"{len(np.unique(labels))} classes" if task == "classification" else "a number per image"
    reasons = [f"{n} images of {channels}x{height}x{width} ({n_train} to train), {kind}",
               f"a CNN of {fewest} to {most} conv blocks", f"shifts of up to {shift} pixel(s) and noise as "
               "augmentation (no flips: --set train.augment.flip=true for photos)", f"batch sizes {sizes}",
               f"up to {EPOCHS} epochs"]
    data = {"source": source, "kind": "images", "split": {"val": val, "test": test, "seed": 0}}
    if target is not None:
        data["target"] = target
    return {
        "name": name,
        "description": f"Quick study of the images in {label}: " + "; ".join(reasons),
        "task": task,
        "data": data,
        "model": {
            "family": "cnn",
            "conv_blocks": {"int": [fewest, most]} if fewest < most else most,
            "channels": {"choice": [16, 32]},  # doubled in each later block
            "kernel_size": 3,
            "pooling": {"choice": ["max", "avg"]},
            "norm": {"choice": ["batch", "none"]},
            "activation": "relu",
            "dropout": {"float": [0.0, 0.3]},
            "hidden": {"choice": [0, 64, 128]},  # 0: straight from the conv features to the outputs
        },
        "train": {
            "optimizer": "adamw",
            "lr": {"float": [3e-4, 1e-2], "log": True},
            "weight_decay": {"float": [1e-5, 1e-2], "log": True},
            "batch_size": {"choice": sizes},
            "augment": {"shift": {"int": [0, shift]}, "noise": {"float": [0.0, 0.2]}},
            "epochs": EPOCHS,
            "early_stopping": {"patience": PATIENCE},
            "schedule": "plateau",
        },
        # log loss: accuracy ties near 1.0 on a few hundred validation images, and the first to tie wins
        "study": {"trials": TRIALS, "seed": 0, "metric": "val/log_loss" if task == "classification" else "val/rmse"},
    }


def quick_image_spec(data: str, target: str | None, task: str = "auto", name: str | None = None,
                     overrides: list[str] = ()) -> StudySpec:
    """The study `harness study --data IMAGES` runs, chosen from a look at the images."""
    from harness.data.images import NPZ_LABELS, load_images

    origin = f"--data {data}"
    source = str(Path(data).resolve())
    if Path(source).is_dir() and target not in (None, "label"):
        raise HarnessError(f"{origin}: --target {target}: a folder of images is labelled by its sub-folder "
                           "names; leave --target out")
    try:
        images, labels, key = load_images(source, target)
    except HarnessError as err:
        raise HarnessError(f"{origin}: {err}") from None
    name = name or re.sub(r"[^A-Za-z0-9.-]+", "-", Path(data).stem).strip("-.") or "quick"
    named = key if Path(source).suffix.lower() == ".npz" and key != NPZ_LABELS else None
    raw = quick_image_raw(images, labels, task, name, source, named, Path(data).name)
    return build_spec(raw, origin, overrides)
