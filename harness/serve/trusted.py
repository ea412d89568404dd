"""The fitted preprocessing, saved so that loading it can run no code: skops instead of a pickle.

A pickle (joblib) runs whatever its bytes say when loaded, so a tampered model artifact could run code
through `harness predict`. skops stores the object's state as data and, when loading, builds only types
on a list: scikit-learn's own (skops trusts them) and the few below. A file naming any other type (or not
a skops file at all, such as a pickle planted in its place) is refused before anything is built.

Trust model: this protects the preprocessing file; the network is a tensor file (`torch.load` with
`weights_only=True`), and the packaged model's code is code. Load models only from stores you trust.
"""

from __future__ import annotations

import os
import weakref
import zipfile
from pathlib import Path

from harness.errors import HarnessError

# Types the harness's preprocessors hold beyond what skops trusts by default (scikit-learn's estimators).
TRUSTED_TYPES = [
    "harness.data.columns.text_values",  # FunctionTransformer: text columns as one string per row
    "harness.data.columns.date_parts",  # FunctionTransformer: a date column as year, month, day, weekday
    "harness.data.columns.date_part_names",  # ... and the names of those parts
    "numpy.median",  # SimpleImputer(strategy=np.median): the training medians, computed faster
    "harness.data.images.ImageScaler",  # images: pixel scaling and standardization
    "harness.data.scaling.RobustSmoothClip",  # data.numeric: robust (median/IQR, then smoothly clipped)
    "numpy.dtype",  # TfidfVectorizer(dtype=float32)
]
PICKLES_ALLOWED = "HARNESS_TRUST_PICKLES"  # 1: load a model saved before skops, as a pickle, knowingly


# A study saves the same fitted preprocessor with every trial's model (a preprocessor is never changed once
# fitted): serialized once, its bytes are written again, 15 to 30 ms a trial less.
_saved: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def save_preprocessor(preprocessor: object, path: Path) -> None:
    import skops.io

    data = _saved.get(preprocessor)
    if data is None:
        data = _saved[preprocessor] = skops.io.dumps(preprocessor)
    Path(path).write_bytes(data)


def load_preprocessor(path: str | Path) -> object:
    """The preprocessor at `path`, built only from trusted types; a HarnessError for anything else."""
    import skops.io

    path = Path(path)
    if path.suffix == ".joblib":
        return _legacy_pickle(path)
    if not zipfile.is_zipfile(path):
        raise HarnessError(f"model file {path.name} is not a skops file (it may have been tampered with); "
                           "refusing to load it")
    untrusted = [t for t in skops.io.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise HarnessError(f"model file {path.name} names types the harness does not trust: "
                           f"{', '.join(untrusted[:5])}; refusing to load it (was the model tampered with?)")
    return skops.io.load(path, trusted=TRUSTED_TYPES)


def _legacy_pickle(path: Path) -> object:
    if os.environ.get(PICKLES_ALLOWED) != "1":
        raise HarnessError(f"this model's preprocessing is a pickle ({path.name}, saved by an older harness), which "
                           f"can run any code when loaded; run its study again, or set {PICKLES_ALLOWED}=1 if you "
                           "trust the store it comes from")
    import joblib

    return joblib.load(path)
