"""Load a causal LM for the ``local`` (transformers) backend, converting a GGUF generator once, not on every start.

transformers reads a GGUF file by de-quantizing every tensor to float32 (291 tensors and the tokenizer's
merges for Qwen2.5-Coder-0.5B: about a minute on 2 idle cores, and a progress bar on every load). The converted
weights are saved once as safetensors under the model cache (``$SYNTHGRADE_CACHE/models/converted``), keyed by
the GGUF file and the transformers version, with the tokenizer when it reloads to the same token ids; later
loads memory-map that copy (7 s for the 0.5B on a busy machine, against 6 min to convert it there). The
weights are the same float32 values either way, so generation is unchanged.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synthgrade.io import atomic_directory, stable_hash
from synthgrade.models import ResolvedModel, model_cache_dir, offline_error, resolve_model

STAMP = ".synthgrade-converted"


def converted_dir(resolved: ResolvedModel) -> Path:
    """The folder of the transformers copy of a GGUF model: one per GGUF file (path, size, mtime) and transformers version."""
    import transformers

    gguf = Path(resolved.gguf_path or "")
    stat = gguf.stat()
    key = stable_hash([str(gguf.resolve()), stat.st_size, stat.st_mtime_ns, transformers.__version__, "tokenizer/"], length=12)
    return model_cache_dir() / "converted" / f"{gguf.stem}-{key}"


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' load reports and progress bars off while synthgrade loads a model (it shows its own progress)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # The GGUF reader draws its own tqdm bar, outside transformers' switch.
    gguf_utils = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = lambda iterable=None, *args, **kwargs: iterable
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _from_pretrained(path: str, **kwargs: Any) -> tuple[Any, Any]:
    return _tokenizer(path, **kwargs), _model(path, **kwargs)


def _tokenizer(path: str, **kwargs: Any) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, **kwargs)


def _model(path: str, **kwargs: Any) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, **kwargs)


#: Text whose token ids the saved tokenizer must reproduce before it replaces the GGUF's (spaces, digits, accents).
ROUND_TRIP = "The water evaporates, and 3/4 + 1/2 = 5/4!\n1. Ça va? Can you walk me through it?"


def _same_tokenizer(a: Any, b: Any) -> bool:
    return a(ROUND_TRIP)["input_ids"] == b(ROUND_TRIP)["input_ids"] and getattr(a, "chat_template", None) == getattr(
        b, "chat_template", None
    )


def load_causal_lm(name: str) -> tuple[Any, Any]:
    """(tokenizer, model) of a registry name, folder, GGUF file or hub id; a GGUF model from its converted copy.

    The tokenizer is kept too when it reloads to the same token ids (converting Qwen's from the GGUF takes
    longer than its weights); one that does not (SmolLM2's) is read from the GGUF file each time."""
    resolved = resolve_model(name)
    try:
        with quiet_loading():
            if not resolved.gguf_file:
                return _from_pretrained(resolved.path)
            target = converted_dir(resolved)
            gguf = {"gguf_file": resolved.gguf_file}
            if (target / STAMP).is_file():
                saved = target / "tokenizer"
                tokenizer = _tokenizer(str(saved)) if saved.is_dir() else _tokenizer(resolved.path, **gguf)
                return tokenizer, _model(str(target))
            tokenizer, model = _from_pretrained(resolved.path, **gguf)
            with contextlib.suppress(OSError):  # a read-only cache: use the model, convert again next time
                with atomic_directory(target) as staging:
                    model.save_pretrained(staging)
                    tokenizer.save_pretrained(staging / "tokenizer")
                    if not _same_tokenizer(tokenizer, _tokenizer(str(staging / "tokenizer"))):
                        shutil.rmtree(staging / "tokenizer")
                    (staging / STAMP).write_text(f"{resolved.gguf_path}\n")
            return tokenizer, model
    except OSError as exc:
        raise offline_error(name, exc) from None


def free_cores() -> int:
    """CPU cores not busy with other processes: this process's CPUs minus the load that is not its own torch threads."""
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        others = os.getloadavg()[0] - torch.get_num_threads()
    except OSError:  # no load average on this platform
        return cpus
    return max(1, min(cpus, cpus - math.ceil(max(0.0, others))))


@contextlib.contextmanager
def threads_for_free_cores() -> Iterator[None]:
    """Run torch on the cores other processes leave free, for one batch.

    On a shared CPU, every OpenMP thread waits at each of the model's barriers for the slowest one, which the
    scheduler may have parked behind another process: measured on 2 busy cores, a 0.5B generator decoded 4.5x
    faster with 1 thread than with 2. On an idle machine every core is used."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(min(before, free_cores()))
    try:
        yield
    finally:
        torch.set_num_threads(before)
