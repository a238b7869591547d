"""The prediction server: a FastAPI app serving one project's production model.

Endpoints (all JSON; errors are ``application/problem+json`` with a stable ``code``):

``POST /api/v1/projects/{project}/predict``
    One record (a JSON object of features) or many (``{"records": [...]}``). Answers
    ``{"project", "model_version": "p@N", "version": N, "predictions": [{"prediction_id",
    "score", "label", <id column>}]}``, one prediction per record in order.
    400 empty body or invalid JSON, 413 body over the limit, 422 a record that does not
    fit the contract (``errors`` lists record, field, problem), 503 no production
    model yet or the prediction log is full.
``POST /api/v1/projects/{project}/actuals``
    ``{"actuals": [{"prediction_id": ..., "actual": ...}]}`` (or one such object);
    stored before the 201 answer.
``GET /healthz`` (alive), ``GET /readyz`` (a model is loaded), ``GET /metrics``
(Prometheus), ``GET /api/v1/projects/{project}/model`` (what is served).

Each request takes the model handle that is current when it starts and is scored,
labelled and logged with that handle only (see :mod:`serving.registry`).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from connectors.secrets import resolve_secret
from connectors.store import ArtifactStore, open_store
from core import offline
from core.spec import ProjectSpec
from scoring.batch import THRESHOLD, new_prediction_ids
from scoring.predlog import ACTUALS_SCHEMA, PREDICTIONS, LogIndex, log_schema, write_actuals
from serving.batcher import MicroBatcher
from serving.logwriter import LogBatch, PredictionLogWriter
from serving.metrics import ServerMetrics
from serving.registry import ModelHandle, ModelWatcher
from serving.settings import ServeSettings
from serving.validation import RequestInvalid, RequestValidator

__all__ = ["DEFAULT_STORE", "PROBLEM_JSON", "create_app", "governance_token"]

log = logging.getLogger("mlgate.serving")
PROBLEM_JSON = "application/problem+json"
DEFAULT_STORE = ".mlgate/artifacts"
_PREDICTION_ID = re.compile(r"[0-9a-f]{32}")
_MAX_ACTUALS = 100_000


class _TooLarge(Exception):
    pass


def _secret_value(value: SecretStr | None) -> str:
    """A setting's value, or the secret it refers to (``env://…``, ``vault://…``)."""
    if value is None:
        return ""
    raw = value.get_secret_value()
    if re.match(r"^[a-z][a-z0-9+.-]*://", raw):
        return resolve_secret(raw).get_secret_value()
    return raw


def governance_token(settings: ServeSettings) -> str:
    """The governance token: the value of ``MLGATE_TOKEN`` or the secret it refers to."""
    return _secret_value(settings.token)


def problem(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> Response:
    """An RFC 9457 problem-details response."""
    body = {
        "type": f"urn:mlgate:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        **extra,
    }
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class _Server:
    """The state of one running app: model watcher, batcher, log writer, metrics."""

    def __init__(self, spec: ProjectSpec, settings: ServeSettings, store: ArtifactStore) -> None:
        from governance.client import GovernanceClient

        self.spec = spec
        self.settings = settings
        self.store = store
        self.project = spec.name
        self.contract = spec.contract
        self.metrics = ServerMetrics()
        self.validator = RequestValidator(spec.contract, max_records=settings.serve_max_records)
        self.schema = log_schema(spec.contract)
        # Refuse at start-up a store the prediction log cannot be written to.
        LogIndex(store, PREDICTIONS)
        self.client = GovernanceClient(
            settings.governance_url, governance_token(settings), timeout=10.0
        )
        self.watcher = ModelWatcher(
            self.client,
            store,
            self.project,
            list(spec.contract.features),
            poll_s=settings.serve_poll_interval_s,
            on_change=self._on_model,
        )
        self.batcher = MicroBatcher(
            max_rows=settings.serve_batch_max_rows,
            wait_ms=settings.serve_batch_wait_ms,
            on_batch=self._on_batch,
            inline=settings.serve_predict_inline,
        )
        self.log: PredictionLogWriter | None = None
        self.metrics.model_version.labels(self.project).set(0)
        expected = _secret_value(settings.serve_token)
        self._token = expected.encode("utf-8") if expected else None
        if self._token is None:
            log.warning(
                "MLGATE_SERVE_TOKEN is not set: anyone who can reach this server can score "
                "records and send actuals"
            )

    def authorized(self, request: Request) -> bool:
        """Whether the request carries the serving token (always, when none is set)."""
        if self._token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8"), self._token
        )

    def _on_model(self, handle: ModelHandle | None) -> None:
        self.metrics.model_swaps.inc()
        self.metrics.model_version.labels(self.project).set(handle.version if handle else 0)
        self.metrics.model_info.info(
            {"project": self.project, "version": handle.label, "sha256": handle.sha256}
            if handle
            else {"project": self.project, "version": "", "sha256": ""}
        )

    def _on_batch(self, requests: int, rows: int) -> None:
        self.metrics.batch_requests.observe(requests)
        self.metrics.batch_rows.observe(rows)

    async def start(self) -> None:
        self.log = PredictionLogWriter(
            self.store,
            self.project,
            self.schema,
            capacity_rows=self.settings.serve_log_capacity_rows,
            flush_rows=self.settings.serve_log_flush_rows,
            flush_s=self.settings.serve_log_flush_s,
            on_written=self.metrics.log_written.inc,
        )
        self.batcher.start()
        self.watcher.start()

    async def stop(self) -> None:
        self.watcher.stop()
        await self.batcher.stop()
        if self.log is not None:
            await run_in_threadpool(self.log.close)
            if self.log.unwritten_rows:
                log.error("prediction log: %d rows lost at shutdown", self.log.unwritten_rows)
        self.client.close()

    # -- predict ------------------------------------------------------------------------

    def _fail(
        self,
        endpoint: str,
        status: int,
        code: str,
        title: str,
        detail: str,
        path: str,
        **extra: Any,
    ) -> Response:
        self.metrics.requests.labels(endpoint, str(status)).inc()
        self.metrics.errors.labels(endpoint, code).inc()
        return problem(status, code, title, detail, path, **extra)

    async def predict(self, project: str, request: Request) -> Response:
        started = time.perf_counter()
        path = request.url.path
        if project != self.project:
            return self._fail(
                "predict",
                404,
                "not_found",
                "Not found",
                f"project {project!r} is not served here",
                path,
            )
        handle = self.watcher.current  # the one model this request will use
        if handle is None:
            detail = f"no production model for {self.project} yet"
            if self.watcher.last_error:
                detail += f" ({self.watcher.last_error})"
            return self._fail("predict", 503, "no_model", "No model", detail, path)
        try:
            body = await _read_body(request, self.settings.serve_max_body_bytes)
        except _TooLarge:
            return self._fail(
                "predict",
                413,
                "body_too_large",
                "Body too large",
                f"request body exceeds {self.settings.serve_max_body_bytes} bytes",
                path,
            )
        if not body.strip():
            return self._fail(
                "predict",
                400,
                "empty_body",
                "Empty body",
                "the request body is empty; send a JSON object",
                path,
            )
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return self._fail(
                "predict",
                400,
                "invalid_json",
                "Invalid JSON",
                f"the request body is not valid JSON: {exc}",
                path,
            )
        try:
            batch = self.validator.validate(parsed)
        except RequestInvalid as exc:
            return self._fail(
                "predict",
                422,
                "invalid_request",
                "Invalid request",
                exc.message,
                path,
                errors=[p.to_dict() for p in exc.problems],
            )
        assert self.log is not None
        if not await self.log.reserve(batch.rows, self.settings.serve_log_wait_s):
            return self._fail(
                "predict",
                503,
                "log_full",
                "Prediction log full",
                "the prediction log cannot keep up; retry later",
                path,
            )
        try:
            scores = await self.batcher.score(handle, batch)
        except Exception as exc:
            self.log.release(batch.rows)
            log.exception("scoring with %s failed", handle.label)
            return self._fail(
                "predict",
                500,
                "scoring_failed",
                "Scoring failed",
                f"model {handle.label} failed to score: {type(exc).__name__}",
                path,
            )
        n = batch.rows
        ids = new_prediction_ids(n)
        labels = (scores >= THRESHOLD).astype(np.int64)
        now = datetime.now(UTC)
        latency_ms = (time.perf_counter() - started) * 1000.0
        self.log.put(self._log_batch(batch, handle, ids, scores, labels, now, latency_ms))
        out = self._response(batch, handle, ids, scores, labels)
        self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.requests.labels("predict", "200").inc()
        self.metrics.records.inc(n)
        return Response(out, media_type="application/json")

    def _log_batch(
        self,
        batch: Any,
        handle: ModelHandle,
        ids: list[str],
        scores: np.ndarray,
        labels: np.ndarray,
        now: datetime,
        latency_ms: float,
    ) -> LogBatch:
        columns: dict[str, Any] = dict(batch.columns)
        if self.contract.id_column:
            columns[self.contract.id_column] = [None if v is None else str(v) for v in batch.ids]
        columns.update(
            prediction_id=ids,
            score=scores,
            label=labels,
            model_version=handle.label,
            version=handle.version,
            predicted_at=now,
            latency_ms=latency_ms,
            source="api",
        )
        return LogBatch(columns=columns, rows=batch.rows)

    def _response(
        self,
        batch: Any,
        handle: ModelHandle,
        ids: list[str],
        scores: np.ndarray,
        labels: np.ndarray,
    ) -> bytes:
        score_list = scores.tolist()
        label_list = labels.tolist()
        if self.contract.id_column:
            key = self.contract.id_column
            predictions = [
                {"prediction_id": p, "score": s, "label": lab, key: i}
                for p, s, lab, i in zip(ids, score_list, label_list, batch.ids, strict=True)
            ]
        else:
            predictions = [
                {"prediction_id": p, "score": s, "label": lab}
                for p, s, lab in zip(ids, score_list, label_list, strict=True)
            ]
        return orjson.dumps(
            {
                "project": self.project,
                "model_version": handle.label,
                "version": handle.version,
                "predictions": predictions,
            }
        )

    # -- actuals ------------------------------------------------------------------------

    def _actuals_rows(self, parsed: Any) -> tuple[list[str], list[float]]:
        items = (
            parsed.get("actuals") if isinstance(parsed, dict) and "actuals" in parsed else [parsed]
        )
        if not isinstance(items, list) or not items:
            raise ValueError("'actuals' must be a non-empty array")
        if len(items) > _MAX_ACTUALS:
            raise ValueError(f"at most {_MAX_ACTUALS} actuals per request")
        target = self.contract.column(self.contract.target)
        allowed = set(target.allowed) if target.allowed is not None else None
        ids: list[str] = []
        values: list[float] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or set(item) != {"prediction_id", "actual"}:
                raise ValueError(f"actual {i}: must be an object with prediction_id and actual")
            pid, value = item["prediction_id"], item["actual"]
            if not isinstance(pid, str) or not _PREDICTION_ID.fullmatch(pid):
                raise ValueError(f"actual {i}: prediction_id must be 32 lowercase hex digits")
            if type(value) not in (int, float, bool) or (
                allowed is not None and value not in allowed
            ):
                shown = f"one of {sorted(allowed, key=str)}" if allowed is not None else "a number"
                raise ValueError(f"actual {i}: actual must be {shown}, got {value!r}")
            ids.append(pid)
            values.append(float(value))
        return ids, values

    async def actuals(self, project: str, request: Request) -> Response:
        path = request.url.path
        if project != self.project:
            return self._fail(
                "actuals",
                404,
                "not_found",
                "Not found",
                f"project {project!r} is not served here",
                path,
            )
        try:
            body = await _read_body(request, self.settings.serve_max_body_bytes)
        except _TooLarge:
            return self._fail(
                "actuals",
                413,
                "body_too_large",
                "Body too large",
                f"request body exceeds {self.settings.serve_max_body_bytes} bytes",
                path,
            )
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return self._fail(
                "actuals",
                400,
                "invalid_json",
                "Invalid JSON",
                f"the request body is not valid JSON: {exc}",
                path,
            )
        try:
            ids, values = self._actuals_rows(parsed)
        except ValueError as exc:
            return self._fail("actuals", 422, "invalid_request", "Invalid request", str(exc), path)
        now = datetime.now(UTC)
        table = pa.table(
            {"prediction_id": ids, "actual": values, "received_at": [now] * len(ids)},
            schema=ACTUALS_SCHEMA,
        )
        await run_in_threadpool(write_actuals, self.store, self.project, table)
        self.metrics.actuals.inc(len(ids))
        self.metrics.requests.labels("actuals", "201").inc()
        return Response(
            orjson.dumps({"accepted": len(ids)}), status_code=201, media_type="application/json"
        )

    # -- status -------------------------------------------------------------------------

    def model_info(self) -> dict[str, Any]:
        handle = self.watcher.current
        if handle is None:
            return {
                "project": self.project,
                "model_version": None,
                "error": self.watcher.last_error,
            }
        return {
            "project": self.project,
            "model_version": handle.label,
            "version": handle.version,
            "sha256": handle.sha256,
            "algorithm": handle.algorithm,
            "loaded_at": handle.loaded_at.isoformat(),
        }


def create_app(
    spec: ProjectSpec, settings: ServeSettings | None = None, *, store: ArtifactStore | None = None
) -> FastAPI:
    """The prediction server of ``spec``'s project.

    Args:
        spec: the project (its name and data contract).
        settings: server settings (default: from ``MLGATE_*`` variables).
        store: the artifact store (default: ``settings.store`` or ``.mlgate/artifacts``).
    """
    offline.apply()
    settings = settings or ServeSettings()
    store = store or open_store(settings.store or DEFAULT_STORE)
    server = _Server(spec, settings, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    app = FastAPI(
        title=f"mlgate prediction server: {spec.name}",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.server = server

    def refused(request: Request) -> Response | None:
        # The project routes need the serving token; health, readiness and metrics do not.
        if server.authorized(request):
            return None
        response = problem(
            401,
            "unauthenticated",
            "Unauthenticated",
            "missing or wrong serving token (Authorization: Bearer …)",
            request.url.path,
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.post("/api/v1/projects/{project}/predict", response_model=None)
    async def predict(project: str, request: Request) -> Response:
        """Score one record or many with the production model."""
        return refused(request) or await server.predict(project, request)

    @app.post("/api/v1/projects/{project}/actuals", response_model=None)
    async def actuals(project: str, request: Request) -> Response:
        """Store ground truth for earlier predictions."""
        return refused(request) or await server.actuals(project, request)

    @app.get("/api/v1/projects/{project}/model", response_model=None)
    async def model(project: str, request: Request) -> Response:
        """The model served now."""
        denied = refused(request)
        if denied is not None:
            return denied
        if project != server.project:
            return problem(
                404,
                "not_found",
                "Not found",
                f"project {project!r} is not served here",
                request.url.path,
            )
        return Response(orjson.dumps(server.model_info()), media_type="application/json")

    @app.get("/healthz", response_model=None)
    async def healthz() -> Response:
        """The process is alive."""
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/readyz", response_model=None)
    async def readyz(request: Request) -> Response:
        """A production model is loaded and requests can be scored."""
        info = server.model_info()
        if info["model_version"] is None:
            detail = f"no production model for {server.project} loaded yet"
            if info.get("error"):
                detail += f" ({info['error']})"
            return problem(503, "no_model", "Not ready", detail, request.url.path)
        return Response(orjson.dumps({"status": "ready", **info}), media_type="application/json")

    @app.get("/metrics", response_model=None)
    async def metrics() -> Response:
        """Prometheus metrics."""
        if server.log is not None:
            server.metrics.log_buffered.set(server.log.buffered_rows)
        return Response(generate_latest(server.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
