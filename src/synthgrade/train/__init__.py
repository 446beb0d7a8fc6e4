"""The train stage: ``Trainer(TrainingArguments(...)).train(train_df, val_df)`` fits any scorer kind.

The kinds themselves (tfidf, hybrid, the fine-tuned transformer and its loop) live in :mod:`synthgrade.scorers`.
"""

from synthgrade.scorers import TrainingArguments
from synthgrade.train.trainer import Trainer

__all__ = ["Trainer", "TrainingArguments"]
