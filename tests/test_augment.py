"""On-device augmentation: shifts, flips and noise change the training batches, seeded by the fit's
generator, and never the validation (or test) data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness.data.prepare import prepare
from harness.errors import HarnessError
from harness.nn.augment import augment, random_flip, random_shift
from harness.nn.loop import fit
from harness.nn.models import build_model
from harness.spec.schema import build_spec
from harness.study.checks import check_model_fits_data

TRAIN = {"family": "cnn", "conv_blocks": 1, "channels": 4, "kernel_size": 3, "pooling": "max", "norm": "none",
         "activation": "relu", "dropout": 0.0, "hidden": 0, "loss": "cross_entropy", "optimizer": "adam",
         "lr": 1e-3, "weight_decay": 0.0, "batch_size": 64}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """400 of the 8x8 digits, through an .npz: a few batches per epoch keep each fit well under a second."""
    from sklearn.datasets import load_digits

    bunch, path = load_digits(), tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, images=bunch.images[:400], labels=bunch.target[:400])
    return prepare(str(path), None, "auto", 0.15, 0.15, seed=0, device="cpu")


@pytest.fixture(scope="module")
def plain(digits):
    return record_one_epoch(digits, {})


class Recorder(nn.Module):
    """A real network that keeps every input it sees, by mode: training batches and evaluation inputs."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.seen = {"train": [], "eval": []}

    def forward(self, x):
        self.seen["train" if self.training else "eval"].append(x.detach().clone())
        return self.inner(x)


def record_one_epoch(data, augmentation: dict) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = Recorder(build_model(TRAIN, data.n_features, data.n_classes, data.input_shape))
    fit(model, data, {**TRAIN, **augmentation}, epochs=1, patience=1, metric="accuracy", minimize=False, seed=0)
    return {mode: torch.cat(batches) for mode, batches in model.seen.items()}


def sorted_rows(x: torch.Tensor) -> torch.Tensor:
    """The batch's images as a multiset: the epoch's order does not matter, their content does."""
    flat = x.reshape(len(x), -1)
    for column in reversed(range(flat.shape[1])):
        flat = flat[flat[:, column].argsort(stable=True)]
    return flat


@pytest.mark.parametrize("augmentation", [{"augment_shift": 1}, {"augment_flip": True}, {"augment_noise": 0.1},
                                          {"augment_shift": 2, "augment_flip": True, "augment_noise": 0.05}])
def test_augmentation_changes_training_batches_but_not_validation_data(digits, plain, augmentation: dict) -> None:
    train_before, val_before = digits.X["train"].clone(), digits.X["val"].clone()
    augmented = record_one_epoch(digits, augmentation)

    # Without augmentation the epoch's batches are exactly the training images; with it they are not.
    assert torch.equal(sorted_rows(plain["train"]), sorted_rows(digits.X["train"]))
    assert augmented["train"].shape == plain["train"].shape
    changed = (augmented["train"] != plain["train"]).flatten(1).any(1).float().mean().item()
    assert changed > 0.3, f"only {changed:.0%} of training images changed"
    # Validation inputs are the validation tensor, untouched, with or without augmentation.
    assert torch.equal(augmented["eval"], digits.X["val"]) and torch.equal(plain["eval"], digits.X["val"])
    # Nothing is augmented in place.
    assert torch.equal(digits.X["train"], train_before) and torch.equal(digits.X["val"], val_before)


def test_the_same_seed_gives_the_same_augmented_batches(digits) -> None:
    first = record_one_epoch(digits, {"augment_shift": 1, "augment_noise": 0.1})
    second = record_one_epoch(digits, {"augment_shift": 1, "augment_noise": 0.1})
    assert torch.equal(first["train"], second["train"])


def test_shift_moves_each_image_by_its_own_offset_and_fills_with_black() -> None:
    x = torch.rand(64, 2, 5, 6) + 1.0
    x[:, :, 0, 0] = 0.0  # the batch's darkest value per channel: what a shift brings in
    out = random_shift(x, 1, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # pads with 0.0, the darkest value here
    offsets = []
    for i in range(len(x)):
        matches = [(dy, dx) for dy in range(3) for dx in range(3)
                   if torch.equal(out[i], padded[i, :, dy:dy + 5, dx:dx + 6])]
        assert len(matches) == 1, f"image {i} is not a whole-pixel shift of its input"
        offsets.append(matches[0])
    assert len(set(offsets)) == 9  # all nine offsets occur: per-sample, not one shift for the batch


def test_flip_mirrors_about_half_the_images() -> None:
    x = torch.rand(200, 1, 4, 4)
    out = random_flip(x, torch.Generator().manual_seed(0))
    mirrored = torch.tensor([torch.equal(o, i.flip(2)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert (mirrored | kept).all() and 60 < mirrored.sum() < 140


def test_noise_applies_to_tables_and_nothing_is_a_no_op() -> None:
    x = torch.zeros(5000, 3)
    generator = torch.Generator().manual_seed(0)
    assert augment(x, {"augment_shift": 0, "augment_flip": False, "augment_noise": 0.0}, generator) is x
    noisy = augment(x, {"augment_noise": 0.5}, generator)
    assert noisy.std().item() == pytest.approx(0.5, rel=0.05)
    with pytest.raises(ValueError, match="images"):
        augment(x, {"augment_shift": 1}, generator)


def test_a_table_study_refuses_pixel_augmentations_and_cnns() -> None:
    table = prepare("sklearn:iris", None, "auto", 0.15, 0.15, seed=0, device="cpu")
    base = {"name": "t", "data": {"source": "sklearn:iris"}}
    for raw, fragment in [({"train": {"augment": {"shift": 1}}}, "train.augment"),
                          ({"train": {"augment": {"flip": {"choice": [True, False]}}}}, "train.augment"),
                          ({"model": {"family": {"choice": ["mlp", "cnn"]}}}, "cnn needs images")]:
        spec = build_spec({**base, **raw}, "t.yaml").resolved("classification")
        with pytest.raises(HarnessError, match=fragment):
            check_model_fits_data(spec, table)
    check_model_fits_data(build_spec({**base, "train": {"augment": {"noise": 0.1}}}, "t.yaml"), table)
    images = prepare("sklearn:digits", None, "auto", 0.15, 0.15, seed=0, device="cpu", kind="images")
    spec = build_spec({**base, "model": {"family": "cnn", "kernel_size": {"int": [3, 5]}}}, "t.yaml")
    with pytest.raises(HarnessError, match="odd"):
        check_model_fits_data(spec, images)  # 3..5 in steps of 1 includes 4
