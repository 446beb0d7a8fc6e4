"""The HTTP scoring service: a FastAPI app around one :class:`~synthgrade.modeling.Scorer`.

Endpoints: ``POST /score`` (a batch of responses -> label and probabilities each), ``GET /health``
(liveness, never needs the token), ``GET /model`` (labels, input mode, provenance, metrics).

Protection, in the order a request meets it: the body size limit (checked on Content-Length and again
while the body streams in, so chunked bodies cannot get round it; 413 before any JSON is parsed), the
bearer token (401 before the body is even parsed; compared in constant time), pydantic validation and the
batch length limit (422), the scoring timeout (503). Every error is ``{"detail": <text or list of issues>}``
and never echoes the request back.
Concurrent requests are scored together (:mod:`synthgrade.serve.batching`): requests arriving within
a few milliseconds share one model call, run in a thread off the event loop. ``GET /metrics``
(Prometheus text; needs the token when one is set) counts requests, latencies and batch sizes.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from synthgrade.modelcard import redact
from synthgrade.modeling import Scorer
from synthgrade.serve.batching import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_WAIT_S, DynamicBatcher
from synthgrade.serve.metrics import MetricsMiddleware, ServiceMetrics
from synthgrade.serve.middleware import BodyLimitMiddleware, TokenMiddleware
from synthgrade.serve.routes import add_error_handlers, add_routes

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_MAX_BATCH = 256
#: Rows per model call when several requests are merged.
DEFAULT_MAX_ROWS_PER_CALL = 64
#: Seconds a /score request may wait for its model call before it gets 503.
DEFAULT_TIMEOUT_S = 120.0


def model_description(scorer: Scorer) -> dict[str, Any]:
    """What ``GET /model`` shows: enough to check the deployed model, nothing secret."""
    info = scorer.info
    validation = (info.training or {}).get("validation")
    return redact(
        {
            "kind": info.kind,
            "labels": list(info.labels),
            "input_mode": info.input_mode,
            "needs_item": info.input_mode == "pair",
            "items": sorted(info.item_bank),
            "max_length": info.max_length,
            "base_model": info.base_model,
            "parameters": info.parameters,
            "ordinal": info.ordinal,
            "provenance": info.provenance,
            "validation_metrics": validation,
            "evaluations": info.evaluations,
        }
    )


def create_app(
    scorer: Scorer,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_rows_per_call: int = DEFAULT_MAX_ROWS_PER_CALL,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    parallel_calls: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> FastAPI:
    """The scoring app. With ``token`` set, ``/score``, ``/model`` and ``/metrics`` need ``Authorization: Bearer <token>``.

    Batching: requests arriving within ``max_wait_s`` of each other share a model call of at most
    ``max_rows_per_call`` rows, scored in length-sorted chunks of ``chunk_rows``; ``parallel_calls``
    model calls may run at once.
    """
    if max_body_bytes < 1 or max_batch < 1 or not timeout_s > 0:
        raise ValueError("max_body_bytes, max_batch and timeout_s must be positive")
    metrics = ServiceMetrics()
    batcher = DynamicBatcher(
        scorer,
        max_rows_per_call,
        max_wait_s,
        chunk_rows,
        parallel_calls,
        in_flight=metrics.in_flight,
        observer=metrics.observe_batch,
    )
    expected = token.encode("utf-8") if token else None
    description = model_description(scorer)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="synthgrade scorer", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher
    app.state.metrics = metrics
    app.state.started = time.time()

    add_routes(app, scorer, batcher, metrics, description, max_batch, timeout_s)
    add_error_handlers(app)
    if expected is not None:
        app.add_middleware(TokenMiddleware, expected=expected)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)  # runs before the token check
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts the 413s and 401s too
    return app
