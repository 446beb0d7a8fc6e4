"""All settings of ``synthgrade build`` as one pydantic model (the CLI options map onto its fields)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthgrade.generate.config import check_temperatures
from synthgrade.generate.strategies import STRATEGIES
from synthgrade.models import DEFAULT_GENERATOR
from synthgrade.train.selftrain import DEFAULT_CAP


class BuildConfig(BaseModel):
    """What ``build`` does with a human-coded file; every field has a default that runs on 2 CPU cores."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    # data
    labels: list[str] | None = None
    split_by: Literal["answer", "item"] = "answer"
    val: float = Field(0.2, gt=0.0, lt=1.0, description="share of the rows for validation (selection only)")
    test: float = Field(0.2, ge=0.0, lt=1.0, description="share set aside as the untouched test rows (0 with --test FILE)")
    seed: int = 0
    # scorer
    model: str = Field("auto", description="scorer for the human-only model; the grid reuses the kind it picked")
    candidates: list[str] | None = None
    # generation
    backend: str | None = Field(None, description="generation backend (None = the generate stage's default)")
    generator: str = DEFAULT_GENERATOR
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="environment variable holding the --base-url server's key")
    request_timeout: float = Field(120.0, gt=0, description="seconds one generation request may take before a retry")
    strategies: list[str] = Field(default_factory=lambda: ["paraphrase", "contrast"])
    temperatures: list[float] = Field(default_factory=lambda: [0.3])
    max_per_group: int = Field(12, ge=1, description="synthetic rows asked for per strategy, item and label at most")
    max_tokens: int = Field(256, ge=16)
    max_rounds: int = Field(2, ge=1, description="generation rounds: the second tops up groups that cleaning left short")
    # filter: keep rows whose intended label the human-only scorer supports with this probability
    filter: Literal["classifier", "off"] = "classifier"
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    # self-training: uncoded responses the human-only scorer labels confidently join the grid as one more set
    unlabeled: str | None = Field(None, description="uncoded responses (any format validate reads; labels ignored)")
    pseudo_cap: float = Field(
        DEFAULT_CAP, gt=0, description="pseudo-labelled rows per item at most, times its coded training rows"
    )
    # grid
    shares: list[float] = Field(default_factory=lambda: [0.5, 0.8], description="synthetic share of the training rows")
    weights: list[float] = Field(default_factory=lambda: [0.5, 1.0], description="sample weight of a synthetic row")
    # decision: ship synthetic data only when the one-sided lower bound of the held-out gain (validation + out-of-fold) > margin
    margin: float = Field(0.0, ge=0.0)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    bootstrap: int = Field(2000, ge=100)
    # student
    student: str = Field("auto", description="auto, none, static, or an encoder for a hybrid student")
    # cost
    time_budget: float = Field(
        15.0, gt=0, description="minutes for generation and the grid; cells that would overrun are skipped"
    )

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in STRATEGIES:
                raise ValueError(f"unknown strategy '{name}': use {', '.join(STRATEGIES)}")
        return list(dict.fromkeys(value))

    @field_validator("shares")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        for share in value:
            if not 0.0 < share < 1.0:
                raise ValueError(f"share {share} must be between 0 and 1 (exclusive); human-only is always trained")
        return sorted(set(value))

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: list[float]) -> list[float]:
        for weight in value:
            if not weight > 0:
                raise ValueError(f"weight {weight} must be positive")
        return sorted(set(value))

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: list[float]) -> list[float]:
        return sorted(set(check_temperatures(value)))

    @model_validator(mode="after")
    def _fractions(self) -> BuildConfig:
        if self.val + self.test >= 0.9:
            raise ValueError("val + test must leave at least 10% of the rows for training")
        return self

    @property
    def augment(self) -> bool:
        return bool(self.strategies and self.shares and self.temperatures)
