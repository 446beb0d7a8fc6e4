"""How long to wait before retrying a transient failure, and which failures mean the server is gone."""

from __future__ import annotations

from tenacity import RetryCallState, wait_random_exponential
from tenacity.wait import wait_base

from synthgrade.generate.config import RetryPolicy

#: Failed attempts that say the server is gone (nothing listens, no answer in time, a broken body) rather than busy.
DEAD_SERVER_KINDS = frozenset({"connection_error", "timeout", "malformed_response"})


class BackoffWait(wait_base):
    """tenacity wait: full-jitter exponential backoff (attempt k waits up to ``base_delay * 2**k``), a server's
    Retry-After honoured as the minimum wait, and ``max_delay`` capping both."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        # tenacity caps the window before drawing; the cap applies again below, after Retry-After.
        self.jitter = wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        delay = self.jitter(retry_state)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.policy.max_delay)
