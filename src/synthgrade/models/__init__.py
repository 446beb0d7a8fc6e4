"""The packaged models: which exist and where their PyPI parts are (:mod:`~synthgrade.models.catalog`), how a
model split over several packages is joined (:mod:`~synthgrade.models.assembly`), and how a name becomes a
folder or a hub id (:mod:`~synthgrade.models.resolve`)."""

from synthgrade.models.assembly import assemble, assembly_installed, model_cache_dir
from synthgrade.models.catalog import DEFAULT_ENCODER, DEFAULT_GENERATOR, REGISTRY, Assembly, ModelEntry, numbered_parts
from synthgrade.models.resolve import ResolvedModel, list_models, offline_error, resolve_model

__all__ = [
    "DEFAULT_ENCODER",
    "DEFAULT_GENERATOR",
    "REGISTRY",
    "Assembly",
    "ModelEntry",
    "ResolvedModel",
    "assemble",
    "assembly_installed",
    "list_models",
    "model_cache_dir",
    "numbered_parts",
    "offline_error",
    "resolve_model",
]
