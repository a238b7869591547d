"""Settings of the flows and the ``mlgate`` command: one object, read from ``MLGATE_*``.

=========================  =============================================================
variable                   meaning
=========================  =============================================================
``MLGATE_DASK_ADDRESS``    Dask cluster for training candidates and scoring partitions
                           when a run names none: ``tcp://host:8786`` (any Dask
                           protocol), ``host[:port]``, or ``local`` for a LocalCluster
``MLGATE_STACK_DIR``       where ``mlgate up`` keeps its state, logs, tokens and
                           Prefect home; default ``.mlgate/stack``
``MLGATE_TOKEN``           governance API token (or a secret reference) that ``mlgate
                           up`` gives the worker and the prediction server; unset: the
                           ``flows`` service account it creates on a fresh database
``MLGATE_SERVE_TOKEN``     bearer token of the prediction API (or a secret reference),
                           passed on by ``mlgate up``; unset: one generated per stack
=========================  =============================================================

An empty variable counts as unset. Settings are read when used (:func:`get_settings`),
never cached, so a process sees its environment as it is now. A value out of bounds
is refused with :class:`flows.errors.SettingsError` naming the variable, never clamped;
the message never repeats the value, which may be a secret. Prefect's own ``PREFECT_*``
variables are Prefect's; the flows' parameters (``PipelineParams``…) are not settings.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Secret, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import read_settings
from flows.errors import SettingsError

__all__ = ["ENV_PREFIX", "Settings", "Token", "get_settings"]

ENV_PREFIX = "MLGATE_"

# A token or a secret reference (env://NAME, vault://mount/path#key): no whitespace.
Token = Secret[Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^\S+$")]]


class Settings(BaseSettings):
    """What the flows and the ``mlgate`` command read from the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

    dask_address: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        pattern=r"^(local|[A-Za-z][A-Za-z0-9+.-]*://\S+|[^\s:/]+(:[0-9]{1,5})?)$",
        description="Dask cluster for training candidates and scoring partitions when the "
        "run names none: tcp://host:port (any Dask protocol), host[:port], or 'local' for a "
        "LocalCluster; unset: Prefect's default runner",
    )
    stack_dir: str = Field(
        ".mlgate/stack",
        min_length=1,
        max_length=4096,
        pattern=r"^[^\x00]+$",
        description="directory of the local stack's state, logs, tokens and Prefect home",
    )
    token: Token | None = Field(
        None,
        description="governance API token, or a secret reference, that `mlgate up` gives the "
        "worker and the prediction server; unset: the flows account it creates",
    )
    serve_token: Token | None = Field(
        None,
        description="bearer token of the prediction API, or a secret reference, passed on by "
        "`mlgate up`; unset: one generated for the stack and kept in its directory",
    )


def get_settings() -> Settings:
    """The settings as the environment holds them now.

    Raises:
        SettingsError: a variable is out of bounds; the message names each such
            variable and what is wrong, without its value.
    """
    return read_settings(Settings, error=SettingsError)
