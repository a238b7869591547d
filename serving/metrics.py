"""Prometheus metrics of the prediction server, in a registry of its own per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
)  # fmt: skip
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class ServerMetrics:
    """Every metric the server exports on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mlgate_requests", "HTTP requests answered", ["endpoint", "status"], registry=r
        )
        self.errors = Counter(
            "mlgate_request_errors",
            "requests answered with an error",
            ["endpoint", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "mlgate_predict_latency_seconds",
            "time to answer a prediction request",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.records = Counter("mlgate_predicted_records", "records scored", registry=r)
        self.batch_rows = Histogram(
            "mlgate_model_call_rows",
            "rows per model call (micro-batching)",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "mlgate_model_call_requests",
            "requests sharing one model call",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.model_version = Gauge(
            "mlgate_model_version", "version served (0: none)", ["project"], registry=r
        )
        self.model_info = Info("mlgate_model", "the model served", registry=r)
        self.model_swaps = Counter("mlgate_model_swaps", "model changes", registry=r)
        self.log_buffered = Gauge(
            "mlgate_prediction_log_buffered_rows", "rows reserved or waiting", registry=r
        )
        self.log_written = Counter(
            "mlgate_prediction_log_written_rows", "rows written to the log", registry=r
        )
        self.actuals = Counter("mlgate_actuals_received", "actuals stored", registry=r)
