"""``synthgrade build``: from one human-coded file to a deployable scorer, shipping synthetic data only where it wins.

The stages run in the order of :data:`synthgrade.build.stages.PIPELINE`, each a class in
``build/stages/`` (each module's docstring says what it does):

1. **data**: validate and split the file; the test rows (or ``--test FILE``) are set aside and touched
   only by the final evaluation.
2. **human-only**: the human-only scorer (``--model auto`` by default), chosen on the validation rows.
3. **generate**: per strategy and temperature, synthetic rows from the training rows only, sized to ``--time-budget``.
4. **filter**: keep the rows whose intended label the human-only scorer supports; every dropped row is counted.
5. **self-train** (``--unlabeled POOL`` only): the uncoded responses the human-only scorer labels with a
   confidence above a threshold chosen on the validation rows become one more synthetic set
   (:mod:`synthgrade.train.selftrain`).
6. **grid**: one scorer of the human-only winner's kind per (synthetic set, share, synthetic weight).
7. **decide**: the best cell on the held-out human rows (validation rows, pooled with the out-of-fold
   predictions of the training rows where the kind cross-validates) ships only when the one-sided lower
   bound of its paired bootstrap gain in macro-F1 over human-only, at a level corrected for the cells tried
   (Bonferroni), exceeds ``--margin`` (:mod:`synthgrade.build.decision`); otherwise human-only ships.
8. **distill**: a cheaper student of the shipped model (``--unlabeled`` rows join its transfer set).
9. **evaluate** every model once on the untouched test rows; 10. **report** with the verdict at the top.

Each stage writes its outputs atomically under ``OUT/work`` and reuses them when it finds them, so a
killed build resumes where it stopped; ``work/state.json`` holds the key of the data and settings.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from synthgrade.build.config import BuildConfig
from synthgrade.build.inputs import BuildData, load_build_data
from synthgrade.build.layout import BuildLayout
from synthgrade.build.records import BuildResult, BuildState
from synthgrade.build.stage import BuildContext, StageClock
from synthgrade.build.stages import PIPELINE, STAGES
from synthgrade.build.stages.generate import one_strategy, per_group_rows
from synthgrade.console import console
from synthgrade.data import ColumnMap
from synthgrade.errors import SynthgradeError
from synthgrade.executors.base import Executor, LocalExecutor
from synthgrade.io import check_outputs, read_json, stable_hash


class Build:
    """One build into ``out``; :meth:`run` runs every stage of :data:`PIPELINE`, each reusing what it finished before."""

    def __init__(self, data: BuildData, out: str | Path, config: BuildConfig, executor: Executor | None = None) -> None:
        self.layout = BuildLayout(out)
        self.out = self.layout.root
        self.work = self.layout.work
        self.context = BuildContext(
            data=data,
            config=config,
            layout=self.layout,
            clock=StageClock(config.time_budget * 60, STAGES),
            executor=executor or LocalExecutor(),
            key=stable_hash({"data": data.fingerprint(), "config": config.model_dump(mode="json")}),
        )

    def open(self, overwrite: bool) -> None:
        """Clear the outputs (``overwrite``), or check that the folder holds this build to resume, or nothing."""
        state_path, context = self.layout.state, self.context
        if overwrite:
            for name in BuildLayout.OUTPUTS:
                target = self.out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        elif state_path.exists():
            state = read_json(state_path)
            if state.get("key") != context.key:
                raise SynthgradeError(
                    f"{self.out}: holds a build of other data or settings; pass --overwrite to start again, or use another --out"
                )
            context.clock.spent_before = float(state.get("elapsed_s", 0.0))
            console.print(f"resuming the build in {self.out} (finished steps are kept)", highlight=False)
        elif self.out.exists() and any(self.out.iterdir()):
            raise SynthgradeError(f"{self.out}: exists and is not a build folder; choose another --out (nothing was written)")
        self.work.mkdir(parents=True, exist_ok=True)
        context.save_state()

    def run(self, overwrite: bool = False) -> BuildResult:
        self.open(overwrite)
        state = BuildState()
        for stage in PIPELINE:
            stage(self.context).run(state)
        assert state.result is not None, "the last stage makes the result"
        return state.result

    def save_state(self, **extra: Any) -> None:
        self.context.save_state(**extra)


def run_build(
    data: str | Path | BuildData,
    out: str | Path,
    config: BuildConfig | None = None,
    columns: ColumnMap | None = None,
    test: str | Path | None = None,
    overwrite: bool = False,
    executor: Executor | None = None,
) -> BuildResult:
    """Build a scorer from a human-coded file (or prepared :class:`BuildData`) into ``out``; resumes a killed build.

    ``executor`` runs the grid's cells (default: one after another in this process; see
    :data:`synthgrade.executors.engines.EXECUTORS` for processes and Ray)."""
    config = config or BuildConfig()
    # What a fresh build clears (--overwrite) must hold none of its inputs, e.g. OUT/split/train.csv of a rebuild.
    sources = [data.source if isinstance(data, BuildData) else data, test, config.unlabeled]
    check_outputs([BuildLayout(out).root / name for name in BuildLayout.OUTPUTS], sources, overwrite=True, directories=True)
    bd = data if isinstance(data, BuildData) else load_build_data(data, config, columns, test)
    build = Build(bd, out, config, executor)
    try:
        return build.run(overwrite=overwrite)
    except KeyboardInterrupt:
        build.save_state()
        console.print(
            f"[yellow]build interrupted[/yellow]: finished steps are kept in {build.work}; run the same command again to resume",
            highlight=False,
        )
        raise


__all__ = [
    "STAGES",
    "Build",
    "BuildData",
    "BuildResult",
    "load_build_data",
    "one_strategy",
    "per_group_rows",
    "run_build",
]
