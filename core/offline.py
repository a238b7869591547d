"""Keep every library that could phone home on loopback.

Prefect, Evidently and the Snowflake connector each have telemetry or cloud probes.
mlgate switches them off through its own settings, so a user never has to set them by
hand: every entry point calls :func:`apply` once, first thing — the ``mlgate`` command
(before Prefect is imported: Prefect reports its first import in an interactive
terminal), the governance service and the prediction server at start-up, and each flow
when it starts. Importing this module changes nothing.

An explicit value already in the environment wins, except that telemetry can only be
turned off here, never on. Child processes inherit the variables, which is how
``mlgate up`` gives them to the Prefect server and worker it starts.
"""

from __future__ import annotations

import os

OFFLINE_DEFAULTS: dict[str, str] = {
    # Prefect SDK and Evidently telemetry.
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The ephemeral Prefect API needs more than the default 20 s on small machines.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # Without this the Snowflake connector probes cloud metadata addresses.
    "SNOWFLAKE_DISABLE_PLATFORM_DETECTION": "true",
    # Great Expectations: no usage statistics.
    "GX_ANALYTICS_ENABLED": "false",
}


def apply() -> None:
    """Set the offline defaults in this process's environment (idempotent)."""
    for name, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # Telemetry off is not negotiable: a stray DO_NOT_TRACK=0 does not turn it on.
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
