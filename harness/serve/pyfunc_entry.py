"""Entry file of the packaged model ("models from code"): MLflow runs it at load time.

Never imported by the harness itself.
"""

import mlflow

from harness.serve.packaging import HarnessModel

mlflow.models.set_model(HarnessModel())
