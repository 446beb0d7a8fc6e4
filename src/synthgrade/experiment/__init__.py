"""Sweeps: the paper's experiments (synthetic share, temperature, filtering, human budget) as resumable trials.

>>> from synthgrade.experiment import load_sweep_config, run_sweep
>>> result = run_sweep(load_sweep_config("sweep.yaml"), "runs/my-sweep")   # doctest: +SKIP
"""

from synthgrade.executors import Executor, LocalExecutor, Outcome, ProcessExecutor
from synthgrade.experiment.config import SweepConfig, load_sweep_config, sweep_config_from_dict
from synthgrade.experiment.data import human_rows, read_split
from synthgrade.experiment.layout import SweepLayout, synthetic_path
from synthgrade.experiment.plan import DataSummary, SweepPlan, SyntheticSpec, TrialSpec, plan_trials
from synthgrade.experiment.store import ResultsStore
from synthgrade.experiment.sweep import SweepResult, plan_sweep, run_sweep

__all__ = [
    "DataSummary",
    "Executor",
    "LocalExecutor",
    "Outcome",
    "ProcessExecutor",
    "ResultsStore",
    "SweepConfig",
    "SweepLayout",
    "SweepPlan",
    "SweepResult",
    "SyntheticSpec",
    "TrialSpec",
    "human_rows",
    "load_sweep_config",
    "plan_sweep",
    "plan_trials",
    "read_split",
    "run_sweep",
    "sweep_config_from_dict",
    "synthetic_path",
]
