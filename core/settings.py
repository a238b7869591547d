"""Reading a deployable's settings from the environment, refusing bad values by name.

Each deployable has one pydantic-settings class (governance, the prediction server, the
flows and CLI, the connectors), every field described and bounded. :func:`read_settings`
builds one; a value out of bounds or of the wrong form is refused, never clamped, with an
error naming every variable at fault and what is wrong — never its value, which may be a
secret (the validation error is not chained, since it would carry the value).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

from core.errors import InvalidInput, MlgateError

__all__ = ["read_settings", "variable_name"]

S = TypeVar("S", bound=BaseSettings)


def variable_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable a field of ``cls`` is read from (its first alias, if any)."""
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices) and alias.choices and isinstance(alias.choices[0], str):
        return alias.choices[0]
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def read_settings(cls: type[S], *, error: type[MlgateError] = InvalidInput, **values: Any) -> S:
    """``cls`` read from the environment (``values`` win over it).

    Raises:
        MlgateError: of class ``error`` (InvalidInput by default): a value is refused;
            the message names each variable at fault and what is wrong, not the value.
    """
    try:
        return cls(**values)
    except ValidationError as exc:
        faults = "; ".join(
            f"{variable_name(cls, str(e['loc'][0])) if e['loc'] else '(settings)'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise error(f"invalid settings: {faults}") from None
