"""Generation settings as one pydantic model (the CLI options map onto its fields one to one)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthgrade.errors import SynthgradeError
from synthgrade.generate.strategies import DEFAULT_STRATEGY, check_strategy_names
from synthgrade.io import cache_dir
from synthgrade.models import DEFAULT_ENCODER, DEFAULT_GENERATOR

BackendName = Literal["auto", "local", "openai", "openai-batch", "llamacpp"]
#: The sampling temperatures generation accepts (GenerationConfig.temperature, and every config that sweeps it).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.0, 2.0


def check_temperatures(values: list[float]) -> list[float]:
    """``values`` unchanged if every temperature is in range; a ``ValueError`` (for a pydantic validator) if not."""
    for t in values:
        if not MIN_TEMPERATURE <= t <= MAX_TEMPERATURE:
            raise ValueError(f"temperature {t} is outside {MIN_TEMPERATURE:g}..{MAX_TEMPERATURE:g}")
    return values


class RetryPolicy(BaseModel):
    """Exponential backoff with full jitter; a server's Retry-After wins when it asks for longer."""

    model_config = ConfigDict(extra="forbid")

    max_retries: int = Field(6, ge=0, description="retries per call after the first attempt")
    base_delay: float = Field(1.0, ge=0, description="seconds; attempt k waits up to base_delay * 2**k")
    max_delay: float = Field(60.0, ge=0, description="cap on one wait, Retry-After included")
    timeout: float = Field(120.0, gt=0, description="seconds per request")


class BatchPolicy(BaseModel):
    """How the ``openai-batch`` backend waits for OpenAI's Batch API and what it does with requests a batch misses."""

    model_config = ConfigDict(extra="forbid")

    fallback: Literal["batch", "live", "none"] = Field(
        "batch", description="requests a batch misses (expired, failed, 5xx): a follow-up batch, live calls, or none"
    )
    follow_ups: int = Field(2, ge=0, description="follow-up batches at most, with fallback 'batch'")
    poll_interval: float = Field(30.0, gt=0, description="seconds between status checks")
    max_wait: float | None = Field(
        None, gt=0, description="stop waiting after this many seconds (the batch goes on; a rerun resumes it)"
    )
    max_per_batch: int = Field(50_000, ge=1, description="requests per batch file (the API's limit is 50,000)")


class GenerationConfig(BaseModel):
    """Everything that decides which calls are made and which rows are kept."""

    model_config = ConfigDict(extra="forbid")

    #: auto = llama.cpp when llama-cpp-python is installed and the model is a GGUF, else transformers (local).
    backend: BackendName = "auto"
    model: str = DEFAULT_GENERATOR
    strategy: list[str] = Field(
        default_factory=lambda: [DEFAULT_STRATEGY],
        description="augmentation strategies (generate, paraphrase, contrast); per_label rows are wanted from each",
    )
    base_url: str | None = None
    #: The environment variable holding the key for a --base-url server (its name, never the key itself).
    api_key_env: str | None = None
    temperature: float = Field(0.3, ge=MIN_TEMPERATURE, le=MAX_TEMPERATURE)
    top_p: float = Field(1.0, gt=0, le=1)
    per_label: int = Field(10, ge=1, description="kept responses wanted per label (per item when there are items)")
    per_call: int = Field(5, ge=1, le=50, description="responses asked for in one call")
    examples: int = Field(5, ge=0, description="human examples shown per prompt, drawn per call")
    max_tokens: int = Field(256, ge=16)
    concurrency: int = Field(4, ge=1)
    batch_size: int = Field(8, ge=1, description="prompts generated together by the local backend")
    max_requests: int | None = Field(None, ge=0, description="hard budget of model calls for this run")
    max_rounds: int = Field(3, ge=1, description="call rounds; later rounds top up groups short of per_label")
    seed: int = 0
    prompt: Path | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    batch: BatchPolicy = Field(default_factory=BatchPolicy)
    # Cleaning thresholds
    embedder: str | None = Field(DEFAULT_ENCODER, description="sentence encoder for similarity checks; None = exact only")
    near_duplicate: float = Field(0.92, gt=0, le=1, description="cosine at or above which two synthetic rows are duplicates")
    leakage_threshold: float = Field(0.9, gt=0, le=1, description="cosine to an --exclude row at or above which a row is dropped")
    example_copy_threshold: float = Field(0.95, gt=0, le=1, description="cosine to a shown example counted as a copy")
    min_chars: int = Field(3, ge=1)
    max_chars: int = Field(600, ge=1)
    min_words: int = Field(1, ge=1)

    @field_validator("strategy", mode="before")
    @classmethod
    def _check_strategy(cls, value: object) -> list[str]:
        names = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
        try:
            return check_strategy_names([str(n) for n in names])
        except SynthgradeError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check(self) -> GenerationConfig:
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) is above max_chars ({self.max_chars})")
        if self.prompt is not None and len(self.strategy) > 1:
            raise ValueError("a prompt file replaces one strategy's template: give one strategy with it")
        return self

    def public_dict(self) -> dict:
        """The settings as recorded in summaries (no secrets live in the config)."""
        data = self.model_dump(mode="json")
        data["prompt"] = str(self.prompt) if self.prompt else None
        return data


def default_cache_dir() -> Path:
    """``$SYNTHGRADE_CACHE``, else the user cache folder (e.g. ~/.cache/synthgrade)."""
    return cache_dir()
