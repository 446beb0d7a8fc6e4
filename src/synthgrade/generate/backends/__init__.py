"""Chat backends behind one small interface, one module per concept.

``openai`` (:mod:`.openai_api`): the official async client against any OpenAI-compatible server (key from
OPENAI_API_KEY only); ``local`` (:mod:`.local`): SmolLM2 (or any causal LM) through transformers, several
prompts per forward pass with left padding; ``llamacpp`` (:mod:`.llamacpp`): in-process llama-cpp-python.
:mod:`.base` holds the request, the stored completion and the interface, :mod:`.prices` the list prices,
:mod:`.retry_after` the server's ``Retry-After``, and :mod:`.factory` the :data:`BACKENDS` table.
Models load lazily on the first uncached call, so a run answered entirely from the cache loads nothing.
"""

from synthgrade.generate.backends.base import (
    LOADED_MODELS,
    REFUSAL,
    Backend,
    CallFailed,
    ChatRequest,
    RetryableError,
    completion,
)
from synthgrade.generate.backends.factory import BACKENDS, is_gguf_model, llamacpp_available, make_backend, resolve_backend
from synthgrade.generate.backends.llamacpp import LlamaCppBackend
from synthgrade.generate.backends.local import TransformersBackend
from synthgrade.generate.backends.openai_api import CONNECT_CHECK_S, OPENAI_HOSTS, OpenAIBackend
from synthgrade.generate.backends.prices import PRICES, price_for
from synthgrade.generate.backends.retry_after import parse_retry_after

__all__ = [
    "BACKENDS",
    "CONNECT_CHECK_S",
    "LOADED_MODELS",
    "OPENAI_HOSTS",
    "PRICES",
    "REFUSAL",
    "Backend",
    "CallFailed",
    "ChatRequest",
    "LlamaCppBackend",
    "OpenAIBackend",
    "RetryableError",
    "TransformersBackend",
    "completion",
    "is_gguf_model",
    "llamacpp_available",
    "make_backend",
    "parse_retry_after",
    "price_for",
    "resolve_backend",
]
