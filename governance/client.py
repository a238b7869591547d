"""The Python client of governance, over HTTP: what flows, the CLI and CI use.

One method per API operation, in one class on purpose: it mirrors the API one to one,
so it is one piece even past 500 lines. Answers come back as the typed models the API returns
(the ``XPublic`` classes of :mod:`governance.schemas`); problem details come back as the
exceptions of :mod:`governance.errors`, matched by ``code``. Retries, idempotency and
the translation of httpx's errors are the session's (:mod:`governance.transport`); model
registration always sends an idempotency key.

Example::

    with GovernanceClient.from_env() as gov:
        model = gov.register_model("credit-risk", algorithm="random_forest", ...)
        request = gov.request_promotion("credit-risk", model.version)
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any

from governance.errors import Conflict, InvalidInput, NotFound
from governance.schemas import (
    AlertPublic,
    ApiTokenPublic,
    AuditEventPublic,
    DatasetVersionPublic,
    Health,
    ModelLineage,
    ModelVersionPublic,
    MonitoringResultPublic,
    Policy,
    PrincipalCreated,
    PrincipalPublic,
    ProjectPublic,
    PromotionRequestPublic,
    RollbackPublic,
    StageAssignmentPublic,
    StageCurrentPublic,
    TokenCreated,
    VerifyResult,
)
from governance.transport import Page, Session, error_from_response, http_errors, query

__all__ = ["GovernanceClient", "Page", "error_from_response", "http_errors"]


class GovernanceClient(Session):
    """A session with the governance API, one method per operation (see :class:`Session`)."""

    @classmethod
    def from_env(cls, *, timeout: float = 30.0) -> GovernanceClient:
        """A client for ``MLGATE_GOVERNANCE_URL`` (or ``MLGATE_URL``) with ``MLGATE_TOKEN``.

        Raises:
            InvalidInput: the URL or the token is not set.
        """
        url = os.environ.get("MLGATE_GOVERNANCE_URL") or os.environ.get("MLGATE_URL")
        token = os.environ.get("MLGATE_TOKEN")
        if not url:
            raise InvalidInput(
                "MLGATE_GOVERNANCE_URL or MLGATE_URL is not set: where does governance listen?"
            )
        if not token:
            raise InvalidInput("MLGATE_TOKEN is not set: an API token is needed")
        return cls(url, token, timeout=timeout)

    # -- identity -----------------------------------------------------------------------

    def health(self) -> Health:
        """Liveness and the database backend."""
        return self._one(Health, "GET", "/health")

    def whoami(self) -> PrincipalPublic:
        """The principal this client's token belongs to."""
        return self._one(PrincipalPublic, "GET", "/me")

    def create_principal(
        self, name: str, role: str, kind: str = "human", *, idempotency_key: str | None = None
    ) -> tuple[PrincipalPublic, str]:
        """Create a principal (admin). Returns it and its token, shown this once.

        Raises:
            SecretNotReplayable: ``idempotency_key`` was used before and the first
                answer's token cannot be shown again.
        """
        body = {"name": name, "role": role, "kind": kind}
        created = self._post(PrincipalCreated, "/principals", body, idempotency_key)
        return created.principal, created.token

    def list_principals(
        self, *, role: str | None = None, limit: int = 100, offset: int = 0
    ) -> Page[PrincipalPublic]:
        """Principals by name (admin), optionally of one role."""
        return self._many(
            PrincipalPublic, "/principals", query(role=role, limit=limit, offset=offset)
        )

    def create_token(self, name: str, *, idempotency_key: str | None = None) -> TokenCreated:
        """Issue another token for principal ``name`` (admin); ``.token`` is shown once."""
        return self._post(TokenCreated, f"/principals/{name}/tokens", None, idempotency_key)

    def revoke_token(self, token_id: int) -> ApiTokenPublic:
        """Revoke a token (your own, or any as admin)."""
        return self._one(ApiTokenPublic, "DELETE", f"/tokens/{token_id}")

    # -- projects -----------------------------------------------------------------------

    def create_project(
        self,
        name: str,
        description: str = "",
        policy: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ProjectPublic:
        """Create a project (developer)."""
        body = {"name": name, "description": description, "policy": policy or {}}
        return self._post(ProjectPublic, "/projects", body, idempotency_key)

    def get_project(self, name: str) -> ProjectPublic:
        """One project."""
        return self._one(ProjectPublic, "GET", f"/projects/{name}")

    def list_projects(self, *, limit: int = 100, offset: int = 0) -> Page[ProjectPublic]:
        """Projects by name."""
        return self._many(ProjectPublic, "/projects", {"limit": limit, "offset": offset})

    def update_policy(
        self, name: str, policy: dict[str, Any], *, if_match: int | str | None = None
    ) -> ProjectPublic:
        """Replace a project's promotion policy (developer).

        Args:
            if_match: the project's ``revision`` as read (its ETag); the update is refused
                with :class:`PreconditionFailed` if it changed since. None overwrites
                whatever is there (``If-Match: *``).
        """
        tag = "*" if if_match is None else f'"{str(if_match).strip(chr(34))}"'
        return self._one(
            ProjectPublic,
            "PUT",
            f"/projects/{name}/policy",
            json=policy,
            headers={"If-Match": tag},
        )

    def ensure_project(
        self, name: str, description: str = "", policy: dict[str, Any] | None = None
    ) -> ProjectPublic:
        """Create the project, or update its policy when it differs from ``policy``."""
        wanted = Policy.model_validate(policy or {})
        try:
            current = self.get_project(name)
        except NotFound:
            try:
                return self.create_project(name, description, wanted.model_dump(mode="json"))
            except Conflict:  # created meanwhile by someone else
                current = self.get_project(name)
        if current.policy != wanted:
            current = self.update_policy(
                name, wanted.model_dump(mode="json"), if_match=current.revision
            )
        return current

    # -- datasets -----------------------------------------------------------------------

    def register_dataset(
        self,
        project: str,
        *,
        source: str,
        snapshot_uri: str,
        content_hash: str,
        row_count: int,
        contract_version: int,
        idempotency_key: str | None = None,
    ) -> DatasetVersionPublic:
        """Register a dataset version; the same content hash returns the existing one."""
        body = {
            "source": source,
            "snapshot_uri": snapshot_uri,
            "content_hash": content_hash,
            "row_count": row_count,
            "contract_version": contract_version,
        }
        # Deduplicated by content hash on the server, hence safe to retry even without a key.
        return self._post(
            DatasetVersionPublic,
            f"/projects/{project}/datasets",
            body,
            idempotency_key,
            idempotent=True,
        )

    def get_dataset(self, project: str, version: int) -> DatasetVersionPublic:
        """One dataset version."""
        return self._one(DatasetVersionPublic, "GET", f"/projects/{project}/datasets/{version}")

    def list_datasets(
        self,
        project: str,
        *,
        validation_status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[DatasetVersionPublic]:
        """Dataset versions, newest first, optionally of one validation status."""
        params = query(validation_status=validation_status, limit=limit, offset=offset)
        return self._many(DatasetVersionPublic, f"/projects/{project}/datasets", params)

    def record_validation(
        self,
        project: str,
        version: int,
        *,
        passed: bool,
        summary: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> DatasetVersionPublic:
        """Record whether a dataset version passed validation (a later result replaces it)."""
        return self._post(
            DatasetVersionPublic,
            f"/projects/{project}/datasets/{version}/validation",
            {"passed": passed, "summary": summary},
            idempotency_key,
            # Recording the same outcome twice leaves the same state: safe to retry.
            idempotent=True,
        )

    # -- models -------------------------------------------------------------------------

    def register_model(
        self,
        project: str,
        *,
        algorithm: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        artifact_uri: str,
        sha256: str,
        dataset_version: int,
        code_version: str,
        flow_run_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> ModelVersionPublic:
        """Register the project's next model version, trained by this client's principal.

        Without ``idempotency_key`` a random one is sent, so retries never duplicate it;
        pass a stable key (e.g. the flow run id) to make repeats of a whole run safe.
        """
        body = {
            "algorithm": algorithm,
            "params": params,
            "metrics": metrics,
            "artifact_uri": artifact_uri,
            "sha256": sha256,
            "dataset_version": dataset_version,
            "code_version": code_version,
            "flow_run_id": flow_run_id,
        }
        key = idempotency_key or str(uuid.uuid4())
        return self._post(ModelVersionPublic, f"/projects/{project}/models", body, key)

    def get_model(self, project: str, version: int) -> ModelVersionPublic:
        """One model version."""
        return self._one(ModelVersionPublic, "GET", f"/projects/{project}/models/{version}")

    def list_models(
        self,
        project: str,
        *,
        stage: str | None = None,
        algorithm: str | None = None,
        trained_by: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[ModelVersionPublic]:
        """Model versions, newest first, filtered (``stage``: the version holding it now)."""
        params = query(
            stage=stage,
            algorithm=algorithm,
            trained_by=trained_by,
            created_after=None if created_after is None else created_after.isoformat(),
            created_before=None if created_before is None else created_before.isoformat(),
            limit=limit,
            offset=offset,
        )
        return self._many(ModelVersionPublic, f"/projects/{project}/models", params)

    def lineage(self, project: str, version: int) -> ModelLineage:
        """What trained ``project@version``, its promotion requests and stage history."""
        return self._one(ModelLineage, "GET", f"/projects/{project}/models/{version}/lineage")

    # -- promotion ----------------------------------------------------------------------

    def request_promotion(
        self,
        project: str,
        model_version: int,
        *,
        stage: str = "production",
        comment: str = "",
        flow_run_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> PromotionRequestPublic:
        """Open a promotion request; check ``.status`` (``pending`` or ``blocked``).

        Args:
            flow_run_id: the Prefect flow run that waits on the request; governance
                resumes it (``run_input={"request_id": …}``) once the request is decided.
        """
        body = {
            "model_version": model_version,
            "stage": stage,
            "comment": comment,
            "flow_run_id": flow_run_id,
        }
        return self._post(
            PromotionRequestPublic,
            f"/projects/{project}/promotion-requests",
            body,
            idempotency_key,
        )

    def get_promotion_request(self, request_id: uuid.UUID | str) -> PromotionRequestPublic:
        """One promotion request with its checks and decisions."""
        return self._one(PromotionRequestPublic, "GET", f"/promotion-requests/{request_id}")

    def list_promotion_requests(
        self,
        project: str,
        status: str | None = None,
        *,
        stage: str | None = None,
        model_version: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[PromotionRequestPublic]:
        """A project's requests, newest first, optionally of one status, stage or model."""
        params = query(
            status=status, stage=stage, model_version=model_version, limit=limit, offset=offset
        )
        return self._many(PromotionRequestPublic, f"/projects/{project}/promotion-requests", params)

    def list_all_promotion_requests(
        self,
        *,
        status: str | None = None,
        project: str | None = None,
        stage: str | None = None,
        id_prefix: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[PromotionRequestPublic]:
        """Requests of every project, oldest first, optionally filtered (``id_prefix``:
        the first hex characters of the id, at least 4)."""
        params = query(
            status=status,
            project=project,
            stage=stage,
            id_prefix=id_prefix,
            limit=limit,
            offset=offset,
        )
        return self._many(PromotionRequestPublic, "/promotion-requests", params)

    def decide(
        self,
        request_id: uuid.UUID | str,
        decision: str,
        comment: str = "",
        *,
        if_match: int | str | None = None,
        idempotency_key: str | None = None,
    ) -> PromotionRequestPublic:
        """Approve or reject (approver). Returns the request as it stands afterwards.

        Args:
            if_match: the request's ``revision`` as read; if it changed since, the decision
                is refused with :class:`PreconditionFailed`.
        """
        headers = None if if_match is None else {"If-Match": f'"{str(if_match).strip(chr(34))}"'}
        return self._post(
            PromotionRequestPublic,
            f"/promotion-requests/{request_id}/decisions",
            {"decision": decision, "comment": comment},
            idempotency_key,
            headers=headers,
        )

    # -- stages -------------------------------------------------------------------------

    def current_stage(self, project: str, stage: str = "production") -> StageCurrentPublic | None:
        """What holds ``stage`` now (with its model version), or None if nothing does.

        Raises:
            NotFound: the project does not exist.
        """
        try:
            return self._one(StageCurrentPublic, "GET", f"/projects/{project}/stages/{stage}")
        except NotFound:
            self.get_project(project)  # raises NotFound when the project itself is missing
            return None

    def stage_history(
        self,
        project: str,
        stage: str | None = None,
        *,
        model_version: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[StageAssignmentPublic]:
        """Every assignment of the project, newest first, ended ones included."""
        params = query(stage=stage, model_version=model_version, limit=limit, offset=offset)
        return self._many(StageAssignmentPublic, f"/projects/{project}/stages", params)

    def rollback(
        self,
        project: str,
        stage: str = "production",
        *,
        comment: str = "",
        idempotency_key: str | None = None,
    ) -> RollbackPublic:
        """Give ``stage`` back to the model version that held it before (approver).

        Raises:
            Conflict: nothing holds the stage, or nothing held it before.
        """
        return self._post(
            RollbackPublic,
            f"/projects/{project}/stages/{stage}/rollback",
            {"comment": comment},
            idempotency_key,
        )

    # -- monitoring ---------------------------------------------------------------------

    def record_monitoring(
        self,
        project: str,
        *,
        model_version: int,
        drift_share: float,
        dataset_drift: bool,
        drifted_columns: list[str],
        report_uri: str | None = None,
        json_uri: str | None = None,
        details: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> MonitoringResultPublic:
        """Record a drift result for a model version (a breach is audited as an alert)."""
        body = {
            "model_version": model_version,
            "kind": "drift",
            "drift_share": drift_share,
            "dataset_drift": dataset_drift,
            "drifted_columns": drifted_columns,
            "report_uri": report_uri,
            "json_uri": json_uri,
            "details": details or {},
        }
        return self._post(
            MonitoringResultPublic, f"/projects/{project}/monitoring", body, idempotency_key
        )

    def list_monitoring(
        self,
        project: str,
        *,
        model_version: int | None = None,
        dataset_drift: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[MonitoringResultPublic]:
        """Monitoring results, newest first, optionally filtered."""
        params = query(
            model_version=model_version,
            dataset_drift=None if dataset_drift is None else str(dataset_drift).lower(),
            limit=limit,
            offset=offset,
        )
        return self._many(MonitoringResultPublic, f"/projects/{project}/monitoring", params)

    # -- alerts -------------------------------------------------------------------------

    def raise_alert(
        self,
        project: str,
        *,
        kind: str,
        detail: str,
        model_version: int | None = None,
        source: str = "",
        idempotency_key: str | None = None,
    ) -> AlertPublic:
        """Raise an alert approvers must see (e.g. ``model_load_failed``)."""
        body = {
            "kind": kind,
            "detail": detail,
            "model_version": model_version,
            "source": source,
        }
        return self._post(AlertPublic, f"/projects/{project}/alerts", body, idempotency_key)

    def list_alerts(
        self,
        project: str,
        *,
        kind: str | None = None,
        model_version: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[AlertPublic]:
        """A project's alerts, newest first."""
        params = query(kind=kind, model_version=model_version, limit=limit, offset=offset)
        return self._many(AlertPublic, f"/projects/{project}/alerts", params)

    # -- audit --------------------------------------------------------------------------

    def audit_events(
        self,
        after_seq: int = 0,
        limit: int = 1000,
        *,
        action: str | None = None,
        actor: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        offset: int = 0,
    ) -> Page[AuditEventPublic]:
        """Audit events after ``after_seq`` in chain order, optionally filtered."""
        params = query(
            after_seq=after_seq,
            limit=limit,
            action=action,
            actor=actor,
            entity_type=entity_type,
            entity_id=entity_id,
            offset=offset,
        )
        return self._many(AuditEventPublic, "/audit/events", params)

    def verify_audit(self) -> VerifyResult:
        """Recompute the audit chain on the server; ``first_broken`` names the first bad event."""
        return self._one(VerifyResult, "GET", "/audit/verify")
