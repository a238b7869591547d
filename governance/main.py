"""The FastAPI application: routers, problem-details rendering, start-up checks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from core import offline
from core.errors import PROBLEM_JSON, InternalError, problem_details
from governance import __version__
from governance.api.deps import authorize, refuse_nul
from governance.api.intake import Intake
from governance.api.permissions import API_PREFIX, matrix_mismatches, required_role
from governance.api.routes import api_router
from governance.config import Settings, get_settings
from governance.db import POOL_SIZE, RequestGate, create_db_engine
from governance.errors import MlgateError
from governance.migrations import upgrade as migrate
from governance.services.resume import ResumeNotifier
from governance.services.sweeper import ExpirySweeper
from governance.store.idempotency import Replay

__all__ = ["PROBLEM_JSON", "api_routes", "create_app", "problem"]

log = logging.getLogger("governance")

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Unauthenticated"),
    403: ("permission_denied", "Permission denied"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    422: ("invalid_input", "Invalid input"),
}


def problem(
    request: Request, status: int, code: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    """An RFC 9457 problem-details response (the body from :func:`core.errors.problem_details`)."""
    body = problem_details(
        status=status, code=code, title=title, detail=detail, instance=request.url.path, **extra
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _mlgate_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MlgateError)
    return problem(request, exc.status, exc.code, exc.title, exc.message, **exc.problem_extra())


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": str(err.get("msg"))}
        for err in exc.errors()
    ]
    detail = "invalid request: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(request, 422, "invalid_input", "Invalid input", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    return problem(request, exc.status_code, code, title, detail)


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    return Response(
        exc.body,
        status_code=exc.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log; the caller learns nothing about internals.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return await _mlgate_error(request, InternalError("internal server error"))


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every ``(method, path template)`` the app serves under the API prefix."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(API_PREFIX)
        for method in operations
    ]


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details with a stable error code",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_PROBLEMS = {
    "400": "malformed request (a body that cannot be parsed)",
    "401": "no valid API token",
    "403": "role too low, or separation of duties",
    "404": "the named object does not exist",
    "405": "method not allowed",
    "409": "the current state forbids it",
    "412": "If-Match names a stale revision",
    "413": "the request body is over the service's limit",
    "422": "invalid input (the parameter or field is named)",
    "428": "If-Match is required",
}


def _document_problems(app: FastAPI) -> None:
    """Declare the problem-details answers of every operation in the OpenAPI document."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = base()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
        ref = {"$ref": "#/components/schemas/Problem"}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                try:
                    guarded = required_role(method, path) is not None
                except KeyError:
                    guarded = True
                responses = operation.setdefault("responses", {})
                for code, text in _PROBLEMS.items():
                    if code == "401" and not guarded:
                        continue
                    responses[code] = {
                        "description": text,
                        "content": {PROBLEM_JSON: {"schema": ref}},
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


DOCS_ASSETS = "/docs/assets"


def _serve_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the assets installed with mlgate (swagger-ui-bundle-v2):
    an air-gapped install shows the same page, and an operator's browser calls nowhere."""

    async def docs(request: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="mlgate governance — API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.add_route("/docs", docs, include_in_schema=False)
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the governance app for ``settings`` (default: from the environment).

    Creates missing tables, and refuses to start when a route is missing from the role
    matrix. While it runs, the server expires overdue promotion requests in the
    background and resumes the flow runs waiting on decided ones.
    """
    offline.apply()
    settings = settings or get_settings()
    engine = create_db_engine(settings.database_url, echo=settings.echo_sql)
    migrate(engine)
    notifier = ResumeNotifier(engine, settings.prefect_api_url, settings.resume_attempts)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sweeper = ExpirySweeper(
            engine,
            notifier,
            settings.expiry_sweep_seconds,
            timedelta(hours=settings.idempotency_retention_hours),
        )
        sweeper.start()
        try:
            yield
        finally:
            sweeper.stop()
            notifier.close()
            engine.dispose()

    app = FastAPI(
        title="mlgate governance",
        version=__version__,
        description="Projects, model versions, promotion requests with approvals, stage "
        "assignments and a tamper-evident audit trail.",
        docs_url=None,  # served below from local assets: nothing loads from a CDN
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        lifespan=lifespan,
        # The role matrix is enforced for every route, so none can ship unguarded.
        # NUL characters are refused up front: no column can hold them.
        dependencies=[Depends(authorize), Depends(refuse_nul)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.locations = settings.locations()
    # The request's session, its body limit, and a token before a write's body is read;
    # inside the gate, so no more requests hold a session than there are connections.
    app.add_middleware(
        Intake, engine=engine, max_body_bytes=settings.max_body_bytes, api_prefix=API_PREFIX
    )
    # No more requests inside than database connections (see governance.db.RequestGate).
    app.add_middleware(RequestGate, limit=POOL_SIZE)
    app.state.notifier = notifier
    app.include_router(api_router)
    _serve_docs(app)
    _document_problems(app)
    app.add_exception_handler(Replay, _replay)
    app.add_exception_handler(MlgateError, _mlgate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

    mismatches = matrix_mismatches(api_routes(app))
    if mismatches:
        raise RuntimeError("role matrix out of date: " + "; ".join(mismatches))
    return app
