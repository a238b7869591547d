"""mlgate: a self-hosted MLOps platform with governed promotion.

This package holds the ``mlgate`` CLI and the demo: thin commands over the packages
below it (the kernel ``core``, connectors, scoring, governance's client, serving,
monitoring and the flows). Importing it stays cheap: nothing heavy is imported here.
"""

from __future__ import annotations

from core import __version__

__all__ = ["__version__"]
