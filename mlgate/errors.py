"""The errors of the ``mlgate`` command itself, a subtree of :class:`core.errors.MlgateError`.

::

    StackError    stack_unavailable   503  a part of the local stack cannot start or be reached

Errors of the packages below (governance's client, connectors, flows) keep their own
classes; the commands print their ``code`` and message.
"""

from __future__ import annotations

from typing import ClassVar

from core.errors import MlgateError

__all__ = ["StackError"]


class StackError(MlgateError):
    """The stack cannot start or be reached; the message names the part and why."""

    code: ClassVar[str] = "stack_unavailable"
    status: ClassVar[int] = 503
    title: ClassVar[str] = "Local stack unavailable"
