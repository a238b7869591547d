"""Settings of the prediction server: one object, read from ``MLGATE_*`` variables.

=================================  =====================================================
variable                           meaning
=================================  =====================================================
``MLGATE_GOVERNANCE_URL``          governance API (falls back to ``MLGATE_URL``)
``MLGATE_TOKEN``                   API token, or a reference (``env://NAME``, ``vault://…``)
``MLGATE_STORE``                   artifact store (path, ``file://`` or ``s3://``);
                                   default ``.mlgate/artifacts``
``MLGATE_SERVE_POLL_INTERVAL_S``   how often governance is asked what is in production
``MLGATE_SERVE_MAX_BODY_BYTES``    larger request bodies get 413
``MLGATE_SERVE_MAX_RECORDS``       more records in one request get 422
``MLGATE_SERVE_BATCH_MAX_ROWS``    most rows scored in one model call (micro-batching)
``MLGATE_SERVE_BATCH_WAIT_MS``     longest a request waits for others to share its call
``MLGATE_SERVE_LOG_CAPACITY_ROWS`` prediction-log rows held in memory before requests wait
``MLGATE_SERVE_LOG_FLUSH_ROWS``    rows per prediction-log file
``MLGATE_SERVE_LOG_FLUSH_S``       longest a logged row waits before it is written
``MLGATE_SERVE_LOG_WAIT_S``        longest a request waits for log capacity, then 503
``MLGATE_SERVE_TOKEN``             bearer token callers of predict, actuals and model
                                   must send, or a reference (``vault://…``); unset:
                                   no authentication (a warning at start)
=================================  =====================================================
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServeSettings"]


class ServeSettings(BaseSettings):
    """Everything ``mlgate serve`` needs besides the project spec."""

    model_config = SettingsConfigDict(env_prefix="MLGATE_", extra="ignore")

    governance_url: str = Field(
        "http://127.0.0.1:8000",
        validation_alias=AliasChoices("MLGATE_GOVERNANCE_URL", "MLGATE_URL", "governance_url"),
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        max_length=2048,
        description="where governance listens: http(s)://host[:port][/path]",
    )
    token: SecretStr | None = Field(
        None, description="governance API token, or a secret reference (env://NAME, vault://...)"
    )
    store: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="artifact store (a path, file:// or s3://); None: .mlgate/artifacts",
    )
    serve_poll_interval_s: float = Field(
        1.0, ge=0.05, le=300, description="seconds between two asks of governance"
    )
    serve_max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, le=1 << 30, description="request bodies above this get 413"
    )
    serve_max_records: int = Field(
        10_000, ge=1, le=1_000_000, description="records per request above this get 422"
    )
    serve_batch_max_rows: int = Field(
        2_048, ge=1, le=1_000_000, description="most rows scored together in one model call"
    )
    serve_batch_wait_ms: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="longest a request waits for others to join its model call (0: only "
        "those already queued join, so an idle server adds no latency)",
    )
    serve_predict_inline: bool = Field(
        False, description="score on the event loop instead of a worker thread"
    )
    serve_log_capacity_rows: int = Field(
        200_000, ge=1_000, le=50_000_000, description="logged rows held in memory at most"
    )
    serve_log_flush_rows: int = Field(
        50_000, ge=1, le=5_000_000, description="rows per prediction-log file"
    )
    serve_log_flush_s: float = Field(
        2.0, ge=0.01, le=3600, description="longest a logged row waits before it is written"
    )
    serve_log_wait_s: float = Field(
        5.0, ge=0.0, le=300, description="longest a request waits for log capacity before 503"
    )
    serve_token: SecretStr | None = Field(
        None,
        description="bearer token callers of predict, actuals and model must send, or a "
        "secret reference (env://NAME, vault://...), read at start; None: no authentication",
    )
