"""What the calls of one run did (:class:`CallStats`, the summary's ``calls``) and the cap on them (:class:`Budget`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallStats:
    """What the calls of one run did; ``as_dict`` goes into the summary JSON."""

    requested: int = 0
    cache_hits: int = 0
    model_calls: int = 0
    completed: int = 0
    failed: int = 0
    refused: int = 0
    empty: int = 0
    truncated: int = 0
    retries: int = 0
    skipped_budget: int = 0
    failures: Counter = field(default_factory=Counter)
    retry_reasons: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    model_seconds: float = 0.0
    load_seconds: float = 0.0
    #: Batch API jobs (openai-batch): id, status and request counts of each, and calls that fell back to live.
    batches: list[dict[str, Any]] = field(default_factory=list)
    live_fallback_calls: int = 0
    live_prompt_tokens: int = 0
    live_completion_tokens: int = 0
    #: Price of the live fallback calls (the batch ones cost ``price``, half the list price).
    live_price: tuple[float, float] | None = None

    def count_result(self, result: dict, cached: bool) -> None:
        if cached:
            self.cache_hits += 1
            self.cached_prompt_tokens += result.get("prompt_tokens", 0)
            self.cached_completion_tokens += result.get("completion_tokens", 0)
        else:
            self.completed += 1
            self.prompt_tokens += result.get("prompt_tokens", 0)
            self.completion_tokens += result.get("completion_tokens", 0)
        if result.get("refusal"):
            self.refused += 1
        elif not (result.get("text") or "").strip():
            self.empty += 1
        if result.get("finish_reason") == "length":
            self.truncated += 1

    def cost(self, price: tuple[float, float] | None) -> dict[str, float | None]:
        if price is None:
            return {"usd_this_run": None, "usd_including_cached": None}
        this_run = (self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1e6
        if self.live_fallback_calls and self.live_price is not None:
            # Fallback calls were paid at the live price, not the batch price the rest of the tokens had.
            extra = (self.live_price[0] - price[0], self.live_price[1] - price[1])
            this_run += (self.live_prompt_tokens * extra[0] + self.live_completion_tokens * extra[1]) / 1e6
        cached = (self.cached_prompt_tokens * price[0] + self.cached_completion_tokens * price[1]) / 1e6
        return {"usd_this_run": round(this_run, 6), "usd_including_cached": round(this_run + cached, 6)}

    def as_dict(self, price: tuple[float, float] | None = None) -> dict[str, Any]:
        batch = (
            {"batch": {"jobs": self.batches, "live_fallback_calls": self.live_fallback_calls, "price_per_mtok": price}}
            if self.batches
            else {}
        )
        return {
            **batch,
            "requested": self.requested,
            "cache_hits": self.cache_hits,
            "model_calls": self.model_calls,
            "completed": self.completed,
            "failed": self.failed,
            "failures": dict(sorted(self.failures.items())),
            "retries": self.retries,
            "retry_reasons": dict(sorted(self.retry_reasons.items())),
            "refused": self.refused,
            "empty": self.empty,
            "truncated": self.truncated,
            "skipped_budget": self.skipped_budget,
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "cached_prompt": self.cached_prompt_tokens,
                "cached_completion": self.cached_completion_tokens,
            },
            "model_load_s": round(self.load_seconds, 2),
            "model_seconds": round(self.model_seconds, 2),
            "completion_tokens_per_s": round(self.completion_tokens / self.model_seconds, 2) if self.model_seconds else None,
            "cost": self.cost(price),
        }


class Budget:
    """A hard cap on model calls started in this run (``None`` = unlimited); retries are not new calls."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        if self.limit is not None and self.used >= self.limit:
            return False
        self.used += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit
