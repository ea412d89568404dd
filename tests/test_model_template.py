"""A trial's model written from the study's template (the first trial's saved model) is that trial's own:
its weights, its run and model ids, its size, with the template's signature still enforced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data.prepare import prepare
from harness.nn.models import build_model
from harness.record.tracking import Tracker
from harness.serve import packaging
from harness.serve.ensemble import EnsemblePredictor
from harness.serve.predict import load_model
from harness.serve.predictor import Predictor

PARAMS = {"family": "mlp", "n_layers": 1, "hidden": 8, "activation": "relu", "loss": "mse"}


def network(data, seed: int) -> Predictor:
    torch.manual_seed(seed)
    return Predictor.from_training(data, build_model(PARAMS, data.n_features, 1), PARAMS)


@pytest.mark.parametrize("members", [0, 3], ids=["one network", "cross-validated: an ensemble of 3 fold models"])
def test_models_from_the_template_are_each_trials_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      members: int) -> None:
    data = prepare("sklearn:diabetes", None, "auto", 0.15, 0.15, seed=0, device="cpu")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker(uri, "template", "cpu")
    experiment = tracker.experiment("template")
    parent = tracker.client.create_run(experiment, run_name="study", tags=tracker.base_tags).info.run_id
    monkeypatch.setattr(packaging.Template, "key", None)  # this test's first model makes the template
    full_saves = []
    save_model = packaging.mlflow.pyfunc.save_model
    monkeypatch.setattr(packaging.mlflow.pyfunc, "save_model", lambda *a, **k: full_saves.append(1) or save_model(*a, **k))

    logged = []
    for seed in range(3):
        predictor = (EnsemblePredictor.of([network(data, 10 * seed + i) for i in range(members)], [1.0] * members)
                     if members else network(data, seed))
        run_id = tracker.start_trial(experiment, parent, seed, PARAMS)
        model_uri = packaging.log_model(tracker.client, experiment, run_id, predictor, data.raw["train"])
        logged.append((run_id, predictor, model_uri))
    assert len(full_saves) == 1  # the later trials came from the template

    rows = data.raw["test"]
    outputs = []
    for run_id, predictor, model_uri in logged:
        model = load_model(model_uri, uri)
        predicted = model.predict(rows)["prediction"].to_numpy()
        np.testing.assert_allclose(predicted, predictor.predict(rows)["prediction"], rtol=1e-6)
        info = model.metadata
        assert info.run_id == run_id and info.model_id == model_uri.removeprefix("models:/")
        assert info.model_size_bytes > 0
        outputs.append(predicted)
        with pytest.raises(Exception, match="bmi"):  # the signature still names the columns it needs
            model.predict(rows.drop(columns=["bmi"]))
    assert not np.allclose(outputs[0], outputs[1]) and not np.allclose(outputs[1], outputs[2])
