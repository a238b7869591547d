"""core: the kernel every mlgate package stands on.

The project spec and its data contract (:mod:`core.spec`), the offline defaults each
entry point applies (:mod:`core.offline`) and the root of the one error tree
(:mod:`core.errors`). It imports no other mlgate package, and importing it has no side
effect.
"""

from __future__ import annotations

__version__ = "0.1.0"
