"""Settings of the governance service: one object, read from ``MLGATE_*`` variables.

A value out of bounds is refused at start-up naming the variable (never clamped, never
echoed): :func:`get_settings` reads through :func:`core.settings.read_settings`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.settings import read_settings
from governance.errors import InvalidInput
from governance.locations import Locations, normalize_root

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Everything the governance service needs to start."""

    model_config = SettingsConfigDict(env_prefix="MLGATE_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./.mlgate/governance.db",
        description="SQLAlchemy URL of the governance database (sqlite:/// or postgresql+psycopg://)",
    )
    request_ttl_hours: float = Field(
        72.0,
        gt=0,
        le=24 * 90,
        description="lifetime of a promotion request when the project policy does not set one",
    )
    token_ttl_days: float = Field(
        90.0,
        ge=1 / 24,
        le=3650,
        description="lifetime of new API tokens in days (at least an hour, at most ten years)",
    )
    echo_sql: bool = Field(False, description="log every SQL statement (debugging only)")
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="largest request body accepted; larger ones get 413 before they are read",
    )
    prefect_api_url: str | None = Field(
        None,
        description="Prefect API (e.g. http://127.0.0.1:4200/api): a flow run waiting on a "
        "promotion request is resumed there once the request is decided",
    )
    expiry_sweep_seconds: float = Field(
        5.0,
        ge=0.05,
        le=3600,
        description="how often the server expires overdue pending promotion requests",
    )
    idempotency_retention_hours: float = Field(
        168.0,
        gt=0,
        le=24 * 366,
        description="how long the answer to a POST with an Idempotency-Key is kept for replay",
    )
    resume_attempts: int = Field(
        4, ge=1, le=10, description="tries of each flow-run resume call (backoff in between)"
    )

    stores: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [f"file://{Path('.mlgate/artifacts').resolve().as_posix()}/"],
        min_length=1,
        max_length=32,
        description="artifact stores whose locations governance records, comma-separated "
        "file:///abs/root or s3://bucket/prefix (default: .mlgate/artifacts of the working "
        "directory)",
    )
    source_schemes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["file", "s3", "snowflake"],
        min_length=1,
        max_length=16,
        description="schemes a dataset's source may use, comma-separated",
    )

    @field_validator("stores", "source_schemes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("stores")
    @classmethod
    def _store_roots(cls, value: list[str]) -> list[str]:
        try:
            return [normalize_root(root) for root in value]
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("source_schemes")
    @classmethod
    def _schemes(cls, value: list[str]) -> list[str]:
        for scheme in value:
            if not re.fullmatch(r"[a-z][a-z0-9+.-]{0,31}", scheme):
                raise ValueError(f"{scheme!r} is not a URI scheme such as file or s3")
        return value

    def locations(self) -> Locations:
        """The locations this service accepts, built from these settings."""
        return Locations(stores=tuple(self.stores), source_schemes=tuple(self.source_schemes))

    @field_validator("prefect_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("prefect_api_url must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, built on first use so tests can set the environment first.

    Raises:
        InvalidInput: a variable is refused; the message names it and what is wrong.
    """
    return read_settings(Settings)
