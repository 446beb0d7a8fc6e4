"""``openai``: the official async client against any OpenAI-compatible server.

The key comes from ``OPENAI_API_KEY`` for OpenAI's own host only, or from the variable ``--api-key-env``
names; retries are the runner's (counted, Retry-After honoured), so the client's own are off.
"""

from __future__ import annotations

import os
from typing import Any

from synthgrade.console import console
from synthgrade.errors import SynthgradeError
from synthgrade.generate.backends.base import Backend, CallFailed, ChatRequest, RetryableError, completion
from synthgrade.generate.backends.prices import price_for
from synthgrade.generate.backends.retry_after import parse_retry_after
from synthgrade.io import redact_url

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
        return _read_completion(await self._create(request))

    async def _create(self, request: ChatRequest) -> Any:
        """The server's response, with every failure turned into a retryable, a failed call or a clear error."""
        import httpx
        import openai

        client = self.client()
        try:
            return await client.chat.completions.create(
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
            raise SynthgradeError(f"{self.server}: authentication failed (HTTP 401); check {self._key_source()}") from None
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

    async def aclose(self) -> None:
        # The client belongs to the event loop of one run; the next run (a top-up round) opens a new one.
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _read_completion(response: Any) -> dict:
    """The stored completion of a chat response; a body without the expected fields is retried as malformed."""
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
