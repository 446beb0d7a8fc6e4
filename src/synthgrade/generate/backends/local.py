"""``local``: a causal LM (SmolLM2 by default) through transformers, several prompts per forward pass.

Prompts are left-padded so generation continues from the right end of every row; a GGUF file is
dequantised once into a cached copy (:mod:`synthgrade.generate.local_model`).
"""

from __future__ import annotations

from typing import Any

from synthgrade.generate.backends.base import LOADED_MODELS, Backend, ChatRequest, completion


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
        if ("local", self.model) in LOADED_MODELS:
            self._tokenizer, self._model = LOADED_MODELS[("local", self.model)]
            self.loaded = True
            return
        from synthgrade.generate.local_model import load_causal_lm

        self._tokenizer, self._model = load_causal_lm(self.model)  # a GGUF model is de-quantized once, then cached
        self._model.eval()
        self._tokenizer.padding_side = "left"  # generation continues from the right end of every row
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        LOADED_MODELS[("local", self.model)] = (self._tokenizer, self._model)
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
        return self._completions(requests, batch, output)

    def _completions(self, requests: list[ChatRequest], batch: Any, output: Any) -> list[dict]:
        """Each row's new tokens up to its first end-of-sequence token and its own ``max_tokens``, decoded."""
        tokenizer = self._tokenizer
        width = batch["input_ids"].shape[1]
        configured = getattr(self._model.generation_config, "eos_token_id", None)
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
