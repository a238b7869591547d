"""The connectors' settings: one bounded, described object read from ``MLGATE_*`` variables.

URI options win over these; they are the defaults of a deployment (where S3 and Vault
are, how to log in). ``current_settings()`` reads the environment each time it is
called (about a millisecond, next to the network call it precedes), so a changed
variable takes effect at once and nothing is cached beyond the process's environment.

A value out of bounds or of the wrong form is refused, never clamped: ``InvalidLocation``
names each variable at fault and what is wrong, never its value. Secrets (the Vault
token, the AppRole ids) are ``SecretStr``; the S3 and Snowflake credentials are given
as secret *references* (``env://``, ``vault://``, ``file://``), resolved by
``connectors.secrets`` when used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, FilePath, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connectors.errors import InvalidLocation
from connectors.uri import SECRET_REF
from core.settings import read_settings

__all__ = ["ENV_PREFIX", "Settings", "current_settings"]

ENV_PREFIX = "MLGATE_"
_HTTP_ROOT = r"^https?://[^/?#@\s]+/?$"  # scheme, host and port: no path, no user info
_REF = SECRET_REF.pattern
_NAME = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"  # a Vault mount or namespace, an S3 region


class Settings(BaseSettings):
    """Everything connectors read from the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True, frozen=True
    )

    # --- S3 (s3:// sources and stores; each is the default of the URI option) -----------
    s3_endpoint_url: str | None = Field(
        None,
        pattern=_HTTP_ROOT,
        max_length=2048,
        description="S3-compatible endpoint, http(s)://host[:port] (option endpoint)",
    )
    s3_region: str | None = Field(
        None, pattern=_NAME, description="S3 region name (option region; us-east-1 if unset)"
    )
    s3_access_key_ref: str | None = Field(
        None,
        pattern=_REF,
        max_length=1024,
        description="secret reference of the S3 access key id (option access_key)",
    )
    s3_secret_key_ref: str | None = Field(
        None,
        pattern=_REF,
        max_length=1024,
        description="secret reference of the S3 secret access key (option secret_key)",
    )
    s3_session_token_ref: str | None = Field(
        None,
        pattern=_REF,
        max_length=1024,
        description="secret reference of an S3 session token (option session_token)",
    )
    s3_credentials_ttl_s: float = Field(
        300.0,
        ge=1.0,
        le=3600.0,
        description="seconds between two resolutions of the S3 credential references",
    )

    # --- Snowflake (snowflake:// sources; each is the default of the URI option) -------
    snowflake_user: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="Snowflake user name, or a secret reference to it (option user)",
    )
    snowflake_password_ref: str | None = Field(
        None,
        pattern=_REF,
        max_length=1024,
        description="secret reference of the Snowflake password (option password)",
    )
    snowflake_role: str | None = Field(
        None, min_length=1, max_length=255, description="Snowflake role (option role)"
    )
    snowflake_warehouse: str | None = Field(
        None, min_length=1, max_length=255, description="Snowflake warehouse (option warehouse)"
    )
    snowflake_host: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$",
        description="Snowflake host name (option host; <account>.snowflakecomputing.com)",
    )
    snowflake_port: int | None = Field(
        None, ge=1, le=65535, description="Snowflake port (option port)"
    )
    snowflake_protocol: Literal["http", "https"] | None = Field(
        None, description="http or https (option protocol; https if unset)"
    )

    # --- Vault (vault:// secret references) ----------------------------------------------
    vault_addr: str | None = Field(
        None,
        pattern=_HTTP_ROOT,
        max_length=2048,
        description="Vault (or OpenBao) address, http(s)://host[:port]",
    )
    vault_token: SecretStr | None = Field(None, description="Vault token (token auth)")
    vault_role_id: SecretStr | None = Field(
        None, description="AppRole role id (AppRole auth, used when no token is set)"
    )
    vault_secret_id: SecretStr | None = Field(None, description="AppRole secret id")
    vault_approle_mount: str = Field(
        "approle", pattern=_NAME, description="where the AppRole auth method is mounted"
    )
    vault_namespace: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,255}$",
        description="Vault Enterprise / OpenBao namespace",
    )
    vault_cacert: FilePath | None = Field(
        None, description="CA bundle that verifies the Vault server's TLS certificate"
    )
    vault_cache_ttl_s: float = Field(
        30.0, ge=0.0, le=3600.0, description="seconds a secret read is reused (0: never)"
    )
    vault_timeout_s: float = Field(
        5.0, ge=0.1, le=120.0, description="seconds per Vault request (3 attempts at most)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments and the process environment only: no ``.env`` file, no secrets directory."""
        return init_settings, env_settings


def current_settings() -> Settings:
    """The settings as the environment holds them now.

    Raises:
        InvalidLocation: a variable's value is refused; every variable at fault is named
            with what is wrong, and no value is shown.
    """
    return read_settings(Settings, error=InvalidLocation)
