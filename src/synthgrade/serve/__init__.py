"""HTTP scoring service: ``create_app`` builds the FastAPI app (``schemas``: bodies; ``middleware``: size limit and
token; ``routes``: endpoints and error handlers), ``run_server`` serves it with uvicorn."""

from synthgrade.serve.app import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, create_app, model_description
from synthgrade.serve.batching import DynamicBatcher
from synthgrade.serve.middleware import BodyLimitMiddleware
from synthgrade.serve.schemas import ScoreRequest, ScoreResponse
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
