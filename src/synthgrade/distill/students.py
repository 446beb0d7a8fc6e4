"""Student models for distillation.

* ``layers:K``: a copy of the teacher keeping K evenly spaced transformer layers (DistilBERT-style
  initialisation: embeddings, the kept layers, pooler and head all start from the teacher's weights).
* any encoder name or path (``prajjwal1/bert-tiny``, a local folder): a fresh classifier on that encoder.
* ``static``: the teacher's token embeddings, mean pooled (per segment in pair mode), and a linear head.
  No attention at all: tiny and very fast. Its ``model`` is a torch module with the same forward
  signature as a transformers classifier, so predict/export treat it like one.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import numpy as np

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.io import read_json, write_json
from synthgrade.modeling import ModelInfo
from synthgrade.scorers.transformer import TransformerScorer, load_classifier

STATIC_CONFIG = "static_config.json"
STATIC_WEIGHTS = "model.safetensors"
_LAYER_KEY = re.compile(r"^(.*?\.layers?\.)(\d+)(\..*)$")


def _torch_module_base() -> type:
    import torch

    return torch.nn.Module


class StaticClassifier(_torch_module_base()):  # type: ignore[misc]
    """Mean-pooled token embeddings + linear head; ``forward`` mirrors a transformers sequence classifier."""

    def __init__(self, vocab_size: int, dim: int, num_labels: int, pair: bool, dropout: float = 0.1) -> None:
        import torch

        super().__init__()
        self.vocab_size, self.dim, self.num_labels, self.pair = vocab_size, dim, num_labels, pair
        self.embeddings = torch.nn.Embedding(vocab_size, dim)
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(dim * 3 if pair else dim, num_labels)

    @property
    def settings(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "dim": self.dim, "num_labels": self.num_labels, "pair": self.pair}

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
        import torch
        from transformers.modeling_outputs import SequenceClassifierOutput

        vectors = self.embeddings(input_ids)
        mask = attention_mask.unsqueeze(-1).to(vectors.dtype)
        if self.pair:
            segment = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            first_mask = mask * (segment == 0).unsqueeze(-1).to(vectors.dtype)
            second_mask = mask * (segment != 0).unsqueeze(-1).to(vectors.dtype)
            first = (vectors * first_mask).sum(dim=1) / first_mask.sum(dim=1).clamp(min=1.0)
            second = (vectors * second_mask).sum(dim=1) / second_mask.sum(dim=1).clamp(min=1.0)
            features = torch.cat([first, second, first * second], dim=-1)
        else:
            features = (vectors * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(features)))


class StaticScorer(TransformerScorer):
    """Scorer for the ``static`` student (kind ``static``): the teacher's tokenizer plus :class:`StaticClassifier`."""

    kind = "static"
    #: safetensors reports a damaged file as one of these; a wrong config as a TypeError from the class
    file_errors = (OSError, KeyError, TypeError, RuntimeError)

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo) -> None:
        super().__init__(model, tokenizer, info.model_copy(update={"kind": self.kind}))  # names this kind, not the teacher's

    def save_weights(self, directory: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(directory / STATIC_WEIGHTS))
        write_json(directory / STATIC_CONFIG, self.model.settings)
        self.tokenizer.save_pretrained(directory)

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> StaticScorer:
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        settings = read_json(directory / STATIC_CONFIG)
        model = StaticClassifier(**settings)
        model.load_state_dict(load_file(str(directory / STATIC_WEIGHTS)))
        model.eval()
        return cls(model, AutoTokenizer.from_pretrained(directory), info)


def kept_layers(total: int, keep: int) -> list[int]:
    """Evenly spaced layer indices, always including the first and last (6 -> 3 keeps 0, 2, 5)."""
    if keep == 1:
        return [total - 1]
    return sorted({int(round(x)) for x in np.linspace(0, total - 1, keep)})


def layer_student(teacher_model: Any, keep: int) -> Any:
    """A ``keep``-layer copy of the teacher initialised from evenly spaced teacher layers."""
    from transformers import AutoModelForSequenceClassification

    config = copy.deepcopy(teacher_model.config)
    attribute = next((a for a in ("num_hidden_layers", "n_layers", "num_layers") if hasattr(config, a)), None)
    if attribute is None:
        raise SynthgradeError(
            f"cannot tell how many layers the teacher ({type(teacher_model).__name__}) has; use a named student"
        )
    total = int(getattr(config, attribute))
    if not 1 <= keep < total:
        raise ParameterError("student", f"layers:{keep} must keep between 1 and {total - 1} of the teacher's {total} layers")
    kept = kept_layers(total, keep)
    setattr(config, attribute, len(kept))
    student = AutoModelForSequenceClassification.from_config(config)
    mapping = {old: new for new, old in enumerate(kept)}
    state = {}
    for key, value in teacher_model.state_dict().items():
        match = _LAYER_KEY.match(key)
        if match is None:
            state[key] = value
        elif int(match.group(2)) in mapping:
            state[f"{match.group(1)}{mapping[int(match.group(2))]}{match.group(3)}"] = value
    missing, unexpected = student.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise SynthgradeError(
            f"could not copy teacher layers into the student (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    student.config.synthgrade_kept_layers = kept
    return student


def static_student(teacher_model: Any, num_labels: int, pair: bool) -> StaticClassifier:
    """Static student initialised with the teacher's input token embeddings."""
    import torch

    embeddings = teacher_model.get_input_embeddings().weight.detach()
    student = StaticClassifier(embeddings.shape[0], embeddings.shape[1], num_labels, pair)
    with torch.no_grad():
        student.embeddings.weight.copy_(embeddings)
    return student


def build_student(spec: str, teacher: Any, labels: list[str], info: ModelInfo) -> TransformerScorer:
    """The untrained student scorer for ``spec`` (``layers:K``, ``static`` or an encoder name/path)."""
    spec = spec.strip()
    needs_teacher_net = spec == "static" or spec.startswith("layers:")
    if needs_teacher_net and not isinstance(teacher, TransformerScorer):
        raise ParameterError(
            "student", f"{spec} copies the teacher's network; the teacher is a '{teacher.info.kind}' model (use a named encoder)"
        )
    if spec == "static":
        model = static_student(teacher.model, len(labels), pair=info.input_mode == "pair")
        return StaticScorer(model, teacher.tokenizer, info)
    if spec.startswith("layers:"):
        try:
            keep = int(spec.split(":", 1)[1])
        except ValueError:
            raise ParameterError("student", f"{spec!r}: expected layers:K with a whole number K, e.g. layers:3") from None
        return TransformerScorer(layer_student(teacher.model, keep), teacher.tokenizer, info)
    if not spec:
        raise ParameterError("student", "is empty; use layers:K, static, or an encoder name or path")
    model, tokenizer = load_classifier(spec, labels)
    return TransformerScorer(model, tokenizer, info)
