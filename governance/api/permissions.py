"""The role matrix: the minimum role of every route, declared once.

:func:`governance.api.deps.authorize` enforces it for every route of the API router, and
:func:`governance.main.create_app` refuses to start when a route is missing from it (or
the matrix names a route that does not exist), so a new endpoint cannot ship unguarded.
``None`` means no authentication at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from governance.schemas import Role

__all__ = ["API_PREFIX", "PROMOTE", "ROUTE_ROLES", "matrix_mismatches", "required_role"]

API_PREFIX = "/api/v1"
_P = API_PREFIX
_PROJECT = f"{_P}/projects/{{project}}"
# Moving a model between stages, by approving it there or by rolling a stage back.
PROMOTE = Role.approver

ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("GET", f"{_P}/health"): None,
    ("GET", f"{_P}/me"): Role.viewer,
    # principals and tokens
    ("GET", f"{_P}/principals"): Role.admin,
    ("POST", f"{_P}/principals"): Role.admin,
    ("POST", f"{_P}/principals/{{name}}/tokens"): Role.admin,
    # anyone may revoke their own token; the service requires admin for another's
    ("DELETE", f"{_P}/tokens/{{token_id}}"): Role.viewer,
    # projects
    ("GET", f"{_P}/projects"): Role.viewer,
    ("POST", f"{_P}/projects"): Role.developer,
    ("GET", _PROJECT): Role.viewer,
    ("PUT", f"{_PROJECT}/policy"): Role.developer,
    # datasets
    ("GET", f"{_PROJECT}/datasets"): Role.viewer,
    ("POST", f"{_PROJECT}/datasets"): Role.developer,
    ("GET", f"{_PROJECT}/datasets/{{version}}"): Role.viewer,
    ("POST", f"{_PROJECT}/datasets/{{version}}/validation"): Role.developer,
    # models
    ("GET", f"{_PROJECT}/models"): Role.viewer,
    ("POST", f"{_PROJECT}/models"): Role.developer,
    ("GET", f"{_PROJECT}/models/{{version}}"): Role.viewer,
    ("GET", f"{_PROJECT}/models/{{version}}/lineage"): Role.viewer,
    # promotion
    ("GET", f"{_PROJECT}/promotion-requests"): Role.viewer,
    ("POST", f"{_PROJECT}/promotion-requests"): Role.developer,
    ("GET", f"{_P}/promotion-requests"): Role.viewer,
    ("GET", f"{_P}/promotion-requests/{{request_id}}"): Role.viewer,
    ("POST", f"{_P}/promotion-requests/{{request_id}}/decisions"): PROMOTE,
    # stages
    ("GET", f"{_PROJECT}/stages"): Role.viewer,
    ("GET", f"{_PROJECT}/stages/{{stage}}"): Role.viewer,
    ("POST", f"{_PROJECT}/stages/{{stage}}/rollback"): PROMOTE,
    # monitoring
    ("GET", f"{_PROJECT}/monitoring"): Role.viewer,
    ("POST", f"{_PROJECT}/monitoring"): Role.developer,
    # alerts
    ("GET", f"{_PROJECT}/alerts"): Role.viewer,
    ("POST", f"{_PROJECT}/alerts"): Role.developer,
    # audit
    ("GET", f"{_P}/audit/events"): Role.viewer,
    ("GET", f"{_P}/audit/verify"): Role.viewer,
}


def required_role(method: str, path: str) -> Role | None:
    """The minimum role for ``method path`` (a route template).

    Raises:
        KeyError: the route is not in the matrix.
    """
    return ROUTE_ROLES[(method.upper(), path)]


def matrix_mismatches(routes: Iterable[tuple[str, str]]) -> list[str]:
    """Routes missing from the matrix, and matrix entries that match no route."""
    present = {(m.upper(), p) for m, p in routes}
    missing = [
        f"{m} {p} has no entry in the role matrix" for m, p in sorted(present - set(ROUTE_ROLES))
    ]
    stale = [
        f"{m} {p} is in the role matrix but not routed"
        for m, p in sorted(set(ROUTE_ROLES) - present)
    ]
    return missing + stale
