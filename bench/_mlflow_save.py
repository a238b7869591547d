"""Run by the MLflow virtual environment's python: save an mlgate model as an MLflow model.

Arguments: the skops artifact, the output directory, a JSON file of example records
(the signature is inferred from them, so MLflow enforces it on every request, as it
does for its users). ``predict_proba`` is the pyfunc method, so MLflow computes what
mlgate and the floor compute.
"""

from __future__ import annotations

import json
import sys

import mlflow.sklearn
import pandas as pd
import skops.io as sio

source, out, example_path = sys.argv[1:4]
trusted = sio.get_untrusted_types(file=source)
model = sio.load(source, trusted=trusted)
with open(example_path) as f:
    example = pd.DataFrame(json.load(f))
mlflow.sklearn.save_model(
    model,
    out,
    input_example=example,
    pyfunc_predict_fn="predict_proba",
    skops_trusted_types=sorted(set(trusted) | {"numpy.dtype"}),
)
