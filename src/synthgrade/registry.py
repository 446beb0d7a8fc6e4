"""Former home of :mod:`synthgrade.models`, kept only for the modules that still import from it.

Everything here lives in :mod:`synthgrade.models` (``catalog``, ``assembly``, ``resolve``); new code imports
from there. Remove this module once ``scorers/``, ``generate/`` and ``build/`` import ``synthgrade.models``.
"""

from synthgrade.models import (
    DEFAULT_ENCODER,
    DEFAULT_GENERATOR,
    REGISTRY,
    ResolvedModel,
    assembly_installed,
    model_cache_dir,
    offline_error,
    resolve_model,
)

__all__ = [
    "DEFAULT_ENCODER",
    "DEFAULT_GENERATOR",
    "REGISTRY",
    "ResolvedModel",
    "assembly_installed",
    "model_cache_dir",
    "offline_error",
    "resolve_model",
]
