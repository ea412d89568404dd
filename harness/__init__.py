"""harness: an Optuna study of PyTorch models, tracked in MLflow, ending in a registered champion.

    import harness
    result = harness.run_study("experiments/house_prices.yaml", trials=10)
    model = harness.load_model("models:/house-prices@champion")
    model.predict(raw_dataframe)

torch and mlflow are imported on first use, so `import harness` (and `harness --help`) stays instant.
"""

__version__ = "0.1.0"


def run_study(spec, **options):
    """Run or resume a study from a study file path or a StudySpec; see harness.study.run_study."""
    from harness.study import run_study as _run_study

    return _run_study(spec, **options)


def load_model(uri: str, tracking_uri: str | None = None):
    """The MLflow pyfunc model behind a URI such as `models:/house-prices@champion`, from `tracking_uri`
    (default: $MLFLOW_TRACKING_URI, else the embedded store in ./mlruns)."""
    from harness.record.store import default_tracking_uri
    from harness.serve.predict import load_model as _load_model

    return _load_model(uri, tracking_uri or default_tracking_uri())


def predict(uri: str, frame, tracking_uri: str | None = None, strict: bool = False):
    """Predictions of the model at `uri` for a raw DataFrame (extra columns are ignored), or for raw
    images (a numpy array (N, H, W) or (N, C, H, W)) with a model of images. Values the model has to
    guess about are Python warnings, or a HarnessError with `strict`."""
    from harness.record.store import default_tracking_uri
    from harness.serve.predict import predict as _predict

    return _predict(uri, frame, tracking_uri or default_tracking_uri(), strict=strict)
