"""The errors of the serving package, each with a stable ``code``.

::

    ServingError              serving_error
    ├── ModelIntegrityError   model_integrity   the artifact's bytes are not the registered ones
    ├── UntrustedModelError   untrusted_model   the artifact holds types we do not load
    └── ScoringSchemaError    scoring_schema    the frame to score does not fit the data contract

The HTTP layer maps codes to statuses once; messages name the object and what
is wrong, never the content of the data.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base of every error raised while loading a model or scoring with it."""

    code: str = "serving_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelIntegrityError(ServingError):
    """The model artifact is corrupt or is not the one whose hash was registered."""

    code = "model_integrity"


class UntrustedModelError(ServingError):
    """The model artifact contains types outside the trusted list; it was not loaded."""

    code = "untrusted_model"

    def __init__(self, message: str, *, types: list[str]) -> None:
        super().__init__(message)
        self.types = types


class ScoringSchemaError(ServingError):
    """The frame to score lacks contract columns or holds values of the wrong kind."""

    code = "scoring_schema"

    def __init__(self, message: str, *, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns
