"""Knowledge distillation: ``DistillationTrainer(teacher, DistillationArguments(student="layers:3")).train(...)``."""

from synthgrade.distill.students import StaticClassifier, StaticScorer, build_student, kept_layers, layer_student
from synthgrade.distill.trainer_distillation import DistillationArguments, DistillationTrainer

__all__ = [
    "DistillationArguments",
    "DistillationTrainer",
    "StaticClassifier",
    "StaticScorer",
    "build_student",
    "kept_layers",
    "layer_student",
]
