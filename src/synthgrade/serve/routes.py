"""The service's routes (``/health``, ``/model``, ``/metrics``, ``/score``) and its error handlers."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from synthgrade.modeling import Scorer, inputs_from_columns
from synthgrade.serve.batching import DynamicBatcher
from synthgrade.serve.metrics import ServiceMetrics
from synthgrade.serve.middleware import error_response, safe_part
from synthgrade.serve.schemas import ERROR_RESPONSES, ScoreRequest, ScoreResponse, row_issues


def add_routes(
    app: FastAPI, scorer: Scorer, batcher: DynamicBatcher, metrics: ServiceMetrics, description: dict[str, Any],
    max_batch: int, timeout_s: float,
) -> None:  # fmt: skip
    """``GET /health``, ``/model``, ``/metrics`` and ``POST /score`` on ``app``."""
    labels = list(scorer.labels)

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
            raise HTTPException(status_code=422, detail=row_issues(problems))
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


def add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"detail": ...}``, located, never echoing the request or the server's internals."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Located messages only: pydantic's "input" would echo up to the whole body (1 MB) back.
        issues = [
            {
                "loc": [safe_part(part) for part in e.get("loc", ())],
                "msg": safe_part(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return error_response(422, issues)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Never echo internals (paths, headers) to the caller; the server log has the type.
        return JSONResponse(status_code=500, content={"detail": f"internal error while scoring ({type(exc).__name__})"})
