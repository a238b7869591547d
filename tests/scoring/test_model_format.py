"""scoring.model_format: skops round trips, the trusted-type gate and the integrity check."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from demo_factories import CONTRACT, applications
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

from core.spec import CANDIDATES
from flows.train import make_candidate
from scoring import model_format
from scoring.errors import ModelIntegrityError, ScoringError, UntrustedModelError

CONSTRUCTED: list[str] = []


def features_and_target(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Features of the demo contract and a target that depends on them."""
    frame = applications(n, seed)
    return frame[CONTRACT.features], frame["defaulted"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return features_and_target(1_500)


@pytest.fixture(scope="module")
def models(data: tuple[pd.DataFrame, pd.Series]) -> dict[str, Pipeline]:
    X, y = data
    return {name: make_candidate(name, CONTRACT, seed=3).fit(X, y) for name in CANDIDATES}


def _double(x: np.ndarray) -> np.ndarray:
    return x * 2


class Tripwire(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn has no types
    """A custom class that records when a loader constructs it."""

    def __setstate__(self, state: dict[str, object]) -> None:
        CONSTRUCTED.append("Tripwire")
        super().__setstate__(state)


@pytest.mark.parametrize("name", CANDIDATES)
def test_round_trip_predicts_identically(
    name: str, models: dict[str, Pipeline], data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = data
    blob = model_format.dumps(models[name])
    assert isinstance(blob, bytes)
    assert model_format.untrusted_types(blob) == []
    loaded = model_format.loads(blob)
    np.testing.assert_array_equal(loaded.predict_proba(X), models[name].predict_proba(X))


def test_load_verified_checks_the_hash_first(models: dict[str, Pipeline]) -> None:
    blob = model_format.dumps(models["random_forest"])
    digest = model_format.sha256_hex(blob)
    assert digest == hashlib.sha256(blob).hexdigest()
    assert model_format.load_verified(blob, expected_sha256=digest.upper()) is not None

    tampered = bytearray(blob)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(ModelIntegrityError, match=f"expected {digest[:12]}") as info:
        model_format.load_verified(bytes(tampered), expected_sha256=digest)
    assert info.value.code == "model_integrity"
    assert hashlib.sha256(bytes(tampered)).hexdigest()[:12] in str(info.value)


def test_a_custom_function_is_refused_by_name(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    hostile = Pipeline(
        [("double", FunctionTransformer(_double)), ("model", LogisticRegression(max_iter=500))]
    ).fit(X[["age", "interest_rate"]], y)
    blob = sio.dumps(hostile)
    with pytest.raises(UntrustedModelError, match=r"_double") as info:
        model_format.loads(blob)
    assert info.value.code == "untrusted_model"
    assert any(t.endswith("._double") for t in info.value.types)
    assert "sklearn.preprocessing._function_transformer.FunctionTransformer" in info.value.types


def test_a_custom_class_is_refused_without_being_constructed() -> None:
    CONSTRUCTED.clear()
    blob = sio.dumps(Pipeline([("model", Tripwire())]))
    with pytest.raises(UntrustedModelError, match=r"\.Tripwire") as info:
        model_format.load_verified(blob, expected_sha256=model_format.sha256_hex(blob))
    assert [t for t in info.value.types if t.endswith(".Tripwire")]
    assert CONSTRUCTED == []


def test_sklearn_types_outside_our_pipelines_are_refused(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    # skops trusts every scikit-learn estimator by default; we trust only what we build.
    X, _ = data
    blob = sio.dumps(MinMaxScaler().fit(X[["age"]]))
    with pytest.raises(
        UntrustedModelError, match=re.escape("sklearn.preprocessing._data.MinMaxScaler")
    ):
        model_format.loads(blob)


def test_dumps_refuses_what_loads_would_refuse(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    model = Pipeline([("f", FunctionTransformer(_double)), ("m", LogisticRegression())])
    with pytest.raises(UntrustedModelError, match="_double"):
        model_format.dumps(model.fit(X[["age"]], y))


@pytest.mark.parametrize("blob", [b"", b"not a zip file", b"PK\x03\x04garbage"])
def test_unreadable_bytes_are_an_integrity_error(blob: bytes) -> None:
    with pytest.raises(ModelIntegrityError, match="not a readable skops file") as info:
        model_format.loads(blob)
    assert isinstance(info.value, ScoringError)


def test_trusted_types_are_an_explicit_list_of_qualified_names() -> None:
    assert len(set(model_format.TRUSTED_TYPES)) == len(model_format.TRUSTED_TYPES)
    assert all(t.count(".") >= 1 and " " not in t for t in model_format.TRUSTED_TYPES)
    assert "sklearn.preprocessing._function_transformer.FunctionTransformer" not in (
        model_format.TRUSTED_TYPES
    )
