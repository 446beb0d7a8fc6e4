"""The sweep configuration: one YAML file describing data, generation, filtering, mixing, models and seeds.

Every list-valued field (``generation.temperatures``, ``filter.modes``, ``mix.ratios``,
``human_budgets``, ``seeds``) is a sweep axis; the sweep runs their cross product. Validation errors
name the bad key (``mix.ratios[2]: ...``) in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthgrade.errors import SynthgradeError
from synthgrade.generate.config import check_temperatures
from synthgrade.models import DEFAULT_GENERATOR
from synthgrade.scorers import TrainingArguments


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class SplitConfig(_Strict):
    """How the human-coded data is split once per sweep (test rows never reach generation or training)."""

    by: Literal["answer", "item"] = "answer"
    seed: int = 0
    val: float = Field(0.15, ge=0.0, lt=1.0)
    test: float = Field(0.15, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.val + self.test >= 1.0:
            raise ValueError("val + test must leave rows for training")
        return self


class DataConfig(_Strict):
    """Where the human-coded data comes from. Relative paths are relative to the YAML file."""

    path: str = Field(description="Human-coded file or SemEval XML folder (the training pool)")
    test_path: str | None = Field(None, description="An official held-out test file; then `split.test` must be 0")
    labels: list[str] | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="canonical name -> source column")
    split: SplitConfig = Field(default_factory=SplitConfig)
    max_items: int | None = Field(None, ge=1, description="Use this many items, drawn with the split seed (quick runs)")
    max_train_rows: int | None = Field(None, ge=1, description="Subsample the training pool (stratified by the split seed)")
    max_test_rows: int | None = Field(None, ge=1, description="Subsample the test split (for quick runs)")

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {"text", "label", "id", "item_id", "item_text", "reference"}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(f"unknown column role {unknown[0]!r}; use one of {sorted(allowed)}")
        return value

    @model_validator(mode="after")
    def _test_split(self) -> DataConfig:
        if self.test_path is not None and self.split.test > 0:
            self.split = self.split.model_copy(update={"test": 0.0})
        if self.test_path is None and self.split.test <= 0:
            raise ValueError("split.test is 0 and no test_path is given: nothing to evaluate on")
        return self


class GenerationSweep(_Strict):
    """Synthetic generation; ``temperatures`` is a sweep axis, everything else is fixed.

    Fields left out (None) take the generation stage's defaults; ``options`` passes any other
    ``GenerationConfig`` field (``per_call``, ``batch_size``, cleaning thresholds, ...).
    """

    backend: Literal["auto", "local", "openai", "openai-batch", "llamacpp"] = "auto"
    model: str = DEFAULT_GENERATOR
    base_url: str | None = None
    temperatures: list[float] = Field(default_factory=lambda: [0.3], min_length=1)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    per_label: int | Literal["auto"] = Field(
        "auto", description="Synthetic responses per label (per item); auto = enough for the largest ratio, with a margin"
    )
    examples: int | None = Field(None, ge=0, description="Human-coded examples shown in each prompt")
    max_tokens: int | None = Field(None, ge=16)
    concurrency: int | None = Field(None, ge=1)
    max_requests: int | None = Field(None, ge=1)
    prompt: str | None = None
    #: One synthetic set per temperature for all seeds (generated with the first seed). The human rows
    #: of a budget are then drawn once (with the split seed) for every trial, so seeds measure the
    #: variation of mixing and training only; cheaper when generation is slow.
    share_across_seeds: bool = False
    options: dict[str, Any] = Field(default_factory=dict, description="Other GenerationConfig fields")

    @field_validator("per_label")
    @classmethod
    def _per_label(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"per_label must be at least 1 or 'auto', got {value}")
        return value

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: list[float]) -> list[float]:
        return check_temperatures(value)


class FilterSweep(_Strict):
    """Consistency filtering; ``modes`` is a sweep axis of ``off`` and ``on``."""

    modes: list[Literal["off", "on"]] = Field(default_factory=lambda: ["off"], min_length=1)
    method: str | list[str] = "neighbours"
    options: dict[str, Any] = Field(default_factory=dict, description="Other FilterConfig fields")


class MixSweep(_Strict):
    """Synthetic share of the training set; ``ratios`` is a sweep axis (0 = human only)."""

    ratios: list[float] = Field(default_factory=lambda: [0.0, 0.8], min_length=1)
    #: addon: keep every human row and add synthetic ones up to the share (the paper's setting);
    #: fixed-total: ``total`` rows (default: as many as the trial's human rows), ``ratio`` of them synthetic.
    mode: Literal["addon", "fixed-total"] = "addon"
    total: int | None = Field(None, ge=1)
    #: When a synthetic set has too few rows of a label for a ratio: ``error`` fails the trial;
    #: ``shrink`` (fixed-total only) lowers the total until the set suffices, keeping the share exact,
    #: and the result row records the rows used.
    shortfall: Literal["error", "shrink"] = "error"

    @model_validator(mode="after")
    def _addon_ratio(self) -> MixSweep:
        if self.mode == "addon" and any(r >= 1.0 for r in self.ratios):
            raise ValueError("ratio 1.0 (synthetic only) needs mode: fixed-total; addon keeps every human row")
        if self.shortfall == "shrink" and self.mode != "fixed-total":
            raise ValueError("shortfall: shrink needs mode: fixed-total (addon keeps every human row)")
        return self

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, value: list[float]) -> list[float]:
        for r in value:
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"ratio {r} is outside 0..1 (it is the synthetic share of the training set)")
        return value


class TeacherConfig(_Strict):
    """The classifier fine-tuned on each trial's mixed training set (``TrainingArguments``)."""

    model: str = "minilm-l6"
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(5e-5, gt=0)
    max_length: int = Field(TrainingArguments.max_length, ge=8)
    input: Literal["auto", "response", "pair"] = "auto"
    patience: int = Field(2, ge=0)
    options: dict[str, Any] = Field(default_factory=dict, description="Other TrainingArguments fields")


class StudentConfig(_Strict):
    """A distilled student: ``static``, ``layers:K`` or any encoder name."""

    model: str
    name: str | None = None
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float | None = Field(None, gt=0, description="Default: the distillation stage's per-student default")
    #: Transfer set: the teacher's training rows (human + synthetic) or the human rows only.
    transfer: Literal["mixed", "human"] = "mixed"
    options: dict[str, Any] = Field(default_factory=dict, description="Other DistillationArguments fields")

    @property
    def label(self) -> str:
        return self.name or self.model


class EvaluationConfig(_Strict):
    bootstrap: int = Field(1000, ge=0)
    metric: Literal["accuracy", "macro_f1", "kappa", "qwk", "auc"] = "macro_f1"
    speed: bool = True
    speed_rows: int = Field(256, ge=1)


class SweepConfig(_Strict):
    """A whole sweep. ``base_dir`` (not in YAML) anchors relative paths."""

    name: str = "sweep"
    description: str = ""
    data: DataConfig
    generation: GenerationSweep = Field(default_factory=GenerationSweep)
    filter: FilterSweep = Field(default_factory=FilterSweep)
    mix: MixSweep = Field(default_factory=MixSweep)
    human_budgets: list[int | Literal["all"]] = Field(
        default_factory=lambda: ["all"], min_length=1, description="Human rows per item (per data set without items)"
    )
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    students: list[StudentConfig] = Field(default_factory=list)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    keep_models: bool = False
    cache_dir: str | None = Field(None, description="Generation cache folder (default: $SYNTHGRADE_CACHE or the user cache)")
    base_dir: str = Field(".", exclude=True)

    @field_validator("human_budgets")
    @classmethod
    def _budgets(cls, value: list[int | str]) -> list[int | str]:
        for b in value:
            if isinstance(b, int) and b < 1:
                raise ValueError(f"human budget {b} must be at least 1 (or 'all')")
        return value

    @field_validator("seeds", "human_budgets")
    @classmethod
    def _unique(cls, value: list) -> list:
        if len(set(map(str, value))) != len(value):
            raise ValueError("lists a value twice")
        return value

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    def needs_synthetic(self) -> bool:
        return any(r > 0 for r in self.mix.ratios)


def _error_location(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) in {"literal['all']", "int"}:  # union branch names say nothing to a user
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError, source: str) -> SynthgradeError:
    """One line naming the file, the key and the problem; the rest listed as extra problems."""
    problems = []
    for error in exc.errors():
        where = _error_location(tuple(error["loc"]))
        if error["type"] == "extra_forbidden":
            message = f"{source}: unknown key '{where}'"
        elif error["type"] == "missing":
            message = f"{source}: missing required key '{where}'"
        else:
            detail = error["msg"].removeprefix("Value error, ")
            message = f"{source}: {where}: {detail} (got {error.get('input')!r})"
        if message not in problems:
            problems.append(message)
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return SynthgradeError(problems[0] + more, problems)


def sweep_config_from_dict(data: Any, source: str = "config", base_dir: str | Path = ".") -> SweepConfig:
    if not isinstance(data, dict):
        raise SynthgradeError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        config = SweepConfig.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, source) from None
    config.base_dir = str(base_dir)
    return config


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML file; every problem raises :class:`SynthgradeError` naming the key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SynthgradeError(f"{path}: no such sweep config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SynthgradeError(f"{path}{where}: invalid YAML ({problem})") from None
    return sweep_config_from_dict(data, str(path), path.parent.resolve())
