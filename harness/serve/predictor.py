"""A trained network with its preprocessing: raw rows in, predictions in original units or labels out.

This is what the registered model holds. It knows nothing of MLflow (packaging.py wraps it) so the
study can score a trial exactly as a user of the registry will, without a round trip through the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from harness.data.columns import as_fitted_input
from harness.data.target import decode_target
from harness.nn.losses import output_width
from harness.nn.metrics import probabilities
from harness.nn.models import build_model, output_range_of
from harness.serve.trusted import load_preprocessor, save_preprocessor

PREPROCESSOR, NETWORK, META = "preprocessor.skops", "network.pt", "meta.json"  # skops: loading runs no code


@dataclass
class Predictor:
    preprocessor: object  # fitted ColumnTransformer (tables) or ImageScaler (images)
    network: nn.Module
    params: dict
    meta: dict  # task, target, features, classes, target_transform, target_mean, target_std, n_in, n_out,
    # input_shape, n_numeric, output_range: what build_model needs to rebuild the network, and the labels

    @classmethod
    def from_training(cls, data, network: nn.Module, params: dict) -> Predictor:
        meta = {"task": data.task, "target": data.target, "features": data.features, "classes": data.classes,
                "target_transform": data.target_transform, "target_mean": data.target_mean,
                "target_std": data.target_std, "n_in": data.n_features,
                "n_out": output_width(data.task, data.n_classes, params.get("loss", "auto")),
                "input_shape": data.input_shape, "n_numeric": data.n_numeric, "output_range": output_range_of(network)}
        return cls(data.preprocessor, network.cpu().eval(), params, meta)

    def save(self, folder: Path, prefix: str = "") -> dict[str, str]:
        """Write the three files the packaged model needs (names starting with `prefix`: an ensemble's
        members share one folder); returns them by artifact name."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / f"{prefix}{file}" for name, file in
                 (("preprocessor", PREPROCESSOR), ("network", NETWORK), ("meta", META))}
        save_preprocessor(self.preprocessor, paths["preprocessor"])
        torch.save({"params": self.params, "state_dict": self.network.state_dict()}, paths["network"])
        paths["meta"].write_text(json.dumps(self.meta, indent=2))
        return {name: str(path) for name, path in paths.items()}

    @classmethod
    def load(cls, files: dict[str, str]) -> Predictor:
        meta = json.loads(Path(files["meta"]).read_text())
        saved = torch.load(files["network"], map_location="cpu", weights_only=True)
        network = build_model(saved["params"], meta["n_in"], meta["n_out"], meta.get("input_shape"),
                              meta.get("n_numeric", 0), meta.get("output_range"))
        network.load_state_dict(saved["state_dict"])
        return cls(load_preprocessor(files["preprocessor"]), network.eval(), saved["params"], meta)

    def raw_outputs(self, inputs: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Network outputs for raw rows (a DataFrame) or raw images ((N, H, W) or (N, C, H, W) pixels)."""
        # Tables as in training: numbers as float64 and missing text as NaN, which the imputers fill (a
        # None, as JSON's null arrives through REST serving, would read as an unknown category).
        features = inputs if self.meta.get("input_shape") else as_fitted_input(self.preprocessor,
                                                                                inputs[self.meta["features"]])
        with torch.no_grad():
            X = torch.as_tensor(self.preprocessor.transform(features), dtype=torch.float32)
            return self.network(X).numpy()

    def predict(self, frame: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """One row of output per input row or image: `prediction` first, then one `proba_<class>` per class."""
        missing = [c for c in self.meta["features"] if c not in frame.columns]
        if missing:
            raise ValueError(f"input is missing column(s) {missing}; the model needs {self.meta['features']}")
        return self.decoded(self.raw_outputs(frame))

    def predict_prepared(self, X: torch.Tensor) -> pd.DataFrame:
        """`predict` for rows already through this predictor's preprocessing (the study's own tensors):
        the same predictions without transforming the raw rows again."""
        with torch.no_grad():
            return self.decoded(self.network(X.cpu()).numpy())

    def decoded(self, out: np.ndarray) -> pd.DataFrame:
        """Network outputs as predictions in the target's units, or labels and one probability per class."""
        if self.meta["task"] == "regression":  # back to original units (models saved before transforms: standardize)
            values = decode_target(out[:, 0].astype(np.float64), self.meta.get("target_transform", "standardize"),
                                   self.meta["target_mean"], self.meta["target_std"])
            return pd.DataFrame({"prediction": values})
        proba = probabilities(torch.as_tensor(out)).numpy().astype(np.float64)
        classes = self.meta["classes"]
        columns = {"prediction": [classes[i] for i in proba.argmax(1)]}
        columns.update({f"proba_{label}": proba[:, i] for i, label in enumerate(classes)})
        return pd.DataFrame(columns)  # at once: a column at a time fragments the frame (pandas warns past 100)
