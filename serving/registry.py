"""Which model is served: the one governance says is in production, verified on load.

``ModelWatcher`` asks governance every ``poll_s`` seconds what holds the production
stage. When that changes (a promotion, a rollback), it fetches the artifact from the
store, checks its SHA-256 against the registered one and loads it through the skops
allow-list (:func:`scoring.model_format.load_verified`), and only then swaps the
served ``ModelHandle`` — one attribute assignment, so a request that took the old
handle at its start finishes on the old model and the next one gets the new model.
Nothing in production (or the production model's artifact failing its checks) means
no handle: the server answers 503 until there is one. A governance outage keeps the
current model in service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import pandas as pd

from connectors.store import ArtifactStore
from governance.schemas import ModelVersionPublic, StageCurrentPublic
from scoring import model_format
from scoring.errors import ScoringError
from scoring.model_format import Classifier

__all__ = ["ModelHandle", "ModelWatcher", "StageSource"]

log = logging.getLogger("mlgate.serving.registry")


@dataclass(frozen=True, eq=False)
class ModelHandle:
    """One loaded production model; requests hold a reference for their whole life."""

    project: str
    version: int
    sha256: str
    algorithm: str
    model: Classifier
    features: list[str]
    positive: int
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def label(self) -> str:
        return f"{self.project}@{self.version}"

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of class 1 for each row of ``frame``."""
        proba = self.model.predict_proba(frame[self.features])
        return np.asarray(proba, dtype=np.float64)[:, self.positive]


class StageSource(Protocol):
    """What the watcher needs from governance (a ``GovernanceClient``)."""

    def current_stage(self, project: str, stage: str = ...) -> StageCurrentPublic | None: ...


def load_handle(
    store: ArtifactStore, project: str, model: ModelVersionPublic, features: list[str]
) -> ModelHandle:
    """Load and verify a registered model version.

    Raises:
        ModelIntegrityError, UntrustedModelError: the artifact fails its checks.
        ScoringError: the model cannot predict class 1.
        ConnectorError: the store cannot give the artifact.
    """
    data = store.get_bytes(model.artifact_uri, sha256=model.sha256)
    estimator = model_format.load_verified(data, expected_sha256=model.sha256)
    fitted = getattr(estimator, "feature_names_in_", None)
    names = [str(c) for c in fitted] if fitted is not None else list(features)
    classes = [c.item() if isinstance(c, np.generic) else c for c in estimator.classes_]
    if 1 not in classes:
        raise ScoringError(f"model {project}@{model.version} does not predict class 1")
    return ModelHandle(
        project=project,
        version=int(model.version),
        sha256=model.sha256,
        algorithm=str(model.algorithm),
        model=estimator,
        features=names,
        positive=classes.index(1),
    )


class ModelWatcher:
    """Keeps ``current`` equal to governance's production model, in a background thread.

    Args:
        source: a governance client.
        store: the artifact store holding the model files.
        project: the project served.
        features: the contract's features (used when a model records no names).
        poll_s: seconds between two asks.
        on_change: called with the new handle (or None) after every swap.
    """

    def __init__(
        self,
        source: StageSource,
        store: ArtifactStore,
        project: str,
        features: list[str],
        *,
        poll_s: float,
        on_change: Callable[[ModelHandle | None], None] | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.project = project
        self.features = features
        self.poll_s = poll_s
        self.on_change = on_change
        self.current: ModelHandle | None = None
        self.last_error: str | None = None
        self.polls = 0
        self._failed: tuple[int, str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{project}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def poll_once(self) -> None:
        """Ask governance once and swap the model if production changed."""
        try:
            stage = self.source.current_stage(self.project, "production")
        except Exception as exc:  # governance down: keep serving what we have
            self.last_error = f"governance: {type(exc).__name__}: {exc}"
            log.warning("asking governance for the production model failed: %s", exc)
            return
        finally:
            self.polls += 1
        if stage is None:
            if self.current is not None:
                log.warning("%s has no production model any more; serving stops", self.project)
                self._swap(None)
            return
        model = stage.model
        current = self.current
        if current is not None and current.version == model.version:
            return
        if self._failed == (model.version, model.sha256):
            return  # already refused; do not reload a bad artifact every poll
        try:
            handle = load_handle(self.store, self.project, model, self.features)
        except Exception as exc:
            self._failed = (model.version, model.sha256)
            self.last_error = f"{self.project}@{model.version}: {type(exc).__name__}: {exc}"
            log.error("production model %s refused: %s", self.last_error, exc)
            return
        self.last_error = None
        log.info("serving %s (sha256 %s…)", handle.label, handle.sha256[:12])
        self._swap(handle)

    def _swap(self, handle: ModelHandle | None) -> None:
        self.current = handle
        if self.on_change is not None:
            self.on_change(handle)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.poll_once()
            self._stop.wait(max(0.0, self.poll_s - (time.monotonic() - started)))
