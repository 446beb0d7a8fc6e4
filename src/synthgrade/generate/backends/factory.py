"""Backends by name: the :data:`BACKENDS` table, what ``auto`` resolves to, and :func:`make_backend`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.generate.backends.base import Backend
from synthgrade.generate.backends.llamacpp import LlamaCppBackend
from synthgrade.generate.backends.local import TransformersBackend
from synthgrade.generate.backends.openai_api import OpenAIBackend
from synthgrade.models import REGISTRY


def llamacpp_available() -> bool:
    """Whether llama-cpp-python is importable (checked without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def is_gguf_model(model: str) -> bool:
    """A registered GGUF generator, a ``.gguf`` file, or a folder holding one (nothing is assembled or loaded)."""
    entry = REGISTRY.get(model)
    if entry is not None:
        return entry.gguf_glob is not None
    path = Path(model).expanduser()
    return path.suffix.lower() == ".gguf" or (path.is_dir() and any(path.glob("*.gguf")))


def resolve_backend(name: str, model: str) -> str:
    """The engine a backend name runs on: ``auto`` is ``llamacpp`` for a GGUF model when llama-cpp-python is
    importable (about 3x faster on CPU) and ``local`` (transformers) otherwise; other names are unchanged."""
    if name != "auto":
        return name
    return "llamacpp" if is_gguf_model(model) and llamacpp_available() else "local"


def _auto(model: str, base_url: str | None, batch_size: int, timeout: float, batch: Any) -> Backend:
    return make_backend(resolve_backend("auto", model), model, base_url, batch_size, timeout, batch)


#: Backends by name: (factory(model, base_url, batch_size, timeout, batch policy), takes a server URL).
#: ``openai-batch`` joins from :mod:`synthgrade.generate.batch`, which builds on :class:`OpenAIBackend`
#: (``synthgrade.generate`` imports it, so the entry is there whenever this module is).
BACKENDS: dict[str, tuple[Any, bool]] = {
    "auto": (_auto, False),
    "local": (lambda model, base_url, batch_size, timeout, batch: TransformersBackend(model, batch_size), False),
    "openai": (lambda model, base_url, batch_size, timeout, batch: OpenAIBackend(model, base_url, timeout), True),
    "llamacpp": (lambda model, base_url, batch_size, timeout, batch: LlamaCppBackend(model), False),
}


def make_backend(
    name: str,
    model: str,
    base_url: str | None = None,
    batch_size: int = 8,
    timeout: float = 120.0,
    batch: Any = None,
    api_key_env: str | None = None,
) -> Backend:
    """The backend registered as ``name`` in :data:`BACKENDS`; ``batch`` is the openai-batch BatchPolicy;
    ``api_key_env`` names the environment variable holding the server's key (servers only)."""
    if name not in BACKENDS:
        raise SynthgradeError(f"unknown backend '{name}': use {', '.join(BACKENDS)}")
    factory, takes_url = BACKENDS[name]
    if base_url and not takes_url:
        raise ParameterError("base_url", f"applies to the openai backends only, not '{name}'")
    if api_key_env and not takes_url:
        raise ParameterError("api_key_env", f"applies to the openai backends only, not '{name}'")
    backend = factory(model, base_url, batch_size, timeout, batch)
    if api_key_env:
        backend.api_key_env = api_key_env  # type: ignore[attr-defined]
    return backend
