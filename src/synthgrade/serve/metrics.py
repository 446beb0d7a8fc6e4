"""``GET /metrics`` in Prometheus text format: requests, latency, batch sizes and model time.

Built on ``prometheus_client``. Each app has its own registry (tests build many apps in one process);
with ``serve --workers N`` the worker processes share ``PROMETHEUS_MULTIPROC_DIR`` (set by
:func:`synthgrade.serve.server.run_server`) and ``/metrics`` sums them, whichever worker answers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
#: Paths reported by name; anything else is counted as "other" (no unbounded label values from callers).
KNOWN_PATHS = frozenset({"/score", "/model", "/health", "/metrics"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class ServiceMetrics:
    """The service's metrics in one registry, plus the count of scoring requests in flight (for the batcher)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        r = self.registry
        self.requests = Counter("synthgrade_requests", "HTTP requests answered", ["path", "status"], registry=r)
        self.latency = Histogram(
            "synthgrade_request_seconds", "Time from request start to response end", ["path"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_rows = Histogram("synthgrade_batch_rows", "Rows per model call", buckets=ROW_BUCKETS, registry=r)
        self.batch_requests = Histogram(
            "synthgrade_batch_requests", "Requests merged per model call", buckets=ROW_BUCKETS, registry=r
        )
        self.model_seconds = Histogram("synthgrade_model_seconds", "Seconds per model call", buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight_gauge = Gauge(
            "synthgrade_score_requests_in_flight", "Scoring requests being served", registry=r, multiprocess_mode="livesum"
        )
        self.scoring = 0
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency (label lookups cached: this runs on every request)."""
        children = self._children.get((path, status))
        if children is None:
            children = self._children[(path, status)] = (self.requests.labels(path, str(status)), self.latency.labels(path))
        children[0].inc()
        children[1].observe(seconds)

    def observe_batch(self, rows: int, requests: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)
        self.model_seconds.observe(seconds)

    def in_flight(self) -> int:
        return self.scoring

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts every request by path and status and times it; tracks scoring requests in flight."""

    def __init__(self, app: Callable, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        path = path if path in KNOWN_PATHS else "other"
        status = 500
        started = time.perf_counter()
        scoring = path == "/score"

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        if scoring:
            self.metrics.scoring += 1
            self.metrics.in_flight_gauge.inc()
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            if scoring:
                self.metrics.scoring -= 1
                self.metrics.in_flight_gauge.dec()
            self.metrics.observe_request(path, status, time.perf_counter() - started)
