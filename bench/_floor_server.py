"""The floor of bench/serving.py: a bare FastAPI endpoint that parses JSON and calls predict.

No validation, no logging, no model management: ``{"records": [...]}`` in, one
probability per record out. The model file is named by ``FLOOR_MODEL``.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import Response

from scoring import model_format

model = model_format.loads(Path(os.environ["FLOOR_MODEL"]).read_bytes())
app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> Response:
    """Parse, predict, answer."""
    body = orjson.loads(await request.body())
    scores = model.predict_proba(pd.DataFrame(body["records"]))[:, 1]
    return Response(orjson.dumps({"scores": scores.tolist()}), media_type="application/json")
