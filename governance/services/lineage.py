"""The lineage of a model version: its data, code, trainer, promotions and stages."""

from __future__ import annotations

from sqlmodel import Session, col, select

from governance.models import PromotionRequest, StageAssignment
from governance.schemas import (
    DatasetVersionPublic,
    ModelLineage,
    ModelVersionPublic,
    StageAssignmentPublic,
)
from governance.services.approvals import to_public
from governance.services.registry import get_dataset, get_model

__all__ = ["lineage"]


def lineage(session: Session, project: str, version: int) -> ModelLineage:
    """What trained ``project@version``, who moved it where, and when.

    Raises:
        NotFound: no such project or model version.
    """
    model = get_model(session, project, version)
    dataset = get_dataset(session, project, model.dataset_version)
    requests = session.exec(
        select(PromotionRequest)
        .where(PromotionRequest.project == project, PromotionRequest.model_version == version)
        .order_by(col(PromotionRequest.created_at), col(PromotionRequest.id))
    ).all()
    assignments = session.exec(
        select(StageAssignment)
        .where(StageAssignment.project == project, StageAssignment.model_version == version)
        .order_by(col(StageAssignment.assigned_at), col(StageAssignment.id))
    ).all()
    return ModelLineage(
        model=ModelVersionPublic.model_validate(model),
        datasets=[DatasetVersionPublic.model_validate(dataset)],
        code_version=model.code_version,
        flow_run_id=model.flow_run_id,
        trained_by=model.trained_by,
        promotion_requests=[to_public(session, r) for r in requests],
        stage_history=[StageAssignmentPublic.model_validate(a) for a in assignments],
    )
