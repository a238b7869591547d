"""The lineage of a model version: its data, code, trainer, promotions and stages."""

from __future__ import annotations

from sqlmodel import Session

from governance.schemas import (
    DatasetVersionPublic,
    ModelLineage,
    ModelVersionPublic,
    StageAssignmentPublic,
)
from governance.services.approvals import public
from governance.store import datasets, model_versions, requests, stages

__all__ = ["lineage"]


def lineage(session: Session, project: str, version: int) -> ModelLineage:
    """What trained ``project@version``, who moved it where, and when.

    Raises:
        NotFound: no such project or model version.
    """
    model = model_versions.get(session, project, version)
    dataset = datasets.get(session, project, model.dataset_version)
    return ModelLineage(
        model=ModelVersionPublic.model_validate(model),
        datasets=[DatasetVersionPublic.model_validate(dataset)],
        code_version=model.code_version,
        flow_run_id=model.flow_run_id,
        trained_by=model.trained_by,
        promotion_requests=[
            public(session, r) for r in requests.of_model(session, project, version)
        ],
        stage_history=[
            StageAssignmentPublic.model_validate(a)
            for a in stages.of_model(session, project, version)
        ],
    )
