"""scoring.batch: contract checks before scoring, chunked scoring, the output frame."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from demo_factories import CONTRACT, applications
from sklearn.pipeline import Pipeline

from core.spec import DataContract
from flows.train import make_candidate
from scoring.batch import iter_scores, output_columns, score_frame
from scoring.errors import ScoringSchemaError

VERSION = "credit-risk@7"


@pytest.fixture(scope="module")
def model() -> Pipeline:
    train = applications(1_500)
    return make_candidate("hist_gradient_boosting", CONTRACT, seed=0).fit(
        train[CONTRACT.features], train["defaulted"]
    )


@pytest.fixture()
def frame() -> pd.DataFrame:
    return applications(250, seed=1).set_index(pd.RangeIndex(1_000, 1_250))


def test_output_has_one_row_per_input_row(model: Pipeline, frame: pd.DataFrame) -> None:
    before = pd.Timestamp.now(tz="UTC")
    out = score_frame(model, frame, CONTRACT, model_version=VERSION)

    assert (
        list(out.columns)
        == output_columns(CONTRACT)
        == [
            "application_id",
            "prediction_id",
            "score",
            "label",
            "model_version",
            "scored_at",
        ]
    )
    assert len(out) == len(frame)
    assert out.index.equals(frame.index)
    assert (out["application_id"] == frame["application_id"]).all()
    assert out["prediction_id"].is_unique
    assert {uuid.UUID(hex=p).version for p in out["prediction_id"]} == {4}
    assert out["score"].between(0, 1).all()
    np.testing.assert_allclose(out["score"], model.predict_proba(frame[CONTRACT.features])[:, 1])
    assert out["label"].dtype == np.int64
    assert (out["label"] == (out["score"] >= 0.5).astype(int)).all()
    assert (out["model_version"] == VERSION).all()
    assert str(out["scored_at"].dt.tz) == "UTC"
    assert out["scored_at"].nunique() == 1 and out["scored_at"].iloc[0] >= before


def test_chunks_give_the_same_scores(model: Pipeline, frame: pd.DataFrame) -> None:
    whole = score_frame(model, frame, CONTRACT, model_version=VERSION)
    chunked = score_frame(model, frame, CONTRACT, model_version=VERSION, batch_rows=7)
    np.testing.assert_array_equal(chunked["score"], whole["score"])
    assert chunked.index.equals(frame.index)
    assert chunked["prediction_id"].is_unique
    assert not set(chunked["prediction_id"]) & set(whole["prediction_id"])

    sizes = [
        len(c) for c in iter_scores(model, frame, CONTRACT, model_version=VERSION, batch_rows=100)
    ]
    assert sizes == [100, 100, 50]


def test_missing_columns_are_refused_by_name(model: Pipeline, frame: pd.DataFrame) -> None:
    with pytest.raises(ScoringSchemaError, match="lacks columns: credit_score, region") as info:
        score_frame(
            model, frame.drop(columns=["region", "credit_score"]), CONTRACT, model_version=VERSION
        )
    assert info.value.code == "scoring_schema"
    assert info.value.columns == ["credit_score", "region"]


def test_the_id_column_is_required_when_the_contract_has_one(
    model: Pipeline, frame: pd.DataFrame
) -> None:
    with pytest.raises(ScoringSchemaError, match="lacks columns: application_id"):
        score_frame(model, frame.drop(columns="application_id"), CONTRACT, model_version=VERSION)


def test_strings_in_a_numeric_feature_are_refused(model: Pipeline, frame: pd.DataFrame) -> None:
    bad = frame.assign(loan_amount=frame["loan_amount"].astype(object))
    bad.loc[1_003, "loan_amount"] = "12k"
    bad["purpose"] = 3
    with pytest.raises(ScoringSchemaError, match="wrong type") as info:
        score_frame(model, bad, CONTRACT, model_version=VERSION)
    message = str(info.value)
    assert "loan_amount: expected numbers, found mixed" in message
    assert "purpose: expected strings, found int64" in message
    assert info.value.columns == ["loan_amount", "purpose"]


def test_values_of_the_right_kind_are_accepted_as_they_are(
    model: Pipeline, frame: pd.DataFrame
) -> None:
    odd = frame.assign(
        age=frame["age"].astype(object),  # Python ints in an object column
        region=frame["region"].astype("category"),
        credit_score=np.nan,  # all missing: imputed
        purpose="crypto",  # unseen category: ignored by the encoder
    )
    out = score_frame(model, odd, CONTRACT, model_version=VERSION)
    assert len(out) == len(frame) and out["score"].notna().all()


def test_an_empty_frame_gives_an_empty_result(model: Pipeline, frame: pd.DataFrame) -> None:
    out = score_frame(model, frame.iloc[:0], CONTRACT, model_version=VERSION)
    assert out.empty and list(out.columns) == output_columns(CONTRACT)


def test_a_contract_without_id_has_no_id_column(model: Pipeline, frame: pd.DataFrame) -> None:
    contract = DataContract.model_validate(
        {"columns": [c for c in CONTRACT.model_dump()["columns"] if c["role"] != "id"]}
    )
    out = score_frame(model, frame.drop(columns="application_id"), contract, model_version=VERSION)
    assert list(out.columns) == ["prediction_id", "score", "label", "model_version", "scored_at"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"batch_rows": 0}, "batch_rows"), ({"model_version": ""}, "model_version")],
)
def test_bad_arguments_are_refused(
    model: Pipeline, frame: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"model_version": VERSION, **kwargs}
    with pytest.raises(ValueError, match=message):
        score_frame(model, frame, CONTRACT, **arguments)  # type: ignore[arg-type]
