"""Tokens and roles: hashed at rest, expiry and revocation honoured, one role matrix."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from govtest import STORE, Gov, make_project, rand, sha

from governance.api.permissions import ROUTE_ROLES
from governance.client import GovernanceClient
from governance.config import Settings
from governance.errors import NotFound, PermissionDenied, Unauthenticated
from governance.main import api_routes, create_app
from governance.schemas import Role


def test_viewer_cannot_register(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    viewer = gov.client("viewer", name=rand("vera"))
    assert viewer.get_model(s.project, s.model_version).version == s.model_version
    with pytest.raises(PermissionDenied, match=r"has role viewer; POST .* needs developer") as exc:
        viewer.register_dataset(
            s.project,
            source="file://x.csv",
            snapshot_uri=f"{STORE}/snapshots/x.parquet",
            content_hash=sha("x"),
            row_count=1,
            contract_version=1,
        )
    assert exc.value.code == "permission_denied"
    with pytest.raises(PermissionDenied, match="needs admin"):
        dev.create_principal(rand("eve"), "admin")


def test_token_is_stored_only_as_its_hash(gov: Gov) -> None:
    name = rand("hashed")
    _, token = gov.admin.create_principal(name, "developer")
    with gov.engine().connect() as conn:
        rows = conn.execute(
            sa.text("SELECT token_hash, prefix FROM api_token WHERE principal = :n"), {"n": name}
        ).all()
        dump = " ".join(
            str(r)
            for table in ("api_token", "principal", "audit_event")
            for r in conn.execute(sa.text(f"SELECT * FROM {table}")).all()
        )
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in dump
    assert token[len("mlg_") :] not in dump
    with GovernanceClient(gov.url, token) as client:
        assert client.whoami().name == name


def test_revoked_and_expired_tokens_are_refused(gov: Gov) -> None:
    name = rand("temp")
    _, token = gov.admin.create_principal(name, "developer")
    second = gov.admin.create_token(name)
    with GovernanceClient(gov.url, token) as first, GovernanceClient(gov.url, second.token) as c2:
        assert first.whoami().name == name
        first_id = c2.revoke_token(second.info.id).id
        assert first_id == second.info.id
        with pytest.raises(Unauthenticated, match="missing, unknown, expired or revoked") as exc:
            c2.whoami()
        assert exc.value.code == "unauthenticated"
        assert second.token not in str(exc.value)

        with gov.engine().begin() as conn:
            conn.execute(
                sa.text("UPDATE api_token SET expires_at = :t WHERE principal = :n"),
                {"t": "2000-01-01 00:00:00", "n": name},
            )
        with pytest.raises(Unauthenticated, match="expired") as exc:
            first.whoami()
        assert exc.value.code == "unauthenticated"


def test_no_token_and_garbage_token_are_unauthenticated(gov: Gov) -> None:
    with GovernanceClient(gov.url, "mlg_not-a-real-token") as client:
        assert client.health().status == "ok"  # health needs no token
        with pytest.raises(Unauthenticated):
            client.whoami()
    with GovernanceClient(gov.url, "") as client, pytest.raises(Unauthenticated):
        client.list_projects()


def test_only_admin_or_owner_revokes(gov: Gov) -> None:
    dev = gov.client("developer")
    other = gov.admin.create_token(gov.client("developer").whoami().name)
    with pytest.raises(PermissionDenied, match=f"may not revoke api token {other.info.id}"):
        dev.revoke_token(other.info.id)
    with pytest.raises(NotFound, match="api token 999999 not found"):
        gov.admin.revoke_token(999999)


def test_role_matrix_covers_every_route(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'g.db'}"))
    routed = set(api_routes(app))
    assert routed == set(ROUTE_ROLES)
    public = {route for route, role in ROUTE_ROLES.items() if role is None}
    assert public == {("GET", "/api/v1/health")}
    assert all(role is None or isinstance(role, Role) for role in ROUTE_ROLES.values())
    decisions = ("POST", "/api/v1/promotion-requests/{request_id}/decisions")
    assert ROUTE_ROLES[decisions] is Role.approver
    assert ROUTE_ROLES[("POST", "/api/v1/principals")] is Role.admin
