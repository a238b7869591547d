"""The errors of the scoring library, a subtree of :class:`core.errors.MlgateError`.

::

    ScoringError              scoring_error     500  a model cannot score (wrong classes...)
     ├── ModelIntegrityError  model_integrity   500  the bytes are not the registered ones
     ├── UntrustedModelError  untrusted_model   500  the artifact holds types we do not load
     ├── ScoringSchemaError   scoring_schema    422  the frame to score does not fit the contract
     └── LogUnavailable       log_unavailable   503  the prediction log cannot be read or kept

Messages name the object and what is wrong, never the content of the data.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.errors import MlgateError

__all__ = [
    "LogUnavailable",
    "ModelIntegrityError",
    "ScoringError",
    "ScoringSchemaError",
    "UntrustedModelError",
]


class ScoringError(MlgateError):
    """Base of every error raised while loading a model, scoring, or keeping the log."""

    code: ClassVar[str] = "scoring_error"
    title: ClassVar[str] = "Scoring error"


class ModelIntegrityError(ScoringError):
    """The model artifact is corrupt or is not the one whose hash was registered."""

    code: ClassVar[str] = "model_integrity"
    title: ClassVar[str] = "Model integrity"


class UntrustedModelError(ScoringError):
    """The model artifact contains types outside the trusted list; it was not loaded."""

    code: ClassVar[str] = "untrusted_model"
    title: ClassVar[str] = "Untrusted model"

    def __init__(self, message: str, *, types: list[str]) -> None:
        super().__init__(message)
        self.types = types

    def problem_extra(self) -> dict[str, Any]:
        return {"types": self.types}


class ScoringSchemaError(ScoringError):
    """The frame to score lacks contract columns or holds values of the wrong kind."""

    code: ClassVar[str] = "scoring_schema"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Scoring schema"

    def __init__(self, message: str, *, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns

    def problem_extra(self) -> dict[str, Any]:
        return {"columns": self.columns}


class LogUnavailable(ScoringError):
    """The prediction log cannot be kept or read on this store (or an entry is foreign)."""

    code: ClassVar[str] = "log_unavailable"
    status: ClassVar[int] = 503
    title: ClassVar[str] = "Prediction log unavailable"
