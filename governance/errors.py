"""The errors governance raises, on the server and in its client.

::

    MlgateError             mlgate_error            500
     ├── NotFound           not_found               404  the named object does not exist
     ├── Conflict           conflict                409  state forbids it (duplicate, not pending)
     │    └── SecretNotReplayable  secret_not_replayable  409  replay would need a shown-once token
     ├── InvalidInput       invalid_input           422  malformed or out-of-bounds request
     │    └── IdempotencyKeyReused  idempotency_key_reused  422  same key, different request
     ├── PreconditionFailed precondition_failed     412  If-Match names a stale revision
     ├── PreconditionRequired  precondition_required  428  the update needs If-Match
     ├── PermissionDenied   permission_denied       403  role too low, or separation of duties
     ├── Unauthenticated    unauthenticated         401  no token, or unknown/expired/revoked
     └── GovernanceUnavailable  governance_unavailable  503  (client) service cannot be reached

The server renders each of them once as RFC 9457 problem details
(``application/problem+json``); :mod:`governance.client` maps problem details back to the
same classes by ``code``. Messages name the object and what is wrong, never a secret:
``model version credit-risk@7 not found``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ERRORS_BY_CODE",
    "Conflict",
    "GovernanceUnavailable",
    "IdempotencyKeyReused",
    "InvalidInput",
    "MlgateError",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "PreconditionRequired",
    "SecretNotReplayable",
    "Unauthenticated",
]


class MlgateError(Exception):
    """Base of every governance error; ``code`` is stable, ``status`` is the HTTP status."""

    code: ClassVar[str] = "mlgate_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    """The request is malformed or a value is out of bounds."""

    code: ClassVar[str] = "invalid_input"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Invalid input"


class IdempotencyKeyReused(InvalidInput):
    """An ``Idempotency-Key`` was already used by this principal for a different request."""

    code: ClassVar[str] = "idempotency_key_reused"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Idempotency key reused"


class SecretNotReplayable(Conflict):
    """A repeated request whose first answer held a token, which is never stored."""

    code: ClassVar[str] = "secret_not_replayable"
    status: ClassVar[int] = 409
    title: ClassVar[str] = "Secret not replayable"


class PreconditionFailed(MlgateError):
    """``If-Match`` names a revision older than the resource's current one."""

    code: ClassVar[str] = "precondition_failed"
    status: ClassVar[int] = 412
    title: ClassVar[str] = "Precondition failed"


class PreconditionRequired(MlgateError):
    """An update that must say which revision it replaces (``If-Match``) did not."""

    code: ClassVar[str] = "precondition_required"
    status: ClassVar[int] = 428
    title: ClassVar[str] = "Precondition required"


class PermissionDenied(MlgateError):
    """The caller is known but may not do this (role too low, separation of duties)."""

    code: ClassVar[str] = "permission_denied"
    status: ClassVar[int] = 403
    title: ClassVar[str] = "Permission denied"


class Unauthenticated(MlgateError):
    """No token, or a token that is unknown, expired or revoked."""

    code: ClassVar[str] = "unauthenticated"
    status: ClassVar[int] = 401
    title: ClassVar[str] = "Unauthenticated"


class GovernanceUnavailable(MlgateError):
    """Client side: the governance service cannot be reached (connection refused, timeout)."""

    code: ClassVar[str] = "governance_unavailable"
    status: ClassVar[int] = 503
    title: ClassVar[str] = "Governance unavailable"


ERRORS_BY_CODE: dict[str, type[MlgateError]] = {
    cls.code: cls
    for cls in (
        MlgateError,
        NotFound,
        Conflict,
        InvalidInput,
        IdempotencyKeyReused,
        SecretNotReplayable,
        PreconditionFailed,
        PreconditionRequired,
        PermissionDenied,
        Unauthenticated,
        GovernanceUnavailable,
    )
}
