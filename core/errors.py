"""The one error tree of mlgate: every error a package raises on purpose descends from here.

::

    MlgateError                  mlgate_error        500  the root: code, HTTP status, title
     ├── InternalError           internal_error      500  what a server answers for a bug of ours
     ├── NotFound                not_found           404  the named object does not exist
     ├── Conflict                conflict            409  the current state forbids it
     ├── InvalidInput            invalid_input       422  malformed or out-of-bounds input
     │    └── SpecError          invalid_spec        422  a project spec that cannot be used
     ├── PermissionDenied        permission_denied   403  role too low, separation of duties
     ├── Unauthenticated         unauthenticated     401  no credentials, or unknown ones
     ├── Unavailable             unavailable         503  a service cannot be reached (retryable)
     │
     ├── ConnectorError          (connectors.errors)   sources, stores, secrets
     ├── governance errors       (governance.errors)   preconditions, idempotency, the chain
     ├── ScoringError            (scoring.errors)      model format, scoring, prediction log
     ├── ServingError            (serving.errors)      the prediction server's refusals
     ├── MonitoringError         (monitoring.errors)   actuals, monitoring windows
     └── PipelineError           (flows.errors)        a flow step that ends the run

Every class carries a stable ``code`` (problem details, logs, the client's mapping back
to a class), the HTTP ``status`` a server answers it with, a ``title`` and whether a
retry can help (``retryable``). :func:`problem_details` renders any of them as RFC 9457
problem details; each server has exactly one handler that uses it. Messages name the
object and what is wrong, never a secret: ``model version credit-risk@7 not found``.

A dependency's own exceptions (botocore, hvac, the Snowflake connector, httpx) are
translated into this tree in one place per dependency, ``raise … from exc``; tests walk
every exception class each dependency exports through its translator.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "PROBLEM_JSON",
    "Conflict",
    "InternalError",
    "InvalidInput",
    "MlgateError",
    "NotFound",
    "PermissionDenied",
    "SpecError",
    "Unauthenticated",
    "Unavailable",
    "error_problem",
    "problem_details",
]

PROBLEM_JSON = "application/problem+json"


class MlgateError(Exception):
    """Root of every mlgate error: a message plus a stable ``code`` and an HTTP ``status``."""

    code: ClassVar[str] = "mlgate_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def problem_extra(self) -> dict[str, Any]:
        """Further members of this error's problem details (e.g. the fields at fault)."""
        return {}


class InternalError(MlgateError):
    """An unexpected failure, as a server answers it: the details go to its log only."""

    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"


class NotFound(MlgateError):
    """The named object does not exist."""

    code: ClassVar[str] = "not_found"
    status: ClassVar[int] = 404
    title: ClassVar[str] = "Not found"


class Conflict(MlgateError):
    """The current state forbids the operation (duplicate, already decided, expired...)."""

    code: ClassVar[str] = "conflict"
    status: ClassVar[int] = 409
    title: ClassVar[str] = "Conflict"


class InvalidInput(MlgateError):
    """The input is malformed or a value is out of bounds; the message names which."""

    code: ClassVar[str] = "invalid_input"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Invalid input"


class SpecError(InvalidInput):
    """A project spec that cannot be used; the message names the file and the field."""

    code: ClassVar[str] = "invalid_spec"
    title: ClassVar[str] = "Invalid project spec"


class PermissionDenied(MlgateError):
    """The caller is known but may not do this (role too low, separation of duties)."""

    code: ClassVar[str] = "permission_denied"
    status: ClassVar[int] = 403
    title: ClassVar[str] = "Permission denied"


class Unauthenticated(MlgateError):
    """No credentials, or credentials that are unknown, expired or revoked."""

    code: ClassVar[str] = "unauthenticated"
    status: ClassVar[int] = 401
    title: ClassVar[str] = "Unauthenticated"


class Unavailable(MlgateError):
    """A service mlgate depends on cannot be reached now; a later retry may succeed."""

    code: ClassVar[str] = "unavailable"
    status: ClassVar[int] = 503
    title: ClassVar[str] = "Unavailable"
    retryable: ClassVar[bool] = True


def problem_details(
    *, status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    """An RFC 9457 problem-details body with mlgate's stable ``code``.

    Args:
        instance: the request path the problem is about.
        extra: further members, e.g. ``errors=[{"field": …, "message": …}]``.
    """
    return {
        "type": f"urn:mlgate:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        **extra,
    }


def error_problem(exc: MlgateError, instance: str) -> dict[str, Any]:
    """The problem-details body of one of our errors."""
    return problem_details(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.message,
        instance=instance,
        **exc.problem_extra(),
    )
