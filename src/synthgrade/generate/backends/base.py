"""What every backend shares: the request, the stored completion, the two failure kinds and the interface.

A backend answers :class:`ChatRequest` objects with :func:`completion` dictionaries (what the cache stores).
Transient failures raise :class:`RetryableError` (the runner retries them), permanent ones :class:`CallFailed`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

REFUSAL = re.compile(
    r"^\s*(?:i'?m sorry|i am sorry|sorry,|i apologi[sz]e|as an ai\b|i can(?:no|')t (?:help|assist|provide|comply|do that|write)|"
    r"i (?:cannot|can't|won't|will not) (?:help|assist|provide|comply|write|generate|create))",
    re.IGNORECASE,
)


@dataclass
class ChatRequest:
    """One model call: messages + sampling parameters. ``key`` addresses it in the cache."""

    key: str
    messages: list[dict[str, str]]
    temperature: float
    top_p: float
    max_tokens: int
    seed: int
    meta: dict[str, Any] = field(default_factory=dict)
    #: True when the one message's text is to be continued as it is (a base model), not chat-formatted.
    continuation: bool = False

    def record(self) -> dict[str, Any]:
        """What the cache stores about the request (no credentials, no base URL)."""
        record = {
            "messages": self.messages,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        if self.continuation:
            record["continuation"] = True
        return record


def completion(
    text: str | None, finish_reason: str | None, prompt_tokens: int, completion_tokens: int, refusal: str | None = None
) -> dict:
    """A completed call as stored in the cache."""
    text = text or ""
    if refusal is None and (finish_reason == "content_filter" or REFUSAL.match(text)):
        refusal = text[:200] or (finish_reason or "refused")
    return {
        "text": text,
        "finish_reason": finish_reason or "stop",
        "prompt_tokens": int(prompt_tokens or 0),
        "completion_tokens": int(completion_tokens or 0),
        "refusal": refusal,
    }


class RetryableError(Exception):
    """A transient failure (429, 5xx, timeout, connection, malformed body): retry after backoff."""

    def __init__(self, kind: str, retry_after: float | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.retry_after = retry_after


class CallFailed(Exception):
    """A failure retrying will not fix for this call (e.g. 400); the call is counted as failed."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Backend:
    """``complete`` (async, one call) for servers; ``complete_batch`` (sync, several calls) for local models."""

    name: str = ""
    batch_size: int = 1
    #: True when calls run in this process (one batch at a time in a worker thread)
    in_process: bool = False
    #: (input, output) US dollars per million tokens, when known
    price: tuple[float, float] | None = None
    #: True when calls are submitted together as one job and answered later (``complete_deferred``)
    deferred: bool = False
    #: True when the backend can continue raw text (continuation prompts for base models), not only chat
    continues_text: bool = False

    def __init__(self, model: str) -> None:
        self.model = model
        self.loaded = False

    def load(self) -> None:
        """Load weights (in-process backends); a no-op for servers."""

    async def complete(self, request: ChatRequest) -> dict:
        raise NotImplementedError

    def complete_batch(self, requests: list[ChatRequest]) -> list[dict]:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None

    def check_reachable(self) -> None:
        """Fail fast when the backend's server cannot be reached (servers only; a no-op in process)."""


#: Loaded local models per process, by (engine, model): a sweep over temperatures loads SmolLM2 once, not once per run.
LOADED_MODELS: dict[tuple[str, str], Any] = {}
