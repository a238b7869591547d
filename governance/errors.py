"""The errors governance raises, on the server and in its client: its part of the one tree.

::

    MlgateError (core.errors)   mlgate_error            500
     ├── NotFound               not_found               404  the named object does not exist
     ├── Conflict               conflict                409  state forbids it (duplicate...)
     │    └── SecretNotReplayable  secret_not_replayable  409  replay would need a shown-once token
     ├── InvalidInput           invalid_input           422  malformed or out-of-bounds request
     │    ├── IdempotencyKeyReused  idempotency_key_reused  422  same key, different request
     │    └── BodyTooLarge       body_too_large          413  a body over the limit
     ├── PermissionDenied       permission_denied       403  role too low, or separation of duties
     ├── Unauthenticated        unauthenticated         401  no token, or unknown/expired/revoked
     ├── Unavailable            unavailable             503
     │    └── GovernanceUnavailable  governance_unavailable  503  (client) service unreachable
     ├── PreconditionFailed     precondition_failed     412  If-Match names a stale revision
     ├── PreconditionRequired   precondition_required   428  the update needs If-Match
     ├── AuditChainError        audit_chain_broken      500  the chain head record is missing/moved
     └── DatabaseSchemaMismatch schema_mismatch         500  tables no known migration explains

The generic kinds come from :mod:`core.errors` and are re-exported here, so a caller of
the client finds every class it may see in one module. The server renders each of them
once as RFC 9457 problem details (``application/problem+json``); the client
(:mod:`governance.client`) maps problem details back to the same classes by ``code``.
Messages name the object and what is wrong, never a secret:
``model version credit-risk@7 not found``.
"""

from __future__ import annotations

from typing import ClassVar

from core.errors import (
    Conflict,
    InvalidInput,
    MlgateError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "ERRORS_BY_CODE",
    "AuditChainError",
    "BodyTooLarge",
    "Conflict",
    "DatabaseSchemaMismatch",
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
    "Unavailable",
]


class IdempotencyKeyReused(InvalidInput):
    """An ``Idempotency-Key`` was already used by this principal for a different request."""

    code: ClassVar[str] = "idempotency_key_reused"
    title: ClassVar[str] = "Idempotency key reused"


class SecretNotReplayable(Conflict):
    """A repeated request whose first answer held a token, which is never stored."""

    code: ClassVar[str] = "secret_not_replayable"
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


class BodyTooLarge(InvalidInput):
    """A request body over the service's limit; it was not read further."""

    code: ClassVar[str] = "body_too_large"
    status: ClassVar[int] = 413
    title: ClassVar[str] = "Body too large"


class GovernanceUnavailable(Unavailable):
    """Client side: the governance service cannot be reached (connection refused, timeout)."""

    code: ClassVar[str] = "governance_unavailable"
    title: ClassVar[str] = "Governance unavailable"


class AuditChainError(MlgateError):
    """The audit chain cannot take a new event (its head record is missing or moved)."""

    code: ClassVar[str] = "audit_chain_broken"
    title: ClassVar[str] = "Audit chain broken"


class DatabaseSchemaMismatch(MlgateError):
    """The database holds governance tables that no known migration explains."""

    code: ClassVar[str] = "schema_mismatch"
    title: ClassVar[str] = "Schema mismatch"


ERRORS_BY_CODE: dict[str, type[MlgateError]] = {
    cls.code: cls
    for cls in (
        MlgateError,
        NotFound,
        Conflict,
        InvalidInput,
        IdempotencyKeyReused,
        BodyTooLarge,
        SecretNotReplayable,
        PreconditionFailed,
        PreconditionRequired,
        PermissionDenied,
        Unauthenticated,
        Unavailable,
        GovernanceUnavailable,
        AuditChainError,
        DatabaseSchemaMismatch,
    )
}
