"""Chat backends behind one small interface.

``openai``: the official async client against any OpenAI-compatible server (key from OPENAI_API_KEY
only); ``local``: SmolLM2 (or any causal LM) through transformers, several prompts per forward pass
with left padding; ``llamacpp``: in-process llama-cpp-python. Models load lazily on the first uncached
call, so a run answered entirely from the cache loads nothing.
"""

from __future__ import annotations

import email.utils
import importlib.util
import math
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from synthgrade.console import console
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.io import redact_url
from synthgrade.registry import REGISTRY, resolve_model

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


#: The hosts that get ``OPENAI_API_KEY`` without being asked: OpenAI's own. Any other ``--base-url`` gets
#: a key only from the variable the user names (``--api-key-env``), so a key never goes to a stranger.
OPENAI_HOSTS = frozenset({"api.openai.com"})
#: Seconds to wait for a TCP connection when checking that a server is there at all.
CONNECT_CHECK_S = 5.0


def _url_parts(base_url: str | None) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of ``base_url``; OpenAI's API when it is None."""
    from urllib.parse import urlsplit

    if not base_url:
        return "https", "api.openai.com", 443
    parts = urlsplit(base_url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = (parts.scheme or "http").lower()
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


# USD per 1M tokens (input, output), list prices; used only for the run's cost estimate.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}


def price_for(model: str) -> tuple[float, float] | None:
    base = model.split("/")[-1]
    if base in PRICES:
        return PRICES[base]
    dated = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", base)
    return PRICES.get(dated)


def _seconds(value: str, scale: float = 1.0) -> float | None:
    try:
        seconds = float(value) * scale
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (delay-seconds or an HTTP date, RFC 9110).

    Anything else (``soon``, a garbled date) is None: the caller then backs off on its own schedule.
    """
    if headers is None:
        return None
    value = (headers.get("retry-after-ms") or "").strip()
    if value and (seconds := _seconds(value, 1 / 1000)) is not None:
        return seconds
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if (seconds := _seconds(value)) is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, timeout: float = 120.0, api_key_env: str | None = None) -> None:
        super().__init__(model)
        self.base_url = base_url
        self.timeout = timeout
        self.api_key_env = api_key_env
        scheme, self.host, self.port = _url_parts(base_url)
        self.scheme = scheme
        self.price = price_for(model) if self.host in OPENAI_HOSTS else None
        self._client: Any = None

    @property
    def server(self) -> str:
        """The server as messages name it: never with the credentials a URL may carry."""
        return redact_url(self.base_url) if self.base_url else "OpenAI"

    def client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            key = self.api_key()
            if key and self.scheme != "https":
                console.print(
                    f"[yellow]warning:[/yellow] the API key goes to {self.server} over plain HTTP, readable on the way; "
                    "use https",
                    highlight=False,
                    markup=True,
                )
            key = key or "not-needed"  # servers without keys ignore it, the client insists on one
            # Retries are ours (counted, Retry-After honoured), so the client's own are off.
            self._client = AsyncOpenAI(api_key=key, base_url=self.base_url, max_retries=0, timeout=self.timeout)
            self.loaded = True
        return self._client

    def api_key(self) -> str | None:
        """The key this server gets: the variable ``--api-key-env`` names, else ``OPENAI_API_KEY`` for OpenAI's
        own host only (another server gets none: it could log it)."""
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise SynthgradeError(f"--api-key-env {self.api_key_env}: that environment variable is not set")
            return key
        if self.host not in OPENAI_HOSTS:
            return None
        key = os.environ.get("OPENAI_API_KEY")
        if not key and self.base_url is None:
            raise SynthgradeError("the openai backend needs OPENAI_API_KEY in the environment (or --base-url for a local server)")
        return key

    def _key_source(self) -> str:
        if self.api_key_env:
            return self.api_key_env
        if self.host in OPENAI_HOSTS:
            return "OPENAI_API_KEY"
        return "--api-key-env (another server than OpenAI's gets no key unless you name its variable)"

    def check_reachable(self) -> None:
        """A TCP connection to the server, so that a dead one is one clear error, not minutes of retries."""
        import socket

        if self.base_url is None or not self.host:
            return
        try:
            socket.create_connection((self.host, self.port), timeout=min(CONNECT_CHECK_S, self.timeout)).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SynthgradeError(f"{self.server}: cannot connect ({reason}); is the server running?") from None

    async def complete(self, request: ChatRequest) -> dict:
        import httpx
        import openai

        client = self.client()
        try:
            response = await client.chat.completions.create(
                model=self.model,
                messages=request.messages,
                temperature=request.temperature,
                top_p=request.top_p,
                max_tokens=request.max_tokens,
                seed=request.seed,
            )
        except openai.APITimeoutError:
            raise RetryableError("timeout") from None
        except openai.APIConnectionError:
            raise RetryableError("connection_error") from None
        except openai.AuthenticationError:
            raise SynthgradeError(
                f"{self.server}: authentication failed (HTTP 401); check {self._key_source()}"
            ) from None
        except openai.PermissionDeniedError:
            raise SynthgradeError(f"{self.server}: permission denied (HTTP 403) for model '{self.model}'") from None
        except openai.NotFoundError:
            raise SynthgradeError(f"{self.server}: model '{self.model}' or endpoint not found (HTTP 404)") from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status == 429 or status >= 500 or status == 408:
                raise RetryableError(f"http_{status}", parse_retry_after(exc.response.headers)) from None
            raise CallFailed(f"http_{status}") from None
        except (openai.APIResponseValidationError, ValueError, TypeError, KeyError):
            raise RetryableError("malformed_response") from None
        except httpx.HTTPError:  # the client normally wraps these; be safe with older versions
            raise RetryableError("connection_error") from None
        try:
            choice = response.choices[0]
            message = choice.message
            text = message.content
            refusal = getattr(message, "refusal", None)
            usage = response.usage
            prompt_tokens = getattr(usage, "prompt_tokens", 0) if usage else 0
            completion_tokens = getattr(usage, "completion_tokens", 0) if usage else 0
        except (AttributeError, IndexError, TypeError, KeyError):
            raise RetryableError("malformed_response") from None
        if text is not None and not isinstance(text, str):
            raise RetryableError("malformed_response")
        return completion(text, choice.finish_reason, prompt_tokens or 0, completion_tokens or 0, refusal)

    async def aclose(self) -> None:
        # The client belongs to the event loop of one run; the next run (a top-up round) opens a new one.
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


#: Loaded local models per process: a sweep over temperatures loads SmolLM2 once, not once per run.
_LOADED: dict[tuple[str, str], Any] = {}


class TransformersBackend(Backend):
    """A causal LM through transformers; a GGUF file is dequantised once into a cached copy (:mod:`.local_model`)."""

    name = "local"
    in_process = True
    price = (0.0, 0.0)
    continues_text = True

    def __init__(self, model: str, batch_size: int = 8) -> None:
        super().__init__(model)
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        if ("local", self.model) in _LOADED:
            self._tokenizer, self._model = _LOADED[("local", self.model)]
            self.loaded = True
            return
        from synthgrade.generate.local_model import load_causal_lm

        self._tokenizer, self._model = load_causal_lm(self.model)  # a GGUF model is de-quantized once, then cached
        self._model.eval()
        self._tokenizer.padding_side = "left"  # generation continues from the right end of every row
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        _LOADED[("local", self.model)] = (self._tokenizer, self._model)
        self.loaded = True

    def _prompt_text(self, request: ChatRequest) -> str:
        tokenizer = self._tokenizer
        if not request.continuation:
            return tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
        # Prompts are tokenised without special tokens (chat templates carry their own), so a raw
        # continuation gets the BOS a base model was trained to see here.
        text = request.messages[-1]["content"]
        bos = tokenizer.bos_token
        return text if not bos or text.startswith(bos) else bos + text

    def complete_batch(self, requests: list[ChatRequest]) -> list[dict]:
        import torch

        from synthgrade.generate.local_model import threads_for_free_cores

        self.load()
        tokenizer, model = self._tokenizer, self._model
        first = requests[0]
        prompts = [self._prompt_text(r) for r in requests]
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        sampling: dict[str, Any] = {"do_sample": False}
        if first.temperature > 0:
            # top_k stays at the model's default (50 for SmolLM2), as llama.cpp keeps its own (40).
            sampling = {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p}
        torch.manual_seed(first.seed)  # the batch is drawn once; the cache makes the result permanent
        with torch.inference_mode(), threads_for_free_cores():
            output = model.generate(
                **batch,
                max_new_tokens=max(r.max_tokens for r in requests),
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        width = batch["input_ids"].shape[1]
        configured = getattr(model.generation_config, "eos_token_id", None)
        configured = [configured] if isinstance(configured, int) else list(configured or [])
        eos = {tokenizer.eos_token_id, *configured} - {None}
        results = []
        for row, request in enumerate(requests):
            new = output[row, width:].tolist()
            stop = next((i for i, token in enumerate(new) if token in eos), None)
            tokens = new[:stop] if stop is not None else new
            tokens = tokens[: request.max_tokens]
            finish = "stop" if stop is not None and stop <= request.max_tokens else "length"
            prompt_tokens = int(batch["attention_mask"][row].sum())
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            results.append(completion(text, finish, prompt_tokens, len(tokens)))
        return results


class LlamaCppBackend(Backend):
    """llama-cpp-python in this process (``pip install llama-cpp-python``); one call at a time."""

    name = "llamacpp"
    in_process = True
    price = (0.0, 0.0)
    continues_text = True

    def __init__(self, model: str, n_ctx: int = 4096) -> None:
        super().__init__(model)
        self.n_ctx = n_ctx
        self._llm: Any = None

    def load(self) -> None:
        if self._llm is not None:
            return
        if ("llamacpp", self.model) in _LOADED:
            self._llm = _LOADED[("llamacpp", self.model)]
            self.loaded = True
            return
        try:
            from llama_cpp import Llama
        except ImportError:
            raise SynthgradeError("the llamacpp backend needs llama-cpp-python: pip install llama-cpp-python") from None
        resolved = resolve_model(self.model)
        if not resolved.gguf_file:
            raise SynthgradeError(f"the llamacpp backend needs a GGUF model; '{self.model}' is not one")
        self._llm = Llama(model_path=resolved.gguf_path, n_ctx=self.n_ctx, n_threads=os.cpu_count() or 2, seed=0, verbose=False)
        _LOADED[("llamacpp", self.model)] = self._llm
        self.loaded = True

    def complete_batch(self, requests: list[ChatRequest]) -> list[dict]:
        self.load()
        results = []
        for request in requests:
            sampling = {
                "temperature": request.temperature,
                "top_p": request.top_p,
                "max_tokens": request.max_tokens,
                "seed": request.seed,
            }
            if request.continuation:
                response = self._llm.create_completion(prompt=request.messages[-1]["content"], **sampling)
                choice = response["choices"][0]
                text = choice.get("text")
            else:
                response = self._llm.create_chat_completion(messages=request.messages, **sampling)
                choice = response["choices"][0]
                text = choice["message"].get("content")
            usage = response.get("usage") or {}
            results.append(
                completion(
                    text,
                    choice.get("finish_reason"),
                    usage.get("prompt_tokens", 0),
                    usage.get("completion_tokens", 0),
                )
            )
        return results


def llamacpp_available() -> bool:
    """Whether llama-cpp-python is importable (checked without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def is_gguf_model(model: str) -> bool:
    """A registered GGUF generator, a ``.gguf`` file, or a folder holding one (nothing is assembled or loaded)."""
    entry = REGISTRY.get(model)
    if entry is not None:
        return entry.gguf_glob is not None
    path = Path(model).expanduser()
    return path.suffix.lower() == ".gguf" or (path.is_dir() and any(path.glob("*.gguf")))


def resolve_backend(name: str, model: str) -> str:
    """The engine a backend name runs on: ``auto`` is ``llamacpp`` for a GGUF model when llama-cpp-python is
    importable (about 3x faster on CPU) and ``local`` (transformers) otherwise; other names are unchanged."""
    if name != "auto":
        return name
    return "llamacpp" if is_gguf_model(model) and llamacpp_available() else "local"


def _auto(model: str, base_url: str | None, batch_size: int, timeout: float, batch: Any) -> Backend:
    return make_backend(resolve_backend("auto", model), model, base_url, batch_size, timeout, batch)


#: Backends by name: (factory(model, base_url, batch_size, timeout, batch policy), takes a server URL).
#: ``openai-batch`` joins from :mod:`synthgrade.generate.batch`, which builds on :class:`OpenAIBackend`
#: (``synthgrade.generate`` imports it, so the entry is there whenever this module is).
BACKENDS: dict[str, tuple[Any, bool]] = {
    "auto": (_auto, False),
    "local": (lambda model, base_url, batch_size, timeout, batch: TransformersBackend(model, batch_size), False),
    "openai": (lambda model, base_url, batch_size, timeout, batch: OpenAIBackend(model, base_url, timeout), True),
    "llamacpp": (lambda model, base_url, batch_size, timeout, batch: LlamaCppBackend(model), False),
}


def make_backend(
    name: str,
    model: str,
    base_url: str | None = None,
    batch_size: int = 8,
    timeout: float = 120.0,
    batch: Any = None,
    api_key_env: str | None = None,
) -> Backend:
    """The backend registered as ``name`` in :data:`BACKENDS`; ``batch`` is the openai-batch BatchPolicy;
    ``api_key_env`` names the environment variable holding the server's key (servers only)."""
    if name not in BACKENDS:
        raise SynthgradeError(f"unknown backend '{name}': use {', '.join(BACKENDS)}")
    factory, takes_url = BACKENDS[name]
    if base_url and not takes_url:
        raise ParameterError("base_url", f"applies to the openai backends only, not '{name}'")
    if api_key_env and not takes_url:
        raise ParameterError("api_key_env", f"applies to the openai backends only, not '{name}'")
    backend = factory(model, base_url, batch_size, timeout, batch)
    if api_key_env:
        backend.api_key_env = api_key_env  # type: ignore[attr-defined]
    return backend
