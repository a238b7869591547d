"""Thin routes: parse, call one service, shape the answer.

Each router carries the full ``/api/v1/...`` prefix itself, so a matched route's ``path``
is the template the role matrix (:mod:`governance.api.permissions`) is keyed by.
"""

from __future__ import annotations

from fastapi import APIRouter

from governance.api.routes import (
    alerts,
    audit,
    datasets,
    meta,
    model_versions,
    monitoring,
    principals,
    projects,
    promotions,
    stages,
)

__all__ = ["api_router"]

api_router = APIRouter()
for _module in (
    meta,
    principals,
    projects,
    datasets,
    model_versions,
    promotions,
    stages,
    monitoring,
    alerts,
    audit,
):
    api_router.include_router(_module.router)
