"""``llamacpp``: a GGUF model through llama-cpp-python in this process, one call at a time."""

from __future__ import annotations

import atexit
import os
from typing import Any

from synthgrade.errors import SynthgradeError
from synthgrade.generate.backends.base import LOADED_MODELS, Backend, ChatRequest, completion
from synthgrade.models import resolve_model


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
        if ("llamacpp", self.model) in LOADED_MODELS:
            self._llm = LOADED_MODELS[("llamacpp", self.model)]
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
        LOADED_MODELS[("llamacpp", self.model)] = self._llm
        # The cache keeps the model to the end of the process; freed by its own __del__ after llama_cpp's module
        # state is torn down, it prints a TypeError on exit. Closing it at exit frees it while that state exists.
        atexit.register(self._llm.close)
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
