"""The model file format: skops, with an explicit allow-list of types, never pickle.

A model artifact is the ``skops.io`` zip of a fitted pipeline built by
``flows.train.make_candidate``. Loading goes through three gates, in order:

1. ``load_verified`` compares the SHA-256 of the bytes with the hash the registry
   recorded when the artifact was stored, before anything is parsed.
2. The artifact's schema is audited: every type it names must be in
   ``TRUSTED_TYPES``. This is stricter than skops' own audit, which also trusts
   every scikit-learn estimator by default; we accept only what our pipelines use.
3. ``skops.io.loads`` runs with ``trusted=TRUSTED_TYPES`` and audits again.

``sklearn.tree._tree.Tree`` and ``...predictor.TreePredictor`` are on the list
although skops does not trust them by default: their node arrays are not
bounds-checked by scikit-learn, so a crafted file could crash the process at
predict time. We accept them because gate 1 ties every artifact we load to the
bytes our own training flow produced; load models from the store only through
``load_verified``.

``TRUSTED_TYPES`` was derived with ``skops.io.get_untrusted_types`` and a walk of
the schema of the three candidate pipelines (numeric, categorical, boolean and
nullable features), then reviewed. Extend it only after the same review.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from typing import TYPE_CHECKING, Any, Protocol

import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException

from scoring.errors import ModelIntegrityError, UntrustedModelError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "TRUSTED_TYPES",
    "Classifier",
    "dumps",
    "load_verified",
    "loads",
    "sha256_hex",
    "untrusted_types",
]


class Classifier(Protocol):
    """A fitted binary classifier as scoring uses it: a scikit-learn pipeline, typically."""

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the column order of ``predict_proba``."""
        ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """One row of class probabilities per row of ``X``."""
        ...


TRUSTED_TYPES: tuple[str, ...] = (
    # containers and values inside estimator state
    "builtins.dict",
    "builtins.list",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "numpy.random._generator.Generator",
    "numpy.uint64",
    # preprocessing
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    # logistic_regression
    "sklearn.linear_model._logistic.LogisticRegression",
    # random_forest
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    # hist_gradient_boosting
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)

_TRUSTED = frozenset(TRUSTED_TYPES)
# Nodes that name no type to construct: JSON primitives are built with json.loads,
# cached nodes point back at a node audited elsewhere in the tree.
_TYPELESS_LOADERS = frozenset({"JsonNode", "CachedNode"})
_HASH_PREFIX = 12


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of an artifact, as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def dumps(model: Classifier) -> bytes:
    """Serialize a fitted pipeline to skops bytes.

    Raises:
        UntrustedModelError: the model holds types that ``loads`` would refuse;
            nothing is returned, so such a model never reaches the store.
    """
    data: bytes = sio.dumps(model)
    _refuse_untrusted(data)
    return data


def untrusted_types(data: bytes) -> list[str]:
    """The types named in an artifact that are not in ``TRUSTED_TYPES``, sorted; nothing is loaded.

    Raises:
        ModelIntegrityError: the bytes are not a readable skops artifact.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
        # skops' view of the tree catches types its loaders import (functions, ...)
        reported = set(sio.get_untrusted_types(data=data))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError, TypeError) as exc:
        raise ModelIntegrityError(
            f"model artifact is not a readable skops file ({type(exc).__name__})"
        ) from exc
    return sorted((reported | _schema_types(schema)) - _TRUSTED)


def loads(data: bytes) -> Classifier:
    """Load an artifact if it names only trusted types.

    Raises:
        UntrustedModelError: the artifact names other types (listed in the message);
            it is not deserialized.
        ModelIntegrityError: the bytes are not a readable skops artifact.
    """
    _refuse_untrusted(data)
    try:
        model: Classifier = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:  # our audit should have caught it first
        raise UntrustedModelError(f"model artifact refused by skops: {exc}", types=[]) from exc
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ModelIntegrityError(
            f"model artifact could not be loaded ({type(exc).__name__}: {exc})"
        ) from exc
    return model


def load_verified(data: bytes, *, expected_sha256: str) -> Classifier:
    """Load an artifact only if its SHA-256 is the registered one.

    The hash is checked before anything is parsed.

    Raises:
        ModelIntegrityError: the hash differs (message shows both prefixes) or the
            bytes are not a readable artifact.
        UntrustedModelError: as ``loads``.
    """
    expected = expected_sha256.strip().lower()
    actual = sha256_hex(data)
    if not hmac.compare_digest(expected, actual):
        raise ModelIntegrityError(
            f"model artifact sha256 mismatch: expected {expected[:_HASH_PREFIX]}…, "
            f"got {actual[:_HASH_PREFIX]}…"
        )
    return loads(data)


def _refuse_untrusted(data: bytes) -> None:
    offending = untrusted_types(data)
    if offending:
        raise UntrustedModelError(
            f"model artifact contains untrusted types: {', '.join(offending)}", types=offending
        )


def _schema_types(schema: Any) -> set[str]:
    """Every ``module.Class`` a skops schema names, walked without recursion."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, cls = node.get("__module__"), node.get("__class__")
            if node.get("__loader__") not in _TYPELESS_LOADERS and (
                isinstance(module, str) or isinstance(cls, str)
            ):
                found.add(f"{module}.{cls}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
