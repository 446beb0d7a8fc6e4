"""The local generator loads a GGUF model once de-quantized, then from its cached copy; torch uses the cores left free."""

from __future__ import annotations

import os

import pytest

from synthgrade.generate import local_model


@pytest.mark.slow
def test_a_gguf_generator_is_converted_once_then_loaded_from_the_copy(tmp_path, monkeypatch, capfd):
    import torch

    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    loads: list[dict] = []
    real = local_model._model

    def recording(path: str, **kwargs):
        loads.append({"path": path, **kwargs})
        return real(path, **kwargs)

    monkeypatch.setattr(local_model, "_model", recording)
    tokenizer, model = local_model.load_causal_lm("smollm2-135m")
    assert loads[-1].get("gguf_file")  # the first load reads the GGUF file
    copies = list((tmp_path / "cache" / "models" / "converted").iterdir())
    assert len(copies) == 1 and (copies[0] / local_model.STAMP).is_file()
    again_tokenizer, again = local_model.load_causal_lm("smollm2-135m")
    assert loads[-1] == {"path": str(copies[0])}  # the weights come from the converted copy, no GGUF de-quantizing
    if (copies[0] / "tokenizer").is_dir():  # kept only when it reloads to the same token ids
        assert local_model._same_tokenizer(tokenizer, again_tokenizer)

    batch = tokenizer(["The water evaporates and"], return_tensors="pt")
    with torch.inference_mode():
        first = model.generate(**batch, max_new_tokens=8, do_sample=False)
        second = again.generate(
            **again_tokenizer(["The water evaporates and"], return_tensors="pt"), max_new_tokens=8, do_sample=False
        )
    assert torch.equal(first, second)  # the same weights: the same greedy tokens
    output = capfd.readouterr()
    assert "de-quantizing" not in output.err + output.out and "LOAD REPORT" not in output.err + output.out


def test_torch_threads_follow_the_free_cores(monkeypatch):
    import torch

    if not hasattr(os, "getloadavg"):
        pytest.skip("no load average on this platform")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.setattr(torch, "get_num_threads", lambda: cpus)
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cpus), 0.0, 0.0))  # only this process's threads
    assert local_model.free_cores() == cpus
    monkeypatch.setattr(os, "getloadavg", lambda: (cpus + 14.0, 0.0, 0.0))  # a shared, oversubscribed machine
    assert local_model.free_cores() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (cpus + 0.5, 0.0, 0.0))
    assert local_model.free_cores() == max(1, cpus - 1)
