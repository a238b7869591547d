"""The prediction server's refusals, a subtree of :class:`core.errors.MlgateError`.

::

    ServingError            serving_error     500  the server cannot answer
     └── RequestInvalid     invalid_request   422  a record does not fit the contract

The errors of loading a model and scoring with it belong to the scoring library
(:mod:`scoring.errors`). Messages name the object and what is wrong, never the content
of the data.
"""

from __future__ import annotations

from typing import ClassVar

from core.errors import MlgateError

__all__ = ["ServingError"]


class ServingError(MlgateError):
    """Base of every error the prediction server raises on purpose."""

    code: ClassVar[str] = "serving_error"
    title: ClassVar[str] = "Serving error"
