"""mlgate: a self-hosted MLOps platform with governed promotion.

This package holds the ``mlgate`` CLI, the demo, the project spec (data contract,
training and promotion policy) and the offline defaults every other package applies.
Importing it stays cheap: nothing heavy is imported here.
"""

from __future__ import annotations

__version__ = "0.1.0"
