"""``synthgrade build``: from one human-coded file to a deployable scorer, shipping synthetic data only where it wins.

Stages (each writes its outputs atomically under ``OUT/work`` and is skipped when they exist, so a killed
build resumes where it stopped):

1. **data**: validate and split the file; the test rows (or ``--test FILE``) are set aside and touched
   only by the final evaluation.
2. **human-only**: train the human-only scorer (``--model auto`` by default) on the training rows, chosen
   on the validation rows.
3. **generate**: for each strategy and temperature, synthetic rows from the training rows only.
4. **filter**: keep the rows whose intended label the human-only scorer supports (``--min-confidence``);
   every dropped row is counted.
5. **grid**: one scorer of the human-only winner's kind per (synthetic set, share, synthetic weight),
   within ``--time-budget``.
6. **decide**: the best cell on the held-out human rows (validation rows, pooled with the out-of-fold
   predictions of the training rows where the kind cross-validates) ships only when the lower bound of
   its paired bootstrap gain over human-only, corrected for the cells tried, exceeds ``--margin``
   (:mod:`synthgrade.build.decision`); otherwise human-only ships. The shipped model is copied to ``OUT/model``.
7. **distill**: a cheaper student of the shipped model.
8. **evaluate** every model once on the untouched test rows; **report** with the verdict at the top.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.markup import escape

from synthgrade.build.config import BuildConfig
from synthgrade.build.decision import decide, macro_f1, pooled_evidence
from synthgrade.build.grid import GridTask, aligned_proba, mixed_rows, read_split_part, train_grid_cell
from synthgrade.console import console
from synthgrade.data import ColumnMap, check_human_test, load_responses, write_table
from synthgrade.data.schema import LABEL, label_order
from synthgrade.data.split import split_responses, write_splits
from synthgrade.errors import SynthgradeError
from synthgrade.experiment.executor import Executor, LocalExecutor
from synthgrade.experiment.layout import BuildLayout
from synthgrade.io import atomic_directory, atomic_path, check_outputs, read_json, stable_hash, write_json
from synthgrade.metrics import degenerate_test_warnings

STAGES = ("data", "human-only", "generate", "filter", "grid", "decide", "distill", "evaluate", "report")
#: How a skipped synthetic set is explained on the console (other reasons are printed as they are).
SKIP_REASONS = {"generator failed": "the generator failed", "time budget": "it does not fit the time budget"}
#: Per-row predictions kept in the work folder, left out of build.json.
PER_ROW = ("val_pred", "oof")


@dataclass
class BuildData:
    """Human-coded rows of one build: training, validation (selection only) and named test sets (reporting only)."""

    train: pd.DataFrame
    val: pd.DataFrame
    tests: dict[str, pd.DataFrame]
    labels: list[str]
    source: str = ""

    def fingerprint(self) -> str:
        from synthgrade.data import frame_hash

        return stable_hash(
            [self.labels, frame_hash(self.train), frame_hash(self.val), {k: frame_hash(v) for k, v in self.tests.items()}]
        )


@dataclass
class BuildResult:
    out: Path
    shipped: str
    ship_synthetic: bool
    verdict: str
    decision: dict[str, Any]
    evaluation: dict[str, Any]
    report: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)


class StageClock:
    """Prints which stage runs, the time spent and what is left of the time budget (the progress view)."""

    def __init__(self, budget_s: float, spent_before: float = 0.0) -> None:
        self.started = time.perf_counter()
        self.budget_s = budget_s
        self.spent_before = spent_before

    @property
    def elapsed(self) -> float:
        return self.spent_before + time.perf_counter() - self.started

    @property
    def left(self) -> float:
        return self.budget_s - self.elapsed

    def stage(self, name: str, detail: str = "") -> None:
        _use_free_cores()
        number = STAGES.index(name) + 1
        console.rule(f"[bold][{number}/{len(STAGES)}] {name}", align="left")
        if detail:
            console.print(detail, highlight=False)

    def note(self, text: str, eta_s: float | None = None) -> None:
        eta = f", about {_minutes(eta_s)} to go" if eta_s is not None else ""
        console.print(f"{text} (elapsed {_minutes(self.elapsed)}{eta})", highlight=False)


def _use_free_cores() -> None:
    """Each stage runs torch on the cores other processes leave free (on a shared CPU, surplus threads wait on each other)."""
    import torch  # every build embeds (hybrids, the cleaning's near-duplicate check) or generates with it

    from synthgrade.generate.local_model import free_cores

    torch.set_num_threads(free_cores())


def _minutes(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


# -- stage 1: data -------------------------------------------------------------------------------------
def load_build_data(
    data: str | Path, config: BuildConfig, columns: ColumnMap | None = None, test: str | Path | None = None
) -> BuildData:
    """Validate ``data`` (errors name file and row) and split it; ``test`` replaces the held-out share."""
    frame = load_responses(data, columns, config.labels)
    labels = label_order(frame[LABEL].dropna().astype(str), config.labels)
    if len(labels) < 2:
        raise SynthgradeError(f"{data}: build needs at least two labels, the data has {labels}")
    test_share = 0.0 if test is not None else config.test
    if test is None and test_share <= 0:
        raise SynthgradeError("the test share is 0 and no test file is given: nothing to evaluate on")
    fractions = (1.0 - config.val - test_share, config.val, test_share)
    splits = split_responses(frame, seed=config.seed, by=config.split_by, fractions=fractions)
    tests = {"test": splits["test"]} if test is None else {Path(test).stem: _load_test(test, frame, labels, columns)}
    for name, part in (("train", splits["train"]), ("val", splits["val"]), *tests.items()):
        if part.empty:
            raise SynthgradeError(f"{data}: the {name} split is empty ({len(frame)} rows); the data is too small to build from")
    for name, part in tests.items():
        check_human_test(part, name)
        for warning in degenerate_test_warnings(part[LABEL].astype(str).tolist(), name):
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    for part in (splits["train"], splits["val"], *tests.values()):
        part.attrs["labels"] = labels
    return BuildData(splits["train"], splits["val"], tests, labels, source=str(data))


def _load_test(test: str | Path, data: pd.DataFrame, labels: list[str], columns: ColumnMap | None) -> pd.DataFrame:
    """``--test FILE``, refused before anything is written when it has a label the data lacks (read against the
    data's labels) or repeats data rows (the leakage guard)."""
    from synthgrade.data import check_disjoint

    frame = load_responses(test, columns, labels)
    check_human_test(frame, Path(test).stem)
    check_disjoint(data, frame, names=("input", "--test"))
    return frame


def _write_split(bd: BuildData, out: Path, config: BuildConfig) -> None:
    split_dir = BuildLayout(out).split_dir
    parts = {"train": bd.train, "val": bd.val, "test": pd.concat(list(bd.tests.values()), ignore_index=True)}
    fractions = (1.0 - config.val - config.test, config.val, config.test)
    source = bd.source if bd.source and Path(bd.source).is_file() else None
    write_splits(parts, split_dir, config.seed, config.split_by, fractions, source=source, labels=bd.labels)


# -- helpers ---------------------------------------------------------------------------------------------
def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _append_jsonl(path: Path, entry: dict[str, Any]) -> None:
    """Rewrite the whole file atomically: a kill leaves the old file or the new one, never half a line."""
    rows = _jsonl_rows(path) + [entry]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _label_index(frame: pd.DataFrame, labels: list[str]) -> np.ndarray:
    from synthgrade.data import label_indices

    return label_indices(frame, labels)


def _scorer_spec(scorer: Any, fallback: str) -> str:
    training = scorer.info.training or {}
    chosen = (training.get("auto") or {}).get("chosen")
    if chosen:
        return str(chosen)
    return fallback if fallback != "auto" else (scorer.info.base_model or scorer.info.kind)


def one_strategy(result: Any, strategy: str) -> Any:
    """One strategy's rows of a generation run over several, with its own counts (the calls are the run's)."""
    from synthgrade.generate import GenerationResult

    frame = result.frame
    if "strategy" in frame.columns:
        frame = frame[frame["strategy"] == strategy].reset_index(drop=True)
    own = (result.summary.get("by_strategy") or {}).get(strategy, {})
    counts = {key: own[key] for key in ("groups", "requested", "generated", "kept", "removed", "removed_total") if key in own}
    run = {"strategies": [strategy], "run_strategies": result.summary.get("strategies")}
    return GenerationResult(frame, result.summary | counts | run)


def _fit_seconds(scorer: Any, total: float) -> float:
    """Seconds the chosen scorer took to fit (``auto`` tries several candidates; a grid cell fits only the chosen kind)."""
    auto = (scorer.info.training or {}).get("auto") or {}
    chosen = next((row for row in auto.get("leaderboard", []) if row.get("model") == auto.get("chosen")), None)
    return round(float(chosen["seconds"]), 1) if chosen and chosen.get("seconds") else round(total, 1)


def per_group_rows(train: pd.DataFrame, labels: list[str], share: float, cap: int) -> int:
    """Synthetic rows to ask for per (item, label): enough for ``share`` of the training rows, by the average group."""
    groups = (
        train.groupby(["item_id", LABEL]).size()
        if "item_id" in train.columns and train["item_id"].notna().any()
        else (train.groupby(LABEL).size())
    )
    mean_group = float(groups.mean()) if len(groups) else 1.0
    wanted = math.ceil(share / (1.0 - share) * mean_group * 1.25)  # a margin for rows cleaning and filtering drop
    return int(min(cap, max(2, wanted)))


def _unfinished_generation(summary: dict[str, Any]) -> str | None:
    """Why a generation must not count as done (failed calls, or no usable row), or None when it may."""
    calls = summary.get("calls") or {}
    if calls.get("failed"):
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted((calls.get("failures") or {}).items()))
        return f"{calls['failed']} generation calls failed ({kinds}); rerun the build to retry them"
    if not summary.get("kept"):
        return f"the generator gave no usable rows ({summary.get('generated', 0)} parsed, none kept after cleaning)"
    return None


# -- the build ---------------------------------------------------------------------------------------
class Build:
    """One build into ``out``; :meth:`run` executes the stages that have not finished yet."""

    def __init__(self, data: BuildData, out: str | Path, config: BuildConfig, executor: Executor | None = None) -> None:
        self.data = data
        self.executor = executor or LocalExecutor()
        self.layout = BuildLayout(out)
        self.out = self.layout.root
        self.work = self.layout.work
        self.config = config
        self.labels = data.labels
        self.key = stable_hash({"data": data.fingerprint(), "config": config.model_dump(mode="json")})
        self.clock = StageClock(config.time_budget * 60)

    # -- state ------------------------------------------------------------------------------------
    def _open(self, overwrite: bool) -> None:
        state_path = self.layout.state
        if overwrite:
            for name in BuildLayout.OUTPUTS:
                target = self.out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        elif state_path.exists():
            state = read_json(state_path)
            if state.get("key") != self.key:
                raise SynthgradeError(
                    f"{self.out}: holds a build of other data or settings; pass --overwrite to start again, or use another --out"
                )
            self.clock.spent_before = float(state.get("elapsed_s", 0.0))
            console.print(f"resuming the build in {self.out} (finished steps are kept)", highlight=False)
        elif self.out.exists() and any(self.out.iterdir()):
            raise SynthgradeError(f"{self.out}: exists and is not a build folder; choose another --out (nothing was written)")
        self.work.mkdir(parents=True, exist_ok=True)
        self._save_state()

    def _save_state(self, **extra: Any) -> None:
        write_json(self.layout.state, {"key": self.key, "elapsed_s": round(self.clock.elapsed, 1), **extra})

    # -- stages -----------------------------------------------------------------------------------
    def run(self, overwrite: bool = False) -> BuildResult:
        self._open(overwrite)
        bd, config = self.data, self.config
        self.clock.stage(
            "data",
            f"{len(bd.train):,} training, {len(bd.val):,} validation rows; test rows set aside: "
            + ", ".join(f"{name} {len(frame):,}" for name, frame in bd.tests.items())
            + f"; labels {', '.join(self.labels)}",
        )
        if not self.layout.split_manifest.exists():
            _write_split(bd, self.out, config)
        # Every stage (and every executor's worker) reads the same rows: the split files as written.
        bd.train, bd.val = read_split_part(self.out, "train", self.labels), read_split_part(self.out, "val", self.labels)
        human = self.human_only()
        sets = self.synthetic_sets(human) if config.augment else []
        cells = self.grid(human, sets)
        decision, shipped_dir, shipped_name = self.decide(human, cells)
        student_dir = self.distill(shipped_dir, shipped_name, cells)
        evaluation = self.evaluate(human, cells, shipped_name, student_dir)
        return self.finish(decision, shipped_name, evaluation, sets, cells, student_dir)

    def human_only(self) -> dict[str, Any]:
        from synthgrade.train import Trainer, TrainingArguments

        record_path, model_dir = self.layout.human_record, self.layout.human_model
        self.clock.stage("human-only", f"training the human-only scorer ({self.config.model}) on {len(self.data.train):,} rows")
        if record_path.exists() and model_dir.exists():
            record = read_json(record_path)
            console.print(f"done before: {record['spec']}, validation macro-F1 {record['val_macro_f1']:.3f}", highlight=False)
            return record
        config = self.config
        args = TrainingArguments(model=config.model, candidates=config.candidates, seed=config.seed, labels=self.labels)
        tick = time.perf_counter()
        scorer = Trainer(args).train(self.data.train, self.data.val, provenance={"build": str(self.out), "arm": "human-only"})
        seconds = time.perf_counter() - tick
        with atomic_directory(model_dir) as tmp:
            scorer.save_pretrained(tmp)
        proba = aligned_proba(scorer, self.data.val, self.labels)
        record = self._val_record(proba) | {
            "spec": _scorer_spec(scorer, config.model),
            "seconds": round(seconds, 1),
            "fit_seconds": _fit_seconds(scorer, seconds),
            "oof": (scorer.info.training or {}).get("oof"),
        }
        write_json(record_path, record)
        self._save_state()
        self.clock.note(f"human-only: {record['spec']}, validation macro-F1 {record['val_macro_f1']:.3f}")
        return record

    def _val_record(self, proba: np.ndarray) -> dict[str, Any]:
        from synthgrade.metrics import point_metrics

        y = _label_index(self.data.val, self.labels)
        f1 = point_metrics(y, proba, self.labels)["macro_f1"]
        return {"val_macro_f1": float(f1 or 0.0), "val_pred": proba.argmax(axis=1).tolist()}

    def synthetic_sets(self, human: dict[str, Any]) -> list[dict[str, Any]]:
        """Generate and filter one synthetic set per (strategy, temperature); returns their records."""
        from synthgrade.generate import GenerationConfig, generate_synthetic, write_synthetic

        config, bd = self.config, self.data
        combos = list(itertools.product(config.strategies, config.temperatures))
        self.clock.stage(
            "generate",
            f"{config.generator} writes {', '.join(config.strategies)} rows at temperature(s) "
            f"{', '.join(map(str, config.temperatures))} from the {len(bd.train):,} training rows only",
        )
        wanted = per_group_rows(bd.train, self.labels, max(config.shares), config.max_per_group)
        pending = [(s, t) for s, t in combos if not self._generated(f"{s}-t{t:g}")]
        plan = self._plan_generation(human, pending, wanted, len(combos)) if pending else None
        skipped: dict[str, dict[str, Any]] = {}
        if plan is not None:
            fitting = [] if plan.generator_failed else pending[: plan.sets]
            for strategy, temperature in pending:
                if (strategy, temperature) not in fitting:
                    reason = "generator failed" if plan.generator_failed else "time budget"
                    skipped[f"{strategy}-t{temperature:g}"] = {"skipped": reason} | (
                        {"calls_failed": sum(plan.generator_failed.values()), "call_failures": plan.generator_failed}
                        if plan.generator_failed
                        else {}
                    )
            # The sets of one temperature are one generation run: their prompts share the local model's batches.
            for temperature in dict.fromkeys(t for _, t in fitting):
                strategies = [s for s, t in fitting if t == temperature]
                names = [f"{strategy}-t{temperature:g}" for strategy in strategies]
                if self.clock.left <= 0:
                    skipped |= {name: {"skipped": "time budget"} for name in names}
                    continue
                self.clock.note(f"generating {', '.join(names)}: {plan.per_label} rows per item and label")
                cap = plan.max_requests * len(strategies) if plan.max_requests is not None else None
                settings = self._generation_settings(strategies, temperature, plan.per_label, wanted, cap)
                result = generate_synthetic(bd.train, GenerationConfig(**settings), exclude=[bd.val, *bd.tests.values()])
                unfinished = _unfinished_generation(result.summary)
                if unfinished:  # not recorded as done: a rerun calls again (answers so far come from the cache)
                    skipped |= {name: {"rows": 0, "why_empty": unfinished} for name in names}
                    continue
                for strategy, name in zip(strategies, names, strict=True):
                    write_synthetic(one_strategy(result, strategy), self.layout.raw_synthetic(name))
        generated: list[tuple[dict[str, Any], Path]] = []
        records = []
        for strategy, temperature in combos:
            name = f"{strategy}-t{temperature:g}"
            entry = {"name": name, "strategy": strategy, "temperature": temperature}
            if name in skipped and "why_empty" in skipped[name]:
                console.print(f"[yellow]not used[/yellow] {name}: {skipped[name]['why_empty']}", highlight=False)
                records.append(entry | skipped[name])
            elif name in skipped:
                reason = skipped[name]["skipped"]
                console.print(f"[yellow]skipped[/yellow] {name}: {SKIP_REASONS[reason]}", highlight=False)
                records.append(entry | skipped[name])
            else:
                generated.append((entry, self.layout.raw_synthetic(name)))
        if config.filter == "classifier":
            self.clock.stage(
                "filter", f"keeping rows the human-only scorer gives their intended label (p >= {config.min_confidence})"
            )
        records += [entry | self._filter(entry["name"], raw_path) for entry, raw_path in generated]
        usable = [r for r in records if r.get("rows")]
        if not usable:
            console.print(
                "[yellow]no usable synthetic rows:[/yellow] "
                + "; ".join(f"{r['name']}: {r.get('skipped') or r.get('why_empty', 'no rows')}" for r in records),
                highlight=False,
            )
        self._save_state()
        return records

    def _generated(self, name: str) -> bool:
        from synthgrade.generate import summary_path

        raw_path = self.layout.raw_synthetic(name)
        return raw_path.exists() and summary_path(raw_path).exists()

    def _generation_settings(
        self, strategies: list[str], temperature: float, per_label: int, wanted: int, max_requests: int | None, **overrides: Any
    ) -> dict[str, Any]:
        config = self.config
        settings: dict[str, Any] = {
            "model": config.generator,
            "strategy": strategies,
            "temperature": temperature,
            "per_label": per_label,
            # Fixed by the rows wanted, not the rows planned: the probe's calls are then the real run's first calls.
            "per_call": min(5, wanted),
            "max_tokens": config.max_tokens,
            "max_rounds": config.max_rounds,
            "max_requests": max_requests,
            "seed": config.seed,
            "base_url": config.base_url,
            "api_key_env": config.api_key_env,
            "retry": {"timeout": config.request_timeout},
        }
        if config.backend:
            settings["backend"] = config.backend
        return settings | overrides

    def _plan_generation(self, human: dict[str, Any], pending: list[tuple[str, float]], wanted: int, total: int) -> Any:
        """Reserve the grid's share of the budget, measure the generator on the first calls, size the sets to fit."""
        from synthgrade.build.budget import PROBE_CALLS, grid_seconds_per_set, plan_generation
        from synthgrade.generate import GenerationConfig, generate_synthetic

        config, bd = self.config, self.data
        grid_s_per_set = grid_seconds_per_set(
            float(human.get("fit_seconds", human.get("seconds", 30.0))), config.shares, config.weights
        )
        if self.clock.left <= 0:
            plan = plan_generation(self.clock.left, len(pending), 1, 1, wanted, None, grid_s_per_set)
            self.clock.note(plan.describe())
            return plan
        temperature = pending[0][1]
        strategies = [s for s, t in pending if t == temperature]
        settings = self._generation_settings(strategies, temperature, wanted, wanted, PROBE_CALLS, max_rounds=1)
        self.clock.note(f"measuring the generator on its first {PROBE_CALLS} calls (temperature {temperature:g})")
        tick = time.perf_counter()
        probe = generate_synthetic(
            bd.train, GenerationConfig(**settings), exclude=[bd.val, *bd.tests.values()], show_progress=False
        ).summary
        calls = probe.get("calls") or {}
        wall = time.perf_counter() - tick - float(calls.get("model_load_s") or 0.0)
        seconds_per_call = wall / calls["model_calls"] if calls.get("model_calls") else None
        if calls.get("failed") and not calls.get("completed") and not probe.get("cache_hits"):
            plan = plan_generation(0.0, len(pending), 1, 1, wanted, None, grid_s_per_set)
            plan.generator_failed = dict(calls.get("failures") or {"unknown": calls["failed"]})
            self.clock.note(plan.describe())
            return plan
        groups = int(bd.train.groupby(["item_id", LABEL]).ngroups if "item_id" in bd.train.columns else bd.train[LABEL].nunique())
        plan = plan_generation(
            self.clock.left,
            len(pending),
            max(1, groups),
            min(5, wanted),
            wanted,
            seconds_per_call,
            grid_s_per_set,
            config.max_rounds,
        )
        plan.tokens_per_s = calls.get("completion_tokens_per_s")
        plan.load_s = float(calls.get("model_load_s") or 0.0)
        done = f" ({total - len(pending)} set(s) generated before)" if len(pending) < total else ""
        self.clock.note(plan.describe() + done)
        return plan

    def _filter(self, name: str, raw_path: Path) -> dict[str, Any]:
        """The filter stage for one set: classifier agreement with the human-only scorer, every drop counted."""
        from synthgrade.filter import FilterConfig, filter_synthetic
        from synthgrade.generate import summary_path

        kept_path = self.layout.kept_synthetic(name)
        record_path = self.layout.filter_record(name)
        generation = read_json(summary_path(raw_path))
        entry = {
            "generated": generation.get("generated"),
            "kept_after_cleaning": generation.get("kept"),
            "removed_by_reason": generation.get("removed_by_reason") or generation.get("removed"),
            "calls_failed": (generation.get("calls") or {}).get("failed", 0),
            "call_failures": (generation.get("calls") or {}).get("failures", {}),
        }
        if record_path.exists() and kept_path.exists():
            return entry | read_json(record_path)
        raw = pd.read_json(raw_path, lines=True, dtype=False) if raw_path.stat().st_size else pd.DataFrame()
        if raw.empty:
            summary = {"rows": 0, "why_empty": "the generator produced no usable rows (see the .summary.json)"}
        elif self.config.filter == "off":
            summary = {"rows": int(len(raw)), "filter": "off"}
            write_table(raw, kept_path)
        else:
            filtered = filter_synthetic(
                raw,
                FilterConfig(
                    method=["classifier"],
                    classifier=str(self.layout.human_model),
                    min_confidence=self.config.min_confidence,
                ),
                show_progress=False,
            )
            step = filtered.summary["steps"][0] if filtered.summary["steps"] else {}
            summary = {
                "rows": int(filtered.summary["kept"]),
                "filter": "classifier",
                "filter_removed": int(filtered.summary["removed"]),
                "filter_removed_by_reason": filtered.summary["removed_by_reason"],
                "label_fidelity": step.get("agreement"),
                "fidelity_per_label": step.get("per_label"),
            }
            if filtered.frame.empty:
                summary["why_empty"] = f"the filter kept none of {len(raw)} rows (label fidelity {step.get('agreement')})"
            write_table(filtered.frame, kept_path)
        if not kept_path.exists():
            write_table(raw if not raw.empty else pd.DataFrame(columns=["id", "text", "label"]), kept_path)
        write_json(record_path, summary)
        console.print(
            f"{name}: {entry['generated']} generated, {entry['kept_after_cleaning']} after cleaning, {summary['rows']} kept"
            + (f" (label fidelity {summary['label_fidelity']:.0%})" if summary.get("label_fidelity") is not None else ""),
            highlight=False,
        )
        return entry | summary

    def grid(self, human: dict[str, Any], sets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Train the cells not finished yet through the executor; only this driver writes ``grid.jsonl``."""
        config = self.config
        usable = [s for s in sets if s.get("rows")]
        plan = [
            GridTask(
                str(self.out),
                f"{entry['name']}-s{share:g}-w{weight:g}",
                entry["name"],
                entry["strategy"],
                entry["temperature"],
                share,
                weight,
                human["spec"],
                config.seed,
                tuple(self.labels),
            )
            for entry, share, weight in itertools.product(usable, config.shares, config.weights)
        ]
        grid_path = self.layout.grid_results
        done = {row["key"]: row for row in _jsonl_rows(grid_path)}
        self.clock.stage("grid", f"{len(plan)} augmented models of kind {human['spec']} (set x share x synthetic weight)")
        durations = [row["seconds"] for row in done.values() if "seconds" in row]
        todo = [task for task in plan if task.key not in done]

        def affordable() -> Any:
            """Hand out cells while the time budget lasts (an executor that runs ahead gets them all at once)."""
            for number, task in enumerate(todo, start=1):
                estimate = float(np.mean(durations)) if durations else human.get("fit_seconds", human.get("seconds", 30.0))
                if self.clock.left < estimate:
                    row = {
                        "key": task.key,
                        "set": task.set_name,
                        "share": task.share,
                        "weight": task.weight,
                        "skipped": "time budget",
                    }
                    _append_jsonl(grid_path, row)
                    done[task.key] = row
                    console.print(f"[yellow]skipped[/yellow] {task.key}: the time budget is spent", highlight=False)
                    continue
                self.clock.note(f"cell {number}/{len(todo)}: {task.key}", eta_s=estimate * (len(todo) - number + 1))
                yield task

        for outcome in self.executor.map(train_grid_cell, affordable()):
            task = outcome.task
            if outcome.error is not None:
                row = {"key": task.key, "set": task.set_name, "share": task.share, "weight": task.weight, "failed": outcome.error}
                console.print(f"[red]failed[/red] {task.key}: {outcome.error}", highlight=False)
            else:
                row = outcome.result
                durations.append(row["seconds"])
                console.print(
                    f"{task.key}: validation macro-F1 {row['val_macro_f1']:.3f} (human-only {human['val_macro_f1']:.3f})",
                    highlight=False,
                )
            _append_jsonl(grid_path, row)
            done[task.key] = row
            self._save_state()
        return [done[task.key] for task in plan]

    def decide(self, human: dict[str, Any], cells: list[dict[str, Any]]) -> tuple[dict[str, Any], Path, str]:
        """Pick the best cell on held-out human rows (validation + out-of-fold), then apply the ship rule."""
        trained = [c for c in cells if "val_pred" in c]
        y_val = _label_index(self.data.val, self.labels)
        k = len(self.labels)
        train_labels = dict(
            zip(self.data.train["id"].astype(str), _label_index(self.data.train, self.labels).tolist(), strict=True)
        )
        evidence = {
            c["key"]: pooled_evidence(
                y_val, np.asarray(human["val_pred"]), np.asarray(c["val_pred"]), train_labels, human.get("oof"), c.get("oof")
            )
            for c in trained
        }
        for c in trained:
            y, _, cell_pred, _ = evidence[c["key"]]
            c["heldout_macro_f1"] = macro_f1(y, cell_pred, k)
        # Ties go to fewer synthetic rows, then the smaller weight: the cheaper, more conservative model.
        best = max(trained, key=lambda c: (c["heldout_macro_f1"], -c["synthetic_rows"], -c["weight"])) if trained else None
        y, human_pred, best_pred = (evidence[best["key"]][:3]) if best else (y_val, np.asarray(human["val_pred"]), None)
        result = decide(
            y,
            human_pred,
            best_pred,
            k,
            cells=len(trained),
            margin=self.config.margin,
            confidence=self.config.confidence,
            bootstrap=self.config.bootstrap,
            seed=self.config.seed,
        )
        shipped_name = best["key"] if result.ship_synthetic and best else "human-only"
        shipped_dir = self.layout.grid_model(best["key"]) if result.ship_synthetic and best else self.layout.human_model
        record = result.to_dict() | {
            "best_cell": best["key"] if best else None,
            "shipped": shipped_name,
            "human_heldout_macro_f1": round(macro_f1(y, human_pred, k), 4),
            "best_heldout_macro_f1": round(best["heldout_macro_f1"], 4) if best else None,
        }
        self.clock.stage("decide", result.reason)
        write_json(self.layout.decision, record)
        with atomic_directory(self.layout.model) as tmp:
            shutil.copytree(shipped_dir, tmp, dirs_exist_ok=True)
        return record, shipped_dir, shipped_name

    def student_spec(self, teacher: Any) -> str | None:
        """``--student auto``: none for TF-IDF (nothing is cheaper); a MiniLM hybrid for an mpnet hybrid (a static
        student would first distil mpnet's vocabulary, minutes on a CPU); static for the rest."""
        spec = self.config.student
        if spec == "none":
            return None
        if spec != "auto":
            return spec
        if teacher.info.kind == "tfidf":
            return None
        if teacher.info.kind == "hybrid":
            encoder = (teacher.info.training or {}).get("encoder", "")
            return "minilm-l6" if encoder == "mpnet-base" else "static"
        return "static"

    def distill(self, shipped_dir: Path, shipped_name: str, cells: list[dict[str, Any]]) -> Path | None:
        from synthgrade.distill import DistillationArguments, DistillationTrainer
        from synthgrade.modeling import load_scorer

        teacher = load_scorer(shipped_dir)
        spec = self.student_spec(teacher)
        record_path = self.layout.student_record
        self.clock.stage("distill", f"student of the shipped model ({shipped_name}): {spec or 'none'}")
        if spec is None:
            console.print("no student: the shipped model is already the cheapest kind", highlight=False)
            write_json(record_path, {"student": None})
            return None
        student_dir = self.layout.student
        if record_path.exists() and student_dir.exists() and read_json(record_path).get("teacher") == shipped_name:
            return student_dir
        transfer = self.data.train
        if shipped_name != "human-only":
            cell = next(c for c in cells if c["key"] == shipped_name)
            transfer = mixed_rows(self.out, self.data.train, cell["set"], cell["share"], self.labels, self.config.seed).frame
        args = DistillationArguments(
            student=spec, seed=self.config.seed, labels=self.labels, speed_rows=min(256, len(self.data.val))
        )
        student = DistillationTrainer(teacher, args).train(
            transfer, self.data.val, provenance={"build": str(self.out), "teacher": shipped_name}
        )
        with atomic_directory(student_dir) as tmp:
            student.save_pretrained(tmp)
        write_json(record_path, {"student": spec, "teacher": shipped_name})
        return student_dir

    def evaluate(
        self, human: dict[str, Any], cells: list[dict[str, Any]], shipped: str, student_dir: Path | None
    ) -> dict[str, Any]:
        """Every model once on every untouched test set, with paired differences against human-only."""
        from synthgrade.data import frame_hash
        from synthgrade.evaluate import record_evaluation
        from synthgrade.metrics import HEADLINE, evaluate_predictions
        from synthgrade.modeling import load_scorer

        path = self.layout.evaluation
        self.clock.stage("evaluate", "every model once on the untouched test rows: " + ", ".join(self.data.tests))
        arms: dict[str, Path] = {"human-only": self.layout.human_model}
        arms |= {c["key"]: self.layout.grid_model(c["key"]) for c in cells if "val_pred" in c}
        if student_dir is not None:
            arms["student"] = student_dir
        # Reused only for the same models: a rerun that generated what a dead server could not has new cells.
        done = read_json(path) if path.exists() else {}
        if done.get("shipped") == shipped and done.get("arms", sorted(arms)) == sorted(arms):
            return done
        result: dict[str, Any] = {"shipped": shipped, "arms": sorted(arms), "bootstrap": self.config.bootstrap, "tests": {}}
        for test_name, frame in self.data.tests.items():
            y = _label_index(frame, self.labels)
            probas = {name: aligned_proba(load_scorer(directory), frame, self.labels) for name, directory in arms.items()}
            per_arm = {}
            for name, proba in probas.items():
                compare = probas["human-only"] if name != "human-only" else None
                metrics = evaluate_predictions(
                    y, proba, self.labels, bootstrap=self.config.bootstrap, seed=self.config.seed, compare_proba=compare
                )
                entry = {metric: metrics[metric] for metric in HEADLINE} | {"n": metrics["n"]}
                if compare is not None:
                    entry["diff_vs_human_only"] = {
                        m: {k: v for k, v in metrics["diff"][m].items() if k != "other"} for m in HEADLINE
                    }
                per_arm[name] = entry
                if name == shipped:
                    record_evaluation(
                        self.layout.model, {**metrics, "test_hash": frame_hash(frame)}, test_name=f"build:{test_name}"
                    )
            per_arm["shipped"] = per_arm[shipped]
            result["tests"][test_name] = per_arm
        write_json(path, result)
        return result

    def finish(
        self,
        decision: dict[str, Any],
        shipped: str,
        evaluation: dict[str, Any],
        sets: list[dict[str, Any]],
        cells: list[dict[str, Any]],
        student_dir: Path | None,
    ) -> BuildResult:
        from synthgrade.build.report import write_build_report
        from synthgrade.build.verdict import build_verdict

        outcome = build_verdict(decision, evaluation, sets, cells, self.config.model_dump(mode="json"))
        verdict = outcome.text
        summary = {
            "verdict": verdict,
            "outcome": outcome.to_dict(),
            "shipped": shipped,
            "model": str(self.layout.model),
            "student": str(student_dir) if student_dir else None,
            "decision": decision,
            "human_only": {k: v for k, v in read_json(self.layout.human_record).items() if k not in PER_ROW},
            "synthetic_sets": sets,
            "grid": [{k: v for k, v in c.items() if k not in PER_ROW} for c in cells],
            "evaluation": evaluation,
            "config": self.config.model_dump(mode="json"),
            "counts": {"train": len(self.data.train), "val": len(self.data.val)}
            | {k: len(v) for k, v in self.data.tests.items()},
            "elapsed_s": round(self.clock.elapsed, 1),
        }
        self.clock.stage("report")
        report = write_build_report(self.out, summary)
        write_json(self.layout.summary, summary)
        self._save_state(finished=True)
        console.print(f"[bold]{escape(verdict)}[/bold]", highlight=False)
        for step in outcome.next_steps:
            console.print(f"next: {escape(step.text)}", highlight=False)
        console.print(
            f"model: {self.out / 'model'}; report: {report}; build took {_minutes(self.clock.elapsed)}", highlight=False
        )
        return BuildResult(self.out, shipped, bool(decision["ship_synthetic"]), verdict, decision, evaluation, report, summary)


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
    :data:`synthgrade.experiment.engines.EXECUTORS` for processes and Ray)."""
    config = config or BuildConfig()
    # What a fresh build clears (--overwrite) must hold none of its inputs, e.g. OUT/split/train.csv of a rebuild.
    sources = [data.source if isinstance(data, BuildData) else data, test]
    check_outputs([BuildLayout(out).root / name for name in BuildLayout.OUTPUTS], sources, overwrite=True, directories=True)
    bd = data if isinstance(data, BuildData) else load_build_data(data, config, columns, test)
    build = Build(bd, out, config, executor)
    try:
        return build.run(overwrite=overwrite)
    except KeyboardInterrupt:
        build._save_state()
        console.print(
            f"[yellow]build interrupted[/yellow]: finished steps are kept in {build.work}; run the same command again to resume",
            highlight=False,
        )
        raise


__all__ = ["BuildData", "BuildResult", "STAGES", "load_build_data", "run_build"]
