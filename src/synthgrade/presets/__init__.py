"""Shipped sweep presets: the paper's three experiments, a human-budget curve, and the demo.

Each preset is a YAML sweep config whose ``data.path`` is a placeholder; ``synthgrade sweep PRESET
--data FILE`` fills it in (``synthgrade presets NAME`` prints one to copy and edit).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.experiment.config import SweepConfig, load_sweep_config, sweep_config_from_dict

PRESET_DIR = Path(__file__).parent


def list_presets() -> list[dict[str, str]]:
    out = []
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out.append({"name": path.stem, "description": str(data.get("description", "")).strip(), "path": str(path)})
    return out


def preset_path(name: str) -> Path:
    path = PRESET_DIR / f"{name.removeprefix('preset:')}.yaml"
    if not path.is_file():
        known = ", ".join(p["name"] for p in list_presets())
        raise SynthgradeError(f"no preset named '{name}'; presets: {known}")
    return path


def load_config_or_preset(spec: str, data: str | Path | None = None) -> SweepConfig:
    """A sweep config from a YAML path or a preset name; ``data`` replaces ``data.path`` (relative to the cwd)."""
    path = Path(spec)
    if path.suffix.lower() in {".yaml", ".yml"} or path.exists():
        config = load_sweep_config(path)
        source = str(path)
    else:
        path = preset_path(spec)
        source = f"preset {path.stem}"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if data is None and str(raw.get("data", {}).get("path", "")).startswith("@"):
            need = f"is missing: preset '{path.stem}' needs your data (a human-coded CSV/JSONL/Parquet file)"
            raise ParameterError("data", need)
        config = sweep_config_from_dict(raw, source, PRESET_DIR)
    if data is not None:
        fields = config.model_dump(mode="json")
        fields["data"]["path"] = str(Path(data).expanduser().resolve())
        if config.data.test_path:
            fields["data"]["test_path"] = str(config.resolve_path(config.data.test_path))
        config = sweep_config_from_dict(fields, source, config.base_dir)
    return config
