"""Images as arrays: where they come from (sklearn:digits as 8x8 images, an .npz file, a folder of image
files) and the one preprocessing step they need (pixels scaled to [0, 1], then standardized per channel
with the training images' mean and std).

Raw images keep the layout and dtype of their source: (N, H, W) for grayscale, (N, C, H, W) otherwise,
float64 for digits, uint8 for image files. That raw form is what the packaged model takes; `ImageScaler`
turns it into the float32 (N, C, H, W) the network reads. Nothing here knows torch.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# PIL modes read as one channel; every other mode (RGB, RGBA, P, CMYK, ...) is read as RGB.
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
NPZ_IMAGES, NPZ_LABELS = "images", "labels"


def is_image_source(source: str) -> bool:
    """.npz files and folders are always images; everything else is a table unless data.kind says images."""
    path = Path(source)
    return path.is_dir() or path.suffix.lower() == ".npz"


def load_images(source: str, target: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Raw images, their labels, and the name the labels go by."""
    if source == "sklearn:digits" and not Path(source).exists():
        return _digits(target)
    path = Path(source)
    if path.is_dir():
        if target not in (None, "label"):
            raise HarnessError(f"data.target: an image folder is labelled by its sub-folder names; remove "
                               f"data.target ({target!r})")
        images, labels = read_labelled_folder(path)
        return images, labels, "label"
    if path.suffix.lower() == ".npz":
        key = target or NPZ_LABELS
        images, labels = read_npz(path, key)
        return images, labels, key
    raise HarnessError(f"data.source: {source} is not an image source; data.kind: images takes sklearn:digits, "
                       "an .npz file (arrays images and labels) or a folder with one sub-folder of images per class")


def _digits(target: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    if target not in (None, "target"):
        raise HarnessError(f"data.target: sklearn:digits as images has one target, 'target'; got {target!r}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target, "target"


def read_npz(path: Path, labels_key: str | None = NPZ_LABELS) -> tuple[np.ndarray, np.ndarray | None]:
    """`images` (N, H, W) or (N, C, H, W) and, when `labels_key` is given, one label per image."""
    if not path.is_file():
        raise HarnessError(f"{path}: no such .npz file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as err:  # numpy raises several types for a file that is not a valid archive
        raise HarnessError(f"cannot read {path} as an .npz archive: {err}") from None
    if NPZ_IMAGES not in arrays:
        raise HarnessError(f"{path}: no array named {NPZ_IMAGES!r} (it holds {', '.join(arrays) or 'nothing'}); "
                           "save the images with np.savez(path, images=..., labels=...)")
    images = check_layout(arrays[NPZ_IMAGES], str(path))
    if labels_key is None:
        return images, None
    if labels_key not in arrays:
        raise HarnessError(f"{path}: no array named {labels_key!r} for the labels (it holds {', '.join(arrays)}); "
                           "set data.target to the array that holds them")
    labels = arrays[labels_key]
    if labels.ndim != 1 or len(labels) != len(images):
        raise HarnessError(f"{path}: {labels_key!r} must hold one label per image: shape {labels.shape} "
                           f"for {len(images)} images")
    return images, labels


def check_layout(images: np.ndarray, where: str) -> np.ndarray:
    """Accept (N, H, W) and (N, C, H, W) of numbers; say how to fix anything else."""
    if images.dtype.kind not in "buif":
        raise HarnessError(f"{where}: images must hold numbers, got dtype {images.dtype}")
    if images.ndim == 4 and images.shape[1] > 4 and images.shape[3] in (1, 3, 4):
        raise HarnessError(f"{where}: images of shape {images.shape} look channels-last (N, H, W, C); "
                           "store them as (N, C, H, W), e.g. np.moveaxis(images, -1, 1)")
    if images.ndim not in (3, 4) or 0 in images.shape:
        raise HarnessError(f"{where}: images must be (N, H, W) or (N, C, H, W), got shape {images.shape}")
    return images


def check_image_folder(folder: Path) -> None:
    """A folder source is images: one sub-folder of image files per class. A folder without sub-folders is
    answered with what it holds, so a folder of tables is not answered with talk of images."""
    if any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir()):
        return  # class sub-folders: read_labelled_folder says what is wrong with them, if anything
    tables = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".csv", ".tsv", ".parquet", ".pq"))
    holds = f"it holds {tables[0]}: give that file as data.source" if tables else "it has no class sub-folders"
    raise HarnessError(f"data.source: {folder} is a folder, read as images (one sub-folder of image files per "
                       f"class), but {holds}; a table is one .csv or .parquet file")


def read_labelled_folder(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """One sub-folder per class, named after it; every image resized to the most common size."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    for class_dir in classes:
        found = image_files(class_dir)
        files += found
        labels += [class_dir.name] * len(found)
    if len({*labels}) < 2:
        raise HarnessError(f"data.source: {folder} needs one sub-folder of image files per class (two or more); "
                           f"found {len({*labels})} with images")
    opened = [_open(f) for f in files]
    mode = "L" if all(image.mode in GRAY_MODES for image in opened) else "RGB"
    size = Counter(image.size for image in opened).most_common(1)[0][0]
    return _to_array(opened, mode, size), np.array(labels)


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder` (sub-folders included), sorted by their path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_image_files(folder: Path, height: int, width: int, channels: int) -> tuple[list[str], np.ndarray]:
    """Every image file under `folder`, in the size and channels a model takes: names and uint8 pixels,
    (N, H, W) for one channel, else (N, C, H, W)."""
    if not folder.is_dir():
        raise HarnessError(f"{folder}: no such folder")
    files = image_files(folder)
    if not files:
        raise HarnessError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    mode = "L" if channels == 1 else "RGB"
    images = _to_array([_open(f) for f in files], mode, (width, height))
    return [str(f.relative_to(folder)) for f in files], images


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (UnidentifiedImageError, OSError) as err:
        raise HarnessError(f"cannot read image {path}: {err}") from None


def _to_array(images: list, mode: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    pixels = [np.asarray(_resized(image.convert(mode), size, Image.Resampling.BILINEAR)) for image in images]
    stacked = np.stack(pixels).astype(np.uint8, copy=False)
    return stacked if mode == "L" else np.moveaxis(stacked, -1, 1)  # (N, H, W, 3) -> (N, 3, H, W)


def _resized(image, size: tuple[int, int], resample):
    return image if image.size == size else image.resize(size, resample)


def as_nchw(images: np.ndarray) -> np.ndarray:
    return images[:, None] if images.ndim == 3 else images


def pixel_scale(images: np.ndarray) -> float:
    """What one full-intensity pixel is: the dtype's range for 8- and 16-bit images, else the brightest
    training pixel (16 for digits), never below 1 (images already in [0, 1] stay as they are)."""
    if images.dtype == np.uint8:
        return 255.0
    if images.dtype == np.uint16:
        return 65535.0
    return max(1.0, float(images.max()))


class ImageScaler:
    """Raw pixels -> [0, 1] -> standardized per channel. Fitted on the training images only, saved with
    the model, and the one place that checks the images a user passes against the ones it was fitted on."""

    def fit(self, images: np.ndarray) -> ImageScaler:
        self.raw_shape_ = tuple(images.shape[1:])  # (H, W) or (C, H, W): the layout the model takes
        self.scale_ = pixel_scale(images)
        x = as_nchw(images).astype(np.float64) / self.scale_
        self.mean_ = x.mean(axis=(0, 2, 3)).astype(np.float32)
        std = x.std(axis=(0, 2, 3))
        self.std_ = np.where(std > 0, std, 1.0).astype(np.float32)
        return self

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the network's input."""
        return (1, *self.raw_shape_) if len(self.raw_shape_) == 2 else self.raw_shape_

    def transform(self, images) -> np.ndarray:
        """float32 (N, C, H, W); takes (N, H, W) or (N, C, H, W) of raw pixels."""
        images = np.asarray(images)
        c, h, w = self.input_shape
        if images.ndim == 3 and c == 1:
            images = images[:, None]
        if images.ndim != 4 or images.shape[1:] != (c, h, w):
            expected = f"(N, {h}, {w}) or (N, 1, {h}, {w})" if c == 1 else f"(N, {c}, {h}, {w})"
            raise ValueError(f"images of shape {images.shape}, but the model takes {expected} raw pixels")
        x = images.astype(np.float32) / np.float32(self.scale_)
        return (x - self.mean_[:, None, None]) / self.std_[:, None, None]
