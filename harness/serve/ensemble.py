"""A weighted ensemble of trained networks, each with its own preprocessing: raw rows in, one prediction out.

Two kinds of ensemble reach the registry: a trial scored by cross-validation (its k fold models, equal
weights) and the study's ensemble champion (the best trials, weights from greedy selection). Either way
the prediction is the weighted mean of the members' predictions in original units, or of their class
probabilities (the label is the most probable class), those at the ensemble's temperature
(nn/calibration.py; 1 leaves them as they are). Nested ensembles are flattened, so a saved ensemble
is always a flat list of Predictors and weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.nn.calibration import calibrated
from harness.serve.predictor import Predictor

ENSEMBLE = "ensemble.json"


@dataclass
class EnsemblePredictor:
    members: list[Predictor]
    weights: list[float]  # sum to 1
    params: dict  # what the logged model records: its members and their weights
    temperature: float = 1.0  # applied to the averaged class probabilities

    @classmethod
    def of(cls, members: list, weights: list[float], params: dict | None = None,
           temperature: float = 1.0) -> EnsemblePredictor:
        """Members (Predictors or ensembles, flattened) with weights, normalized to sum to 1."""
        flat, flat_weights = [], []
        total = float(sum(weights))
        for member, weight in zip(members, weights):
            if weight <= 0:
                continue
            if getattr(member, "temperature", 1.0) != 1.0:  # flattening would drop it; no caller nests these
                raise ValueError("an ensemble with a temperature of its own cannot be a member of another")
            inner = member.members if isinstance(member, EnsemblePredictor) else [member]
            inner_weights = member.weights if isinstance(member, EnsemblePredictor) else [1.0]
            flat += inner
            flat_weights += [weight / total * w for w in inner_weights]
        return cls(flat, flat_weights, params or {"members": len(flat)}, temperature)

    @property
    def meta(self) -> dict:
        """The members' shared description of the data (task, target, features, classes)."""
        return self.members[0].meta

    @property
    def preprocessor(self):
        """The first member's fitted preprocessor, for checking inputs (serve/inputs.py): every member reads
        the same columns as numbers, categories or text; only fitted statistics (medians) differ by fold."""
        return self.members[0].preprocessor

    def probabilities(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Regression: the weighted mean prediction (n,); classification: weighted mean probabilities (n, k)."""
        total = None
        for member, weight in zip(self.members, self.weights):
            values = prediction_values(member.predict(frame), self.meta["task"], self.meta["classes"])
            total = weight * values if total is None else total + weight * values
        return total if self.meta["task"] == "regression" else calibrated(total, self.temperature)

    def predict(self, frame: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """The same columns as one Predictor's: `prediction`, then one `proba_<class>` per class."""
        values = self.probabilities(frame)
        if self.meta["task"] == "regression":
            return pd.DataFrame({"prediction": values})
        classes = self.meta["classes"]
        result = pd.DataFrame({"prediction": [classes[i] for i in values.argmax(1)]})
        for i, label in enumerate(classes):
            result[f"proba_{label}"] = values[:, i]
        return result

    def save(self, folder: Path) -> dict[str, str]:
        """Each member's files as `member<i>-<file>`, and ensemble.json with the weights, all in `folder`;
        returns the files by artifact name (`ensemble`, `member<i>.preprocessor`, ...). Names of their own,
        so MLflow keeps them as they are and a saved model can serve as the template of the next one."""
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for i, member in enumerate(self.members):
            files.update({f"member{i}.{name}": path for name, path in member.save(folder, f"member{i}-").items()})
        (folder / ENSEMBLE).write_text(json.dumps({"weights": self.weights, "params": self.params,
                                                   "temperature": self.temperature}, indent=2))
        files["ensemble"] = str(folder / ENSEMBLE)
        return files

    @classmethod
    def load(cls, files: dict[str, str]) -> EnsemblePredictor:
        saved = json.loads(Path(files["ensemble"]).read_text())
        members = [Predictor.load({name.split(".", 1)[1]: path for name, path in files.items()
                                   if name.startswith(f"member{i}.")}) for i in range(len(saved["weights"]))]
        return cls(members, saved["weights"], saved["params"], saved.get("temperature", 1.0))


def prediction_values(predictions: pd.DataFrame, task: str, classes: list | None) -> np.ndarray:
    """What an ensemble averages, from a predictor's output frame: the predictions (n,) in original units,
    or the class probabilities (n, k) in the order of `classes`."""
    if task == "regression":
        return predictions["prediction"].to_numpy(np.float64)
    return predictions[[f"proba_{c}" for c in classes]].to_numpy(np.float64)


def load_predictor(files: dict[str, str]) -> Predictor | EnsemblePredictor:
    """The packaged model's predictor from its artifact files: one network, or an ensemble of them."""
    return EnsemblePredictor.load(files) if "ensemble" in files else Predictor.load(files)
