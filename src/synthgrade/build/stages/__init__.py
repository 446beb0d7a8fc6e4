"""The build's stages in their order: :data:`PIPELINE` is the one list (the progress view numbers from it).

A new stage is a :class:`~synthgrade.build.stage.Stage` subclass in a module here, placed in
:data:`PIPELINE` after the stages that produce what it ``reads``; its records go in
:mod:`synthgrade.build.records` and its files in :class:`~synthgrade.build.layout.BuildLayout`.
"""

from synthgrade.build.stage import Stage
from synthgrade.build.stages.data import DataStage
from synthgrade.build.stages.decide import DecideStage
from synthgrade.build.stages.distill import DistillStage
from synthgrade.build.stages.evaluate import EvaluateStage
from synthgrade.build.stages.filter import FilterStage
from synthgrade.build.stages.generate import GenerateStage
from synthgrade.build.stages.grid import GridStage
from synthgrade.build.stages.human import HumanOnlyStage
from synthgrade.build.stages.report import ReportStage
from synthgrade.build.stages.selftrain import SelfTrainStage

PIPELINE: tuple[type[Stage], ...] = (
    DataStage,
    HumanOnlyStage,
    GenerateStage,
    FilterStage,
    SelfTrainStage,
    GridStage,
    DecideStage,
    DistillStage,
    EvaluateStage,
    ReportStage,
)
#: The stage names, in order.
STAGES = tuple(stage.name for stage in PIPELINE)

__all__ = ["PIPELINE", "STAGES"]
