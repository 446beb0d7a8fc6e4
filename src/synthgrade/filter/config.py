"""Filter settings as one pydantic model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthgrade.generate.config import BackendName, BatchPolicy, RetryPolicy
from synthgrade.models import DEFAULT_ENCODER

METHODS = ("llm", "neighbours", "classifier")


class FilterConfig(BaseModel):
    """``method`` is one method or a list applied in order (each step sees the rows the last one kept)."""

    model_config = ConfigDict(extra="forbid")

    method: list[str] = Field(default_factory=lambda: ["llm"])
    keep: Literal["consistent", "all"] = "consistent"
    # llm
    votes: int = Field(1, ge=1, le=15)
    backend: BackendName = "local"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="environment variable holding the --base-url server's key")
    temperature: float | None = Field(None, ge=0, le=2, description="default 0 with one vote, 0.7 with several")
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(160, ge=8)
    examples: int = Field(2, ge=0, description="scored human examples per label shown to the grader")
    prompt: Path | None = None
    concurrency: int = Field(4, ge=1)
    batch_size: int = Field(8, ge=1)
    max_requests: int | None = Field(None, ge=0)
    seed: int = 0
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    batch: BatchPolicy = Field(default_factory=BatchPolicy)
    # neighbours
    k: int = Field(5, ge=1)
    embedder: str = DEFAULT_ENCODER
    # classifier
    classifier: str | None = None
    min_confidence: float = Field(0.0, ge=0, le=1)

    @field_validator("method", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        out = []
        for entry in value or []:  # type: ignore[union-attr]
            out.extend(part.strip() for part in str(entry).split(",") if part.strip())
        return out

    @model_validator(mode="after")
    def _check(self) -> FilterConfig:
        methods = []
        for entry in self.method:
            name, _, target = entry.partition(":")
            if name not in METHODS:
                raise ValueError(f"unknown method '{entry}': use llm, neighbours or classifier[:MODEL_DIR]")
            if name == "classifier" and target:
                self.classifier = target
            methods.append(name)
        if not methods:
            raise ValueError("give at least one method")
        if "classifier" in methods and not self.classifier:
            raise ValueError("method 'classifier' needs a model directory (set classifier, or give the method as classifier:DIR)")
        self.method = methods
        return self

    @property
    def grading_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.votes == 1 else 0.7
