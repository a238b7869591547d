"""governance: mlgate's system of record.

A FastAPI service over SQLModel tables (projects, dataset and model versions, promotion
requests and decisions, stage assignments, monitoring results, principals and tokens, the
audit chain) and its Python client. Everything outside this package talks to it through
:class:`governance.client.GovernanceClient` over HTTP.
"""

from __future__ import annotations

from core import __version__

__all__ = ["__version__"]
