"""The ``transformer`` kind: a fine-tuned transformers sequence classifier and its tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.data import is_synthetic
from synthgrade.modeling import ModelInfo, choose_input_mode, item_bank_from, length_order
from synthgrade.scorers.base import Provenance, TrainableScorer
from synthgrade.scorers.training_args import TrainingArguments
from synthgrade.scorers.transformer.network import count_parameters, load_classifier


class TransformerScorer(TrainableScorer):
    """A transformers sequence classifier (fine-tuned teacher or ``layers:K`` student) plus its tokenizer.

    ``model`` is a ``torch.nn.Module`` whose forward takes ``input_ids``, ``attention_mask`` (and
    ``token_type_ids`` when the tokenizer makes them) and returns an object with ``.logits``. Any spec no
    other kind accepts (a registry name, a folder or hub id of a transformers encoder) is fine-tuned as this kind.
    """

    kind = "transformer"

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return bool(spec.strip())

    @classmethod
    def fit(
        cls, train_df: pd.DataFrame, val_df: pd.DataFrame, args: TrainingArguments, labels: list[str],
        provenance: Provenance = None,
    ) -> TransformerScorer:  # fmt: skip
        """Fine-tune ``args.model`` with a fresh head for ``labels`` (:class:`TransformerTrainer`'s loop)."""
        from transformers import set_seed

        from synthgrade.scorers.transformer.trainer import TransformerTrainer

        set_seed(args.seed)
        model, tokenizer = load_classifier(args.model, labels)
        human_rows = pd.concat([train_df[~is_synthetic(train_df)], val_df], ignore_index=True)
        info = ModelInfo(
            kind=cls.kind,
            labels=labels,
            input_mode=choose_input_mode(args.input, train_df),
            max_length=args.max_length,
            item_bank=item_bank_from(human_rows),
            base_model=args.model,
            ordinal=args.ordinal,
        )
        scorer = cls(model, tokenizer, info)
        TransformerTrainer(args).train(scorer, train_df, val_df)
        info.provenance = provenance or {}
        return scorer

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.info.parameters = count_parameters(model)  # the scorer owns its info: counted once, not at save

    def encode(self, first: Sequence[str], second: Sequence[str] | None, padding: bool | str = True):
        return self.tokenizer(
            list(first),
            list(second) if second is not None else None,
            truncation="longest_first",
            max_length=self.info.max_length,
            padding=padding,
            return_tensors="pt" if padding else None,
        )

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        import torch

        order = length_order(first, second)
        out = np.zeros((len(first), len(self.labels)), dtype=np.float64)
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                batch = self.encode([first[i] for i in index], [second[i] for i in index] if second is not None else None)
                logits = self.model(**batch).logits
                out[index] = torch.softmax(logits.float(), dim=-1).numpy()
        return out

    def save_weights(self, directory: Path) -> None:
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> TransformerScorer:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(directory)
        return cls(model, AutoTokenizer.from_pretrained(directory), info)
