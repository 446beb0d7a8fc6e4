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

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from synthgrade.data.schema import RowProblem
from synthgrade.modelcard import redact
from synthgrade.modeling import Scorer, inputs_from_columns
from synthgrade.serve.batching import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_WAIT_S, DynamicBatcher
from synthgrade.serve.metrics import MetricsMiddleware, ServiceMetrics

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_MAX_BATCH = 256
#: Rows per model call when several requests are merged.
DEFAULT_MAX_ROWS_PER_CALL = 64
#: Seconds a /score request may wait for its model call before it gets 503.
DEFAULT_TIMEOUT_S = 120.0
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


class Issue(BaseModel):
    """One problem with a request: where (``loc``), what (``msg``), and its kind (``type``)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """The body of every error response (400, 401, 404, 405, 413, 422, 500, 503)."""

    detail: str | list[Issue]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "the body could not be decoded (not UTF-8)",
        401: "missing or wrong bearer token",
        413: "request body over the size limit",
        422: "invalid request (each issue located, the input never echoed)",
        503: "scoring took longer than the server's timeout",
    }.items()
}


def _issues(problems: list[RowProblem]) -> list[dict[str, Any]]:
    """Rows the model cannot score as located issues (``problem.row`` is the index in ``responses``)."""
    return [{"loc": ["body", "responses", problem.row], "msg": str(problem), "type": "unscorable"} for problem in problems]


def _shown(part: object, limit: int = 80) -> str | int:
    """A location part or message safe to send back: bounded, and encodable (a key may hold a lone surrogate)."""
    if isinstance(part, int):
        return part
    text = str(part)
    text = text if len(text) <= limit else text[:limit] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _error(status: int, detail: str | list[dict[str, Any]], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


class TokenMiddleware:
    """Check the bearer token before anything reads the body, so an unauthenticated client learns nothing
    about the request format (401, not 422, for a malformed body)."""

    def __init__(self, app: Callable, expected: bytes, open_paths: frozenset[str] = frozenset({"/health"})) -> None:
        self.app = app
        self.expected = expected
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        header = next((value for name, value in scope.get("headers", []) if name == b"authorization"), b"")
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.expected):
            response = _error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


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

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "kind": description["kind"], "uptime_s": round(time.time() - app.state.started, 1)}

    @app.get("/model", responses={401: ERROR_RESPONSES[401]})
    async def model() -> dict[str, Any]:
        return description

    @app.get("/metrics", response_class=PlainTextResponse, responses=ERROR_RESPONSES)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    @app.post("/score", response_model=ScoreResponse, responses=ERROR_RESPONSES)
    async def score(request: ScoreRequest) -> Response:
        if len(request.responses) > max_batch:
            raise HTTPException(
                status_code=422,
                detail=f"{len(request.responses)} responses in one request, over the limit of {max_batch}; split the batch",
            )
        responses = request.responses
        first, second, problems = inputs_from_columns(
            scorer.info,
            [r.text for r in responses],
            [r.item_id for r in responses],
            [r.item_text for r in responses],
            [r.reference for r in responses],
            [f"responses[{i}]" for i in range(len(responses))],
        )
        if problems:
            raise HTTPException(status_code=422, detail=_issues(problems))
        try:
            async with asyncio.timeout(timeout_s):  # unlike wait_for, no extra task per request
                proba = await batcher.score(first, second)
        except TimeoutError:
            raise HTTPException(
                status_code=503, detail=f"scoring took longer than {timeout_s:g} s; retry later or send fewer responses"
            ) from None
        # The body is written here, not by FastAPI from ScoreResponse objects: building, re-validating and
        # serialising those took a sizeable share of a small model's request time (ScoreResponse stays the schema).
        best = proba.argmax(axis=1).tolist()
        results = [
            {"id": r.id, "label": labels[k], "probabilities": dict(zip(labels, row, strict=True))}
            for r, k, row in zip(responses, best, proba.tolist(), strict=True)
        ]
        return Response(content=json.dumps({"labels": labels, "results": results}), media_type="application/json")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Located messages only: pydantic's "input" would echo up to the whole body (1 MB) back.
        issues = [
            {"loc": [_shown(part) for part in e.get("loc", ())], "msg": _shown(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return _error(422, issues)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Never echo internals (paths, headers) to the caller; the server log has the type.
        return JSONResponse(status_code=500, content={"detail": f"internal error while scoring ({type(exc).__name__})"})

    if expected is not None:
        app.add_middleware(TokenMiddleware, expected=expected)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)  # runs before the token check
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts the 413s and 401s too
    return app
