"""HTTP scoring service: ``create_app`` builds the FastAPI app, ``run_server`` serves it with uvicorn."""

from synthgrade.serve.app import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_BODY_BYTES,
    BodyLimitMiddleware,
    ScoreRequest,
    ScoreResponse,
    create_app,
    model_description,
)
from synthgrade.serve.batching import DynamicBatcher
from synthgrade.serve.server import check_binding, is_loopback, run_server

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY_BYTES",
    "BodyLimitMiddleware",
    "DynamicBatcher",
    "ScoreRequest",
    "ScoreResponse",
    "check_binding",
    "create_app",
    "is_loopback",
    "model_description",
    "run_server",
]
