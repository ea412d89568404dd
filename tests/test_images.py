"""Images as arrays: sklearn:digits as 8x8 images, an .npz file, a folder of image files; scaled and
standardized with the training images' statistics, split stratified, on the device as (N, C, H, W)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.data.images import ImageScaler
from harness.data.prepare import prepare
from harness.errors import HarnessError


def prepare_images(source: str, target: str | None = None, kind: str = "auto", task: str = "auto"):
    return prepare(source, target, task, 0.2, 0.2, seed=0, device="cpu", kind=kind)


def assert_standardized_on_train(data) -> None:
    train = data.X["train"]
    np.testing.assert_allclose(train.mean(dim=(0, 2, 3)).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(dim=(0, 2, 3), unbiased=False).numpy(), 1, atol=1e-3)
    assert abs(data.X["test"].mean().item()) > 1e-4  # fitted on train only: test is not exactly centred


def test_digits_as_images_and_as_a_table() -> None:
    images = prepare_images("sklearn:digits", kind="images")
    assert images.X["train"].shape[1:] == (1, 8, 8) and images.input_shape == (1, 8, 8)
    assert images.n_features == 64 and images.classes == list(range(10))
    assert sum(len(x) for x in images.X.values()) == 1797
    assert images.raw["test"].shape[1:] == (8, 8)  # the raw form a user passes: (N, H, W) pixels 0..16
    assert images.preprocessor.scale_ == 16.0
    assert_standardized_on_train(images)
    shares = [np.bincount(images.labels[s], minlength=10) / len(images.labels[s]) for s in ("train", "val", "test")]
    assert np.abs(shares[0] - shares[2]).max() < 0.02  # stratified by digit
    again = prepare_images("sklearn:digits", kind="images")
    assert torch.equal(images.X["test"], again.X["test"])  # seeded

    table = prepare_images("sklearn:digits")  # kind auto: the 64-column table, as before
    assert table.X["train"].ndim == 2 and table.X["train"].shape[1] == 64 and table.input_shape is None


def test_npz_grayscale_and_channels_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.array(["cat", "dog"] * 30)
    np.savez(tmp_path / "gray.npz", images=rng.integers(0, 256, (60, 6, 5), dtype=np.uint8), labels=labels)
    gray = prepare_images(str(tmp_path / "gray.npz"))
    assert gray.X["val"].shape[1:] == (1, 6, 5) and gray.classes == ["cat", "dog"]
    assert gray.preprocessor.scale_ == 255.0 and gray.raw["train"].dtype == np.uint8
    assert_standardized_on_train(gray)

    colour = rng.random((60, 3, 4, 4)).astype(np.float32)
    colour[:, 0] *= 10  # channels on different scales: each is standardized on its own
    np.savez(tmp_path / "rgb.npz", images=colour, y=np.arange(60) % 3)
    rgb = prepare_images(str(tmp_path / "rgb.npz"), target="y")
    assert rgb.X["train"].shape[1:] == (3, 4, 4) and rgb.target == "y"
    assert_standardized_on_train(rgb)


@pytest.mark.parametrize("arrays,fragment", [
    ({"pictures": np.zeros((10, 4, 4))}, "no array named 'images'"),
    ({"images": np.zeros((10, 4, 4))}, "no array named 'labels'"),
    ({"images": np.zeros((10, 4, 4)), "labels": np.zeros(9)}, "one label per image"),
    ({"images": np.zeros((10, 8, 8, 3)), "labels": np.zeros(10)}, "channels-last"),
    ({"images": np.zeros((10, 16)), "labels": np.zeros(10)}, "(N, H, W) or (N, C, H, W)"),
])
def test_npz_mistakes_are_clear_errors(tmp_path: Path, arrays: dict, fragment: str) -> None:
    np.savez(tmp_path / "x.npz", **arrays)
    with pytest.raises(HarnessError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        prepare_images(str(tmp_path / "x.npz"))


def write_folder(root: Path, colour: bool = False) -> Path:
    """Two classes of small images: bright squares on the left or on the right; one odd size to resize."""
    for label, side in (("left", slice(0, 3)), ("right", slice(3, 6))):
        (root / label).mkdir(parents=True)
        for i in range(12):
            pixels = np.zeros((6, 6), dtype=np.uint8)
            pixels[1 + i % 3:4 + i % 3, side] = 200 + i
            image = Image.fromarray(pixels, "L")
            if colour and i == 0:
                image = image.convert("RGB")
            if i == 1:
                image = image.resize((9, 9))
            image.save(root / label / f"{i:02d}.png")
    (root / "left" / "notes.txt").write_text("not an image")  # ignored
    return root


def test_folder_of_images(tmp_path: Path) -> None:
    data = prepare_images(str(write_folder(tmp_path / "gray")))
    assert data.classes == ["left", "right"] and data.target == "label"
    assert data.X["train"].shape[1:] == (1, 6, 6)  # the most common size; the 9x9 one was resized
    assert sum(len(x) for x in data.X.values()) == 24
    assert data.raw["train"].dtype == np.uint8 and data.raw["train"].shape[1:] == (6, 6)

    rgb = prepare_images(str(write_folder(tmp_path / "rgb", colour=True)))
    assert rgb.X["train"].shape[1:] == (3, 6, 6) and rgb.raw["train"].shape[1:] == (3, 6, 6)


def test_image_sources_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="classification"):
        prepare_images("sklearn:digits", kind="images", task="regression")
    with pytest.raises(HarnessError, match="data.text"):
        prepare("sklearn:digits", None, "auto", 0.2, 0.2, seed=0, device="cpu", kind="images", text=["pixels"])
    with pytest.raises(HarnessError, match="not an image source"):
        prepare_images("sklearn:iris", kind="images")
    with pytest.raises(HarnessError, match="data.kind"):
        prepare_images(str(write_folder(tmp_path / "f")), kind="table")
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(HarnessError, match="two or more"):
        prepare_images(str(tmp_path / "one"))


def test_scaler_takes_both_layouts_and_rejects_other_sizes() -> None:
    train = np.random.default_rng(0).integers(0, 17, (20, 8, 8)).astype(np.float64)
    scaler = ImageScaler().fit(train)
    flat, channel = scaler.transform(train[:3]), scaler.transform(train[:3, None])
    assert flat.shape == (3, 1, 8, 8) and flat.dtype == np.float32
    np.testing.assert_array_equal(flat, channel)
    with pytest.raises(ValueError, match="takes"):
        scaler.transform(np.zeros((2, 7, 7)))
