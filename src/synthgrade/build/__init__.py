"""Stage 10: ``synthgrade build``, the whole job on a user's human-coded file, shipping augmentation only where it wins."""

from synthgrade.build.config import BuildConfig
from synthgrade.build.decision import Decision, decide
from synthgrade.build.pipeline import STAGES, BuildData, BuildResult, load_build_data, run_build

__all__ = ["STAGES", "BuildConfig", "BuildData", "BuildResult", "Decision", "decide", "load_build_data", "run_build"]
