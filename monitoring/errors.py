"""The errors of monitoring, a subtree of :class:`core.errors.MlgateError`.

::

    MonitoringError      monitoring_error   500  a monitoring run cannot go on
     └── ActualsError    invalid_actuals    422  an actuals source that cannot be used

``ActualsError`` is also a :class:`core.errors.InvalidInput`: the input is at fault, and
a retry with the same source fails the same way. Messages name the column, row or
value at fault, never more of the data than that.
"""

from __future__ import annotations

from typing import ClassVar

from core.errors import InvalidInput, MlgateError

__all__ = ["ActualsError", "MonitoringError"]


class MonitoringError(MlgateError):
    """Base of every error monitoring raises on purpose."""

    code: ClassVar[str] = "monitoring_error"
    title: ClassVar[str] = "Monitoring error"


class ActualsError(MonitoringError, InvalidInput):
    """An actuals source that cannot be used; the message names the column or value."""

    code: ClassVar[str] = "invalid_actuals"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Invalid actuals"
