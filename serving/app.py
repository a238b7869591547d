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
    stored before the 201 answer (:mod:`serving.actuals`).
``GET /healthz`` (alive), ``GET /readyz`` (a model is loaded), ``GET /metrics``
(Prometheus), ``GET /api/v1/projects/{project}/model`` (what is served).

Routes raise the errors of :mod:`serving.errors`; one handler renders every
:class:`core.errors.MlgateError` and counts it in the endpoint's request and error
metrics. The project routes need the serving token when one is set (:mod:`serving.auth`).

Each request takes the model handle that is current when it starts and is scored,
labelled and logged with that handle only (see :mod:`serving.registry`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.store import ArtifactStore, open_store
from core import offline
from core.errors import PROBLEM_JSON, InternalError, MlgateError, error_problem
from core.settings import read_settings
from core.spec import ProjectSpec
from scoring.batch import THRESHOLD, new_prediction_ids
from scoring.predlog import PREDICTIONS, LogIndex, log_schema
from serving.actuals import parse_actuals, store_actuals
from serving.auth import ServingToken, governance_token
from serving.batcher import MicroBatcher
from serving.body import parse_json, read_body
from serving.errors import (
    EmptyBody,
    LogFull,
    NoModel,
    NotReady,
    ProjectNotServed,
    ScoringFailed,
    ServingError,
)
from serving.logwriter import LogBatch, PredictionLogWriter
from serving.metrics import ServerMetrics
from serving.registry import ModelHandle, ModelWatcher
from serving.settings import ServeSettings
from serving.validation import RequestValidator, ValidatedBatch

__all__ = ["DEFAULT_STORE", "create_app"]

log = logging.getLogger("mlgate.serving")
DEFAULT_STORE = ".mlgate/artifacts"
# The endpoints whose answers mlgate_requests counts, errors included.
_COUNTED_ENDPOINTS = frozenset({"predict", "actuals"})


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
        self.token = ServingToken(settings.serve_token)

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

    def check_project(self, project: str) -> None:
        """Raises ProjectNotServed unless ``project`` is the one served here."""
        if project != self.project:
            raise ProjectNotServed(project)

    def no_model_detail(self, when: str) -> str:
        """Why nothing can be scored: no production model, and the last load error if any."""
        detail = f"no production model for {self.project} {when}"
        if self.watcher.last_error:
            detail += f" ({self.watcher.last_error})"
        return detail

    # -- predict ------------------------------------------------------------------------

    async def predict(self, project: str, request: Request) -> Response:
        """Score a request's records with the model current at its start, log and answer.

        Raises:
            ServingError: one of the refusals in :mod:`serving.errors`.
        """
        started = time.perf_counter()
        self.check_project(project)
        handle = self.watcher.current  # the one model this request will use
        if handle is None:
            raise NoModel(self.no_model_detail("yet"))
        body = await read_body(request, self.settings.serve_max_body_bytes)
        if not body.strip():
            raise EmptyBody()
        batch = self.validator.validate(parse_json(body))
        assert self.log is not None
        if not await self.log.reserve(batch.rows, self.settings.serve_log_wait_s):
            raise LogFull()
        try:
            scores = await self.batcher.score(handle, batch)
        except Exception as exc:
            self.log.release(batch.rows)
            log.exception("scoring with %s failed", handle.label)
            raise ScoringFailed(
                f"model {handle.label} failed to score: {type(exc).__name__}"
            ) from exc
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
        batch: ValidatedBatch,
        handle: ModelHandle,
        ids: list[str],
        scores: np.ndarray,
        labels: np.ndarray,
        now: datetime,
        latency_ms: float,
    ) -> LogBatch:
        columns: dict[str, object] = dict(batch.columns)
        if self.contract.id_column and batch.ids is not None:
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
        batch: ValidatedBatch,
        handle: ModelHandle,
        ids: list[str],
        scores: np.ndarray,
        labels: np.ndarray,
    ) -> bytes:
        score_list = scores.tolist()
        label_list = labels.tolist()
        if self.contract.id_column and batch.ids is not None:
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

    async def actuals(self, project: str, request: Request) -> Response:
        """Store the actuals of a request; answers how many were accepted.

        Raises:
            ServingError: one of the refusals in :mod:`serving.errors`.
        """
        self.check_project(project)
        body = await read_body(request, self.settings.serve_max_body_bytes)
        actuals = parse_actuals(parse_json(body), self.contract)
        await run_in_threadpool(store_actuals, self.store, self.project, actuals)
        accepted = len(actuals.prediction_ids)
        self.metrics.actuals.inc(accepted)
        self.metrics.requests.labels("actuals", "201").inc()
        return Response(
            orjson.dumps({"accepted": accepted}), status_code=201, media_type="application/json"
        )

    # -- status -------------------------------------------------------------------------

    def model_info(self, handle: ModelHandle | None) -> dict[str, object]:
        """What is served (the JSON of ``GET …/model``)."""
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
    settings = settings or read_settings(ServeSettings)
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

    async def render_error(request: Request, exc: Exception) -> Response:
        """The one rendering of our errors: problem details, counted per endpoint."""
        assert isinstance(exc, MlgateError)
        endpoint = getattr(request.scope.get("route"), "name", None)
        if endpoint in _COUNTED_ENDPOINTS:
            server.metrics.requests.labels(endpoint, str(exc.status)).inc()
            server.metrics.errors.labels(endpoint, exc.code).inc()
        return Response(
            orjson.dumps(error_problem(exc, request.url.path)),
            status_code=exc.status,
            media_type=PROBLEM_JSON,
            headers=exc.headers() if isinstance(exc, ServingError) else None,
        )

    async def render_unexpected(request: Request, exc: Exception) -> Response:
        """Anything else is a bug of ours: problem details without internals (the server
        logs the traceback)."""
        return await render_error(request, InternalError("internal server error"))

    app.add_exception_handler(MlgateError, render_error)
    app.add_exception_handler(Exception, render_unexpected)

    @app.post("/api/v1/projects/{project}/predict", response_model=None, name="predict")
    async def predict(project: str, request: Request) -> Response:
        """Score one record or many with the production model."""
        server.token.check(request)
        return await server.predict(project, request)

    @app.post("/api/v1/projects/{project}/actuals", response_model=None, name="actuals")
    async def actuals(project: str, request: Request) -> Response:
        """Store ground truth for earlier predictions."""
        server.token.check(request)
        return await server.actuals(project, request)

    @app.get("/api/v1/projects/{project}/model", response_model=None, name="model")
    async def model(project: str, request: Request) -> Response:
        """The model served now."""
        server.token.check(request)
        server.check_project(project)
        info = server.model_info(server.watcher.current)
        return Response(orjson.dumps(info), media_type="application/json")

    @app.get("/healthz", response_model=None, name="healthz")
    async def healthz() -> Response:
        """The process is alive."""
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/readyz", response_model=None, name="readyz")
    async def readyz() -> Response:
        """A production model is loaded and requests can be scored."""
        handle = server.watcher.current
        if handle is None:
            raise NotReady(server.no_model_detail("loaded yet"))
        info = {"status": "ready", **server.model_info(handle)}
        return Response(orjson.dumps(info), media_type="application/json")

    @app.get("/metrics", response_model=None, name="metrics")
    async def metrics() -> Response:
        """Prometheus metrics."""
        if server.log is not None:
            server.metrics.log_buffered.set(server.log.buffered_rows)
        return Response(generate_latest(server.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
