"""The network of the ``transformer`` kind: an encoder with a fresh classification head, and its size."""

from __future__ import annotations

from typing import Any

from synthgrade.errors import SynthgradeError
from synthgrade.models import offline_error, resolve_model


def load_classifier(name: str, labels: list[str]) -> tuple[Any, Any]:
    """A sequence classifier with a fresh head for ``labels`` plus its tokenizer, from a name, path or hub id."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    resolved = resolve_model(name)
    if resolved.gguf_file:
        raise SynthgradeError(
            f"model '{name}' is a generator (GGUF); train needs an encoder such as minilm-l6 or bert-base-uncased"
        )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialised classifier" is expected here
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved.path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    except OSError as exc:
        raise offline_error(name, exc) from None
    except ValueError as exc:
        raise SynthgradeError(f"model '{name}' cannot be used for sequence classification ({str(exc).splitlines()[0]})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.problem_type = "single_label_classification"
    return model, tokenizer


def count_parameters(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))
