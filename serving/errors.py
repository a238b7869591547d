"""The prediction server's refusals, a subtree of :class:`core.errors.MlgateError`.

::

    ServingError            serving_error     500  the server cannot answer
     ├── ProjectNotServed   not_found         404  the path names another project
     ├── NoModel            no_model          503  nothing in production (or it failed its checks)
     │    └── NotReady      no_model          503  the same, asked by a readiness probe
     ├── BodyTooLarge       body_too_large    413  the body is over MLGATE_SERVE_MAX_BODY_BYTES
     ├── EmptyBody          empty_body        400  a prediction request without a body
     ├── InvalidJson        invalid_json      400  the body is not JSON
     ├── RequestInvalid     invalid_request   422  a record does not fit the contract
     ├── ActualsInvalid     invalid_request   422  an actual that cannot be stored
     ├── LogFull            log_full          503  the prediction log cannot keep up (retryable)
     ├── ScoringFailed      scoring_failed    500  the model raised while scoring
     └── Unauthenticated    unauthenticated   401  missing or wrong serving token

Routes raise these; the app's one handler renders them as problem details
(:func:`core.errors.error_problem`) with the headers of :meth:`ServingError.headers`.
``RequestInvalid`` adds ``errors``: one ``{"record", "field", "problem"}`` per problem.
The errors of loading a model and scoring with it belong to the scoring library
(:mod:`scoring.errors`). Messages name the object and what is wrong, never the content
of the data or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core import errors as core_errors
from core.errors import MlgateError

__all__ = [
    "ActualsInvalid",
    "BodyTooLarge",
    "EmptyBody",
    "InvalidJson",
    "LogFull",
    "NoModel",
    "NotReady",
    "Problem",
    "ProjectNotServed",
    "RequestInvalid",
    "ScoringFailed",
    "ServingError",
    "Unauthenticated",
]


class ServingError(MlgateError):
    """Base of every error the prediction server raises on purpose."""

    code: ClassVar[str] = "serving_error"
    title: ClassVar[str] = "Serving error"

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer to this error carries besides its body."""
        return {}


class ProjectNotServed(ServingError):
    """The path names a project this server does not serve."""

    code: ClassVar[str] = "not_found"
    status: ClassVar[int] = 404
    title: ClassVar[str] = "Not found"

    def __init__(self, project: str) -> None:
        super().__init__(f"project {project!r} is not served here")
        self.project = project


class NoModel(ServingError):
    """Nothing is in production yet, or the production model failed its checks."""

    code: ClassVar[str] = "no_model"
    status: ClassVar[int] = 503
    title: ClassVar[str] = "No model"
    retryable: ClassVar[bool] = True


class NotReady(NoModel):
    """No model is loaded, as a readiness probe is told."""

    title: ClassVar[str] = "Not ready"


class BodyTooLarge(ServingError):
    """The request body is larger than the server takes."""

    code: ClassVar[str] = "body_too_large"
    status: ClassVar[int] = 413
    title: ClassVar[str] = "Body too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


class EmptyBody(ServingError):
    """A prediction request without a body."""

    code: ClassVar[str] = "empty_body"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Empty body"

    def __init__(self) -> None:
        super().__init__("the request body is empty; send a JSON object")


class InvalidJson(ServingError):
    """The request body is not valid JSON; the message says where the parser stopped."""

    code: ClassVar[str] = "invalid_json"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Invalid JSON"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a prediction request: where (record, field) and what."""

    record: int | None
    field: str | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "field": self.field, "problem": self.problem}

    def text(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem


class RequestInvalid(ServingError):
    """A prediction request that does not fit the data contract; ``problems`` says where."""

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Invalid request"

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0].text()
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}")
        self.problems = problems

    def problem_extra(self) -> dict[str, Any]:
        return {"errors": [p.to_dict() for p in self.problems]}


class ActualsInvalid(ServingError):
    """Actuals that cannot be stored; the message names the actual and what is wrong.

    It shares ``invalid_request`` with :class:`RequestInvalid`: to a caller both are a
    request body the endpoint does not take.
    """

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Invalid request"


class LogFull(ServingError):
    """The prediction log has no room for the request's rows; nothing was scored."""

    code: ClassVar[str] = "log_full"
    status: ClassVar[int] = 503
    title: ClassVar[str] = "Prediction log full"
    retryable: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__("the prediction log cannot keep up; retry later")


class ScoringFailed(ServingError):
    """The model raised while scoring a request; the message names the model."""

    code: ClassVar[str] = "scoring_failed"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Scoring failed"


class Unauthenticated(ServingError, core_errors.Unauthenticated):
    """The request lacks the serving token, or carries another one."""

    code: ClassVar[str] = "unauthenticated"
    status: ClassVar[int] = 401
    title: ClassVar[str] = "Unauthenticated"

    def __init__(self) -> None:
        super().__init__("missing or wrong serving token (Authorization: Bearer …)")

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}
