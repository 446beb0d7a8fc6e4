"""Stage 6, grid: one scorer of the human-only kind per (synthetic set, share, synthetic weight), within the time budget."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from synthgrade.build.grid import GridTask, train_grid_cell
from synthgrade.build.records import BuildState, GridCell, HumanOnly, SyntheticSet
from synthgrade.build.stage import Stage
from synthgrade.console import console
from synthgrade.experiment.store import ResultsStore


class GridStage(Stage):
    """Trains the cells ``work/grid.jsonl`` does not hold yet through the executor; only this driver appends to it."""

    name = "grid"
    reads = ("human", "sets")
    produces = ("cells",)

    def run(self, state: BuildState) -> None:
        human = state.human
        assert human is not None
        plan = self.plan(human, state.sets)
        store = ResultsStore(self.layout.grid_results)
        done = {key: GridCell.from_dict(row) for key, row in store.load().items()}
        self.announce(f"{len(plan)} augmented models of kind {human.spec} (set x share x synthetic weight)")
        durations = [cell.seconds for cell in done.values() if cell.trained]
        todo = [task for task in plan if task.key not in done]
        for outcome in self.context.executor.map(train_grid_cell, self.affordable(todo, human, durations, store, done)):
            task = outcome.task
            if outcome.error is not None:
                cell = GridCell(task.key, task.set_name, task.share, task.weight, failed=outcome.error)
                console.print(f"[red]failed[/red] {task.key}: {outcome.error}", highlight=False)
            else:
                cell = outcome.result
                durations.append(cell.seconds)
                console.print(
                    f"{task.key}: validation macro-F1 {cell.val_macro_f1:.3f} (human-only {human.val_macro_f1:.3f})",
                    highlight=False,
                )
            store.append(cell.to_dict())
            done[task.key] = cell
            self.context.save_state()
        state.cells = [done[task.key] for task in plan]

    def plan(self, human: HumanOnly, sets: list[SyntheticSet]) -> list[GridTask]:
        """Every (usable set, share, weight) cell, in the order of the settings."""
        config, out = self.config, str(self.layout.root)
        usable = [entry for entry in sets if entry.rows]
        return [
            GridTask(
                out,
                f"{entry.name}-s{share:g}-w{weight:g}",
                entry.name,
                entry.strategy,
                entry.temperature,
                share,
                weight,
                human.spec,
                config.seed,
                tuple(self.labels),
            )
            for entry, share, weight in itertools.product(usable, config.shares, config.weights)
        ]

    def affordable(
        self, todo: list[GridTask], human: HumanOnly, durations: list[float], store: ResultsStore, done: dict[str, GridCell]
    ) -> Iterator[GridTask]:
        """Hand out cells while the time budget lasts (an executor that runs ahead gets them all at once)."""
        for number, task in enumerate(todo, start=1):
            estimate = float(np.mean(durations)) if durations else human.fit_seconds
            if self.clock.left < estimate:
                cell = GridCell(task.key, task.set_name, task.share, task.weight, skipped="time budget")
                store.append(cell.to_dict())
                done[task.key] = cell
                console.print(f"[yellow]skipped[/yellow] {task.key}: the time budget is spent", highlight=False)
                continue
            self.clock.note(f"cell {number}/{len(todo)}: {task.key}", eta_s=estimate * (len(todo) - number + 1))
            yield task
