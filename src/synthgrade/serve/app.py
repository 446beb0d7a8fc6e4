"""The HTTP scoring service: a FastAPI app around one :class:`~synthgrade.modeling.Scorer`.

Endpoints: ``POST /score`` (a batch of responses -> label and probabilities each), ``GET /health``
(liveness, never needs the token), ``GET /model`` (labels, input mode, provenance, metrics).

Protection, in the order a request meets it: the body size limit (checked on Content-Length and again
while the body streams in, so chunked bodies cannot get round it; 413 before any JSON is parsed), the
bearer token (401; compared in constant time), pydantic validation and the batch length limit (422).
Concurrent requests are scored together (:mod:`synthgrade.serve.batching`): requests arriving within
a few milliseconds share one model call, run in a thread off the event loop. ``GET /metrics``
(Prometheus text; needs the token when one is set) counts requests, latencies and batch sizes.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from synthgrade.data.schema import ITEM_ID, ITEM_TEXT, REFERENCE, TEXT, WHERE
from synthgrade.modelcard import redact
from synthgrade.modeling import Scorer, build_inputs
from synthgrade.serve.batching import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_WAIT_S, DynamicBatcher
from synthgrade.serve.metrics import MetricsMiddleware, ServiceMetrics

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_MAX_BATCH = 256
#: Rows per model call when several requests are merged.
DEFAULT_MAX_ROWS_PER_CALL = 64
MAX_TEXT_CHARS = 20_000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ResponseIn(BaseModel):
    """One response to score; item fields are optional (a known ``item_id`` is looked up in the item bank)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEXT_CHARS)
    id: str | None = Field(default=None, max_length=200, description="Echoed back, for the caller's bookkeeping.")
    item_id: str | None = Field(default=None, max_length=500)
    item_text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    reference: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responses: list[ResponseIn] = Field(min_length=1)


class ScoreResult(BaseModel):
    id: str | None = None
    label: str
    probabilities: dict[str, float]


class ScoreResponse(BaseModel):
    labels: list[str]
    results: list[ScoreResult]


def _too_large_message(max_bytes: int) -> str:
    return f"request body is larger than the limit of {max_bytes:,} bytes; send fewer or shorter responses per request"


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when streamed bytes pass the limit; FastAPI turns it into the 413 response."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=_too_large_message(max_bytes), headers={"Connection": "close"})


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413 before the app parses them (Content-Length and streamed bytes)."""

    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"detail": _too_large_message(self.max_bytes)}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                if declared is None or declared > self.max_bytes:
                    await self._reject(send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._reject(send)


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
) -> FastAPI:
    """The scoring app. With ``token`` set, ``/score``, ``/model`` and ``/metrics`` need ``Authorization: Bearer <token>``.

    Batching: requests arriving within ``max_wait_s`` of each other share a model call of at most
    ``max_rows_per_call`` rows, scored in length-sorted chunks of ``chunk_rows``; ``parallel_calls``
    model calls may run at once.
    """
    if max_body_bytes < 1 or max_batch < 1:
        raise ValueError("max_body_bytes and max_batch must be positive")
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
    labels = list(scorer.labels)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="synthgrade scorer", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher
    app.state.metrics = metrics
    app.state.started = time.time()

    def authorize(request: Request) -> None:
        if expected is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), expected):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "kind": description["kind"], "uptime_s": round(time.time() - app.state.started, 1)}

    @app.get("/model", dependencies=[Depends(authorize)])
    async def model() -> dict[str, Any]:
        return description

    @app.get("/metrics", dependencies=[Depends(authorize)])
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    @app.post("/score", dependencies=[Depends(authorize)], response_model=ScoreResponse)
    async def score(request: ScoreRequest) -> ScoreResponse:
        if len(request.responses) > max_batch:
            raise HTTPException(
                status_code=422,
                detail=f"{len(request.responses)} responses in one request, over the limit of {max_batch}; split the batch",
            )
        frame = pd.DataFrame(
            {
                TEXT: [r.text for r in request.responses],
                ITEM_ID: [r.item_id for r in request.responses],
                ITEM_TEXT: [r.item_text for r in request.responses],
                REFERENCE: [r.reference for r in request.responses],
                WHERE: [f"responses[{i}]" for i in range(len(request.responses))],
            }
        )
        first, second, problems = build_inputs(frame, scorer.info)
        if problems:
            raise HTTPException(status_code=422, detail=problems)
        proba = await batcher.score(first, second)
        results = [
            ScoreResult(
                id=r.id,
                label=labels[int(np.argmax(row))],
                probabilities={label: float(p) for label, p in zip(labels, row, strict=True)},
            )
            for r, row in zip(request.responses, proba, strict=True)
        ]
        return ScoreResponse(labels=labels, results=results)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Never echo internals (paths, headers) to the caller; the server log has the type.
        return JSONResponse(status_code=500, content={"detail": f"internal error while scoring ({type(exc).__name__})"})

    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts the 413s too
    return app
