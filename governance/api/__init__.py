"""The HTTP API of governance under ``/api/v1``."""
