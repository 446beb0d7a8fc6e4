"""The ``openai-batch`` backend: the same chat calls through OpenAI's Batch API (half price, 24 h window).

Requests are written as one JSONL file (``custom_id`` = the call's cache key), uploaded, and submitted
as a batch; the batch id is recorded per request in the call cache *before* waiting, so a run killed
while waiting resumes the same batch instead of paying twice. The run polls the batch (its counts
drive the progress bar), downloads the output and error files and hands each answer to the runner,
which caches and cleans it exactly like a live answer. Requests a batch misses (expired, failed batch,
5xx lines) go into a follow-up batch (``fallback="batch"``) or out as live calls (``fallback="live"``);
requests the API refused (4xx lines) are counted as failed, as live calls would be.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from synthgrade.console import console
from synthgrade.errors import SynthgradeError
from synthgrade.generate.backends import BACKENDS, Backend, ChatRequest, OpenAIBackend, completion
from synthgrade.generate.config import BatchPolicy
from synthgrade.io import stable_hash, write_text_atomic

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"
#: The Batch API bills half the list price.
BATCH_DISCOUNT = 0.5
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: Missed-request kinds a new attempt may fix (everything else is the request's own fault).
RETRYABLE_PREFIXES = ("batch_", "http_408", "http_429", "http_5", "malformed_response")

Missed = tuple[ChatRequest, str, bool]


def request_line(model: str, request: ChatRequest) -> dict[str, Any]:
    """One line of the batch input file: the live call's body, addressed by its cache key."""
    body = {
        "model": model,
        "messages": request.messages,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
    }
    return {"custom_id": request.key, "method": "POST", "url": ENDPOINT, "body": body}


def parse_output_line(line: dict[str, Any]) -> tuple[dict | None, str | None]:
    """(completion, None) for an answered line, (None, failure kind) for a line that carries an error."""
    error = line.get("error")
    if error:
        return None, str(error.get("code") or "batch_error") if isinstance(error, dict) else "batch_error"
    response = line.get("response") or {}
    status = int(response.get("status_code") or 0)
    if status != 200:
        return None, f"http_{status}" if status else "malformed_response"
    try:
        body = response["body"]
        choice = body["choices"][0]
        message = choice["message"]
        usage = body.get("usage") or {}
        text = message.get("content")
        if text is not None and not isinstance(text, str):
            return None, "malformed_response"
        return (
            completion(
                text,
                choice.get("finish_reason"),
                usage.get("prompt_tokens", 0),
                usage.get("completion_tokens", 0),
                message.get("refusal"),
            ),
            None,
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        return None, "malformed_response"


def is_retryable(kind: str) -> bool:
    return kind.startswith(RETRYABLE_PREFIXES)


class OpenAIBatchBackend(OpenAIBackend):
    """OpenAI's Batch API; also answers live (``complete``) for ``fallback="live"``."""

    name = "openai-batch"
    deferred = True

    def __init__(
        self, model: str, base_url: str | None = None, timeout: float = 120.0, policy: BatchPolicy | None = None
    ) -> None:
        super().__init__(model, base_url, timeout)
        self.policy = policy or BatchPolicy()
        self.fallback = self.policy.fallback
        self.live_price = self.price
        self.price = (self.price[0] * BATCH_DISCOUNT, self.price[1] * BATCH_DISCOUNT) if self.price else None

    def _api_error(self, action: str, exc: Exception) -> SynthgradeError:
        import openai

        where = self.server
        if isinstance(exc, openai.AuthenticationError):
            return SynthgradeError(f"{where}: authentication failed (HTTP 401) while {action}; check OPENAI_API_KEY")
        status = getattr(exc, "status_code", None)
        detail = f"HTTP {status}" if status else type(exc).__name__
        message = getattr(exc, "message", "") or ""
        first = message.splitlines()[0][:200] if message else ""
        return SynthgradeError(f"{where}: {action} failed ({detail}{': ' + first if first else ''})")

    async def _submit(self, requests: list[ChatRequest], cache: Any) -> str:
        client = self.client()
        text = "".join(json.dumps(request_line(self.model, r), ensure_ascii=False) + "\n" for r in requests)
        name = f"synthgrade-{stable_hash([r.key for r in requests])}.jsonl"
        if cache.path is not None:  # kept beside the cache: what was sent, for audits (no credentials in it)
            write_text_atomic(cache.path.parent / "batches" / name, text)
        try:
            uploaded = await client.files.create(file=(name, text.encode("utf-8"), "application/jsonl"), purpose="batch")
            batch = await client.batches.create(
                input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window=WINDOW, metadata={"created_by": "synthgrade"}
            )
        except Exception as exc:
            raise self._api_error("submitting the batch", exc) from None
        cache.record_batch(batch.id, [r.key for r in requests])
        console.print(
            f"submitted batch {batch.id} ({len(requests)} requests, window {WINDOW}); "
            "a rerun of the same command resumes it if this one stops",
            highlight=False,
        )
        return batch.id

    async def _retrieve(self, batch_id: str) -> Any:
        import openai

        client = self.client()
        for attempt in range(6):
            try:
                return await client.batches.retrieve(batch_id)
            except openai.NotFoundError:
                return None
            except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError, openai.RateLimitError):
                await asyncio.sleep(min(self.policy.poll_interval, 2.0**attempt))
            except Exception as exc:
                raise self._api_error(f"checking batch {batch_id}", exc) from None
        raise SynthgradeError(f"{self.server}: batch {batch_id} could not be checked (server unreachable)")

    async def _download(self, file_id: str | None) -> list[dict]:
        if not file_id:
            return []
        try:
            content = await self.client().files.content(file_id)
        except Exception as exc:
            raise self._api_error(f"downloading file {file_id}", exc) from None
        lines = []
        for raw in content.text.splitlines():
            if raw.strip():
                try:
                    lines.append(json.loads(raw))
                except json.JSONDecodeError:
                    continue  # a damaged line leaves its request unanswered: it is retried like a missed one
        return lines

    async def _wait(self, batch_id: str, advance: Callable[[int], None]) -> Any:
        started = time.monotonic()
        shown = 0
        status = None
        while True:
            batch = await self._retrieve(batch_id)
            if batch is None:
                return None
            counts = batch.request_counts
            done = (counts.completed + counts.failed) if counts else 0
            if done > shown:
                advance(done - shown)
                shown = done
            if batch.status != status:
                status = batch.status
                total = counts.total if counts else "?"
                console.print(f"batch {batch_id}: {status} ({done}/{total} done)", highlight=False)
            if batch.status in TERMINAL:
                return batch
            waited = time.monotonic() - started
            if self.policy.max_wait is not None and waited >= self.policy.max_wait:
                raise SynthgradeError(
                    f"batch {batch_id} is still {batch.status} ({done} requests done) after {waited:.0f}s; "
                    "rerun the same command to resume it (nothing is submitted twice)"
                )
            await asyncio.sleep(self.policy.poll_interval)

    async def _settle(
        self, batch_id: str, keys: list[str], by_key: dict[str, ChatRequest], deliver: Callable, cache: Any, stats: Any, advance
    ) -> dict[str, str]:
        """Wait for one batch, deliver its answers; the failure kind of every request it did not answer."""
        batch = await self._wait(batch_id, advance)
        wanted = set(keys)
        if batch is None:
            cache.forget_batch(batch_id)
            stats.batches.append({"id": batch_id, "status": "not_found", "requests": len(keys)})
            console.print(f"[yellow]batch {batch_id} no longer exists on the server; its requests are sent again[/yellow]")
            return dict.fromkeys(keys, "batch_not_found")
        missed: dict[str, str] = {}
        answered = 0
        for line in await self._download(batch.output_file_id) + await self._download(batch.error_file_id):
            key = line.get("custom_id")
            if key not in wanted or key in missed:
                continue
            result, kind = parse_output_line(line)
            if result is not None:
                deliver(by_key[key], result)
                answered += 1
                wanted.discard(key)
            else:
                missed[key] = kind or "batch_error"
        for key in wanted - set(missed):
            missed[key] = f"batch_{batch.status}" if batch.status != "completed" else "batch_missing_line"
        errors = [e.message for e in (batch.errors.data or [])] if batch.errors else []
        stats.batches.append(
            {"id": batch_id, "status": batch.status, "requests": len(keys), "answered": answered, "missed": len(missed)}
            | ({"errors": errors[:3]} if errors else {})
        )
        if batch.status != "completed" or missed:
            reason = f": {errors[0]}" if errors else ""
            console.print(
                f"[yellow]batch {batch_id} {batch.status}{reason}; {len(missed)} of {len(keys)} requests unanswered[/yellow]",
                highlight=False,
            )
        cache.forget_batch(batch_id)
        return missed

    async def complete_deferred(
        self, requests: list[ChatRequest], deliver: Callable[[ChatRequest, dict], None], cache: Any, stats: Any, advance
    ) -> list[Missed]:
        """Answer ``requests`` through batches (resuming recorded ones); return what is still unanswered."""
        by_key = {r.key: r for r in requests}
        recorded = cache.batches_for(list(by_key))
        jobs: dict[str, list[str]] = {}
        for key, batch_id in recorded.items():
            jobs.setdefault(batch_id, []).append(key)
        for batch_id, keys in jobs.items():
            console.print(f"resuming batch {batch_id} ({len(keys)} requests already submitted)", highlight=False)
        fresh = [r for r in requests if r.key not in recorded]
        follow_ups = 0
        while True:
            size = self.policy.max_per_batch
            for start in range(0, len(fresh), size):
                chunk = fresh[start : start + size]
                jobs[await self._submit(chunk, cache)] = [r.key for r in chunk]
            outcomes = await asyncio.gather(
                *(self._settle(batch_id, keys, by_key, deliver, cache, stats, advance) for batch_id, keys in jobs.items())
            )
            missed = {key: kind for outcome in outcomes for key, kind in outcome.items()}
            retry = [by_key[k] for k, kind in missed.items() if is_retryable(kind)]
            if not retry or self.fallback != "batch" or follow_ups >= self.policy.follow_ups:
                return [(by_key[k], kind, is_retryable(kind)) for k, kind in missed.items()]
            follow_ups += 1
            stats.retries += len(retry)
            for kind in missed.values():
                if is_retryable(kind):
                    stats.retry_reasons[kind] += 1
                else:  # refused by the API: a follow-up would be refused again
                    stats.failed += 1
                    stats.failures[kind] += 1
            console.print(f"follow-up batch {follow_ups} for {len(retry)} missed requests", highlight=False)
            jobs, fresh = {}, retry


def _make_batch_backend(model: str, base_url: str | None, batch_size: int, timeout: float, batch: Any) -> Backend:
    return OpenAIBatchBackend(model, base_url, timeout, batch)


BACKENDS["openai-batch"] = (_make_batch_backend, True)
