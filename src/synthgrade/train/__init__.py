"""Fine-tuning a scorer: ``Trainer(TrainingArguments(...)).train(train_df, val_df)``."""

from synthgrade.train.trainer import Trainer, load_classifier
from synthgrade.train.training_args import TrainingArguments

__all__ = ["Trainer", "TrainingArguments", "load_classifier"]
