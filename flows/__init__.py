"""flows package."""

from mlgate import offline as _offline  # noqa: F401  (telemetry off before any import)
