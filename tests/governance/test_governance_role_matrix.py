"""Every route of the running app x every role: allowed or denied as this table says.

The table below is the test's own statement of who may do what, written apart from
`governance/api/permissions.py`; the routes come from the app itself, so a new
endpoint without a row here fails, and so does a matrix edit that changes access.
"""

from __future__ import annotations

import re
import uuid

import httpx
from govtest import Gov

from governance.config import Settings
from governance.main import api_routes, create_app

ROLES = ("viewer", "developer", "approver", "admin")
P = "/api/v1/projects/{project}"

# Who may call each route: the lowest role allowed (hierarchy viewer < … < admin).
EXPECTED = {
    ("GET", "/api/v1/health"): None,
    ("GET", "/api/v1/me"): "viewer",
    ("GET", "/api/v1/principals"): "admin",
    ("POST", "/api/v1/principals"): "admin",
    ("POST", "/api/v1/principals/{name}/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{token_id}"): "viewer",
    ("GET", "/api/v1/projects"): "viewer",
    ("POST", "/api/v1/projects"): "developer",
    ("GET", P): "viewer",
    ("PUT", f"{P}/policy"): "developer",
    ("GET", f"{P}/datasets"): "viewer",
    ("POST", f"{P}/datasets"): "developer",
    ("GET", f"{P}/datasets/{{version}}"): "viewer",
    ("POST", f"{P}/datasets/{{version}}/validation"): "developer",
    ("GET", f"{P}/models"): "viewer",
    ("POST", f"{P}/models"): "developer",
    ("GET", f"{P}/models/{{version}}"): "viewer",
    ("GET", f"{P}/models/{{version}}/lineage"): "viewer",
    ("GET", f"{P}/promotion-requests"): "viewer",
    ("POST", f"{P}/promotion-requests"): "developer",
    ("GET", "/api/v1/promotion-requests"): "viewer",
    ("GET", "/api/v1/promotion-requests/{request_id}"): "viewer",
    ("POST", "/api/v1/promotion-requests/{request_id}/decisions"): "approver",
    ("GET", f"{P}/alerts"): "viewer",
    ("POST", f"{P}/alerts"): "developer",
    ("GET", f"{P}/stages"): "viewer",
    ("GET", f"{P}/stages/{{stage}}"): "viewer",
    # a rollback moves a model between stages: the same right as approving a promotion
    ("POST", f"{P}/stages/{{stage}}/rollback"): "approver",
    ("GET", f"{P}/monitoring"): "viewer",
    ("POST", f"{P}/monitoring"): "developer",
    ("GET", "/api/v1/audit/events"): "viewer",
    ("GET", "/api/v1/audit/verify"): "viewer",
}

# Values for path parameters: well-formed, naming nothing that exists.
PARAMS = {
    "project": "no-such-project",
    "name": "no-such-principal",
    "version": "1",
    "token_id": "999999",
    "request_id": str(uuid.UUID(int=1)),
    "stage": "production",
}


def _fill(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], template)


def test_every_routed_endpoint_has_an_expected_role(gov: Gov) -> None:
    routes = set(api_routes(create_app(Settings(database_url=gov.database_url))))
    assert routes == set(EXPECTED), {
        "routed but not in this table": sorted(routes - set(EXPECTED)),
        "in this table but not routed": sorted(set(EXPECTED) - routes),
    }


def test_each_role_is_allowed_or_denied_as_expected(gov: Gov) -> None:
    tokens = {}
    for role in ROLES:
        _, tokens[role] = gov.admin.create_principal(f"matrix-{role}-{uuid.uuid4().hex[:6]}", role)
    wrong: list[str] = []
    with httpx.Client(base_url=gov.url, timeout=30) as http:
        for (method, template), lowest in sorted(EXPECTED.items()):
            url = _fill(template)
            if lowest is None:
                assert http.request(method, url).status_code == 200, url
                continue
            anonymous = http.request(method, url, json={})
            if anonymous.status_code != 401:
                wrong.append(f"{method} {template} without a token: {anonymous.status_code}")
            for role in ROLES:
                allowed = ROLES.index(role) >= ROLES.index(lowest)
                r = http.request(
                    method, url, json={}, headers={"Authorization": f"Bearer {tokens[role]}"}
                )
                denied = r.status_code == 403 and r.json().get("code") == "permission_denied"
                if denied == allowed or r.status_code >= 500:
                    wrong.append(f"{method} {template} as {role}: {r.status_code} {r.text[:120]}")
    assert not wrong, "\n".join(wrong)
