"""The build's verdict: what was tested, what shipped, and what the test rows say, in one sentence.

Three cases, the same words in the console, the report's first line and ``build.json``:

- **not tested**: no augmented model was trained and judged (the time budget ran out, no synthetic row
  survived cleaning and the filter, the generator failed, or augmentation was switched off); the verdict
  says why and what to do, and never claims that synthetic data "did not help".
- **tested, not shipped**: augmented models were trained and the ship rule did not support the best
  one; the verdict gives how many, the best one's held-out gain and the lower bound the rule used.
- **shipped**: the best augmented model passed the rule; for every test set the verdict gives the paired
  test difference against human-only with its interval, worded by what the interval shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Case = Literal["not_tested", "not_shipped", "shipped"]

#: README sections the next steps point to (anchors as GitHub renders the headings).
README_SECTIONS = {
    "build": "build-one-command-from-human-coded-data-to-a-deployable-scorer",
    "generate": "generate-and-filter-synthetic-responses",
    "generators": "generators-compared",
    "data": "data",
    "unlabeled": "uncoded-responses-self-training-with---unlabeled",
}


@dataclass
class NextStep:
    text: str
    section: str  # a key of README_SECTIONS

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "readme": README_SECTIONS[self.section]}


@dataclass
class Verdict:
    case: Case
    text: str
    why: str = ""
    next_steps: list[NextStep] = field(default_factory=list)
    #: per test set: the shipped model's paired macro-F1 difference to human-only and its wording
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "text": self.text,
            "why": self.why,
            "next_steps": [step.to_dict() for step in self.next_steps],
            "tests": self.tests,
        }


def interval_wording(diff: dict[str, Any] | None) -> str:
    """What a paired difference's interval shows: above 0 "helped", below 0 "worse", across 0 "no clear difference"."""
    if not diff or diff.get("value") is None:
        return "no test difference could be computed"
    low, high = diff.get("ci_low"), diff.get("ci_high")
    if low is not None and low > 0:
        return "helped"
    if high is not None and high < 0:
        return "worse on the test rows"
    return "no clear difference on the test rows"


def signed_interval(diff: dict[str, Any]) -> str:
    text = f"{diff['value']:+.3f}"
    if diff.get("ci_low") is not None and diff.get("ci_high") is not None:
        text += f" [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]"
    return text


STRONGER_GENERATOR = NextStep(
    "a stronger generator writes rows the filter keeps: `--backend openai --generator gpt-4o-mini` (OPENAI_API_KEY), "
    "or `make generators` and `--generator qwen2.5-coder-1.5b` offline",
    "generators",
)
FASTER_GENERATOR = NextStep(
    "a faster offline generator: `pip install llama-cpp-python` (the default backend then runs the GGUF generator through "
    "llama.cpp, about 3x faster on a CPU), or a server through `--backend openai --base-url URL`",
    "generate",
)
CODE_MORE = NextStep(
    "code more rows: every coded row adds evidence to the ship rule and the test, and usually helps more than synthetic rows",
    "data",
)
UNLABELED = NextStep(
    "uncoded responses of the same items can teach the scorer and its student too: `--unlabeled FILE` adds a "
    "self-training arm, judged by the same rule, and joins the student's transfer rows",
    "unlabeled",
)


def _not_tested_reason(
    config: dict[str, Any], sets: list[dict[str, Any]], cells: list[dict[str, Any]]
) -> tuple[str, list[NextStep]]:
    """Why no augmented model was trained and judged, and what to do about it."""
    budget = f"--time-budget {config.get('time_budget', 0):g}"
    if not sets:
        return (
            "no synthetic data was asked for (--strategies, --temperatures or --shares is empty)",
            [NextStep("pass `--strategies paraphrase,contrast` (the default) to test augmentation", "build")],
        )
    failed_sets = [s for s in sets if s.get("calls_failed") and not s.get("generated")]
    if failed_sets:
        detail = "; ".join(
            f"{s['name']}: {s['calls_failed']} calls failed ({', '.join(sorted(s.get('call_failures') or {})) or 'no kind'})"
            for s in failed_sets
        )
        return (
            f"the generator failed ({detail})",
            [
                NextStep(
                    "check the generator: `--base-url` and OPENAI_API_KEY for a server, or the local model's install", "generate"
                ),
                FASTER_GENERATOR,
            ],
        )
    timed_out_sets = [s for s in sets if s.get("skipped") == "time budget"]
    timed_out_cells = [c for c in cells if c.get("skipped") == "time budget"]
    if timed_out_cells or (timed_out_sets and not any(s.get("rows") for s in sets)):
        what = f"{len(timed_out_cells)} augmented model(s) would not fit" if timed_out_cells else "generation did not fit"
        return (
            f"the time budget ran out before any augmented model was trained ({what} in {budget} min)",
            [NextStep(f"a larger time budget (`{budget}` now)", "build"), FASTER_GENERATOR, STRONGER_GENERATOR],
        )
    failed_cells = [c for c in cells if c.get("failed")]
    if failed_cells:
        return (
            f"every augmented model failed to train ({failed_cells[0]['key']}: {failed_cells[0]['failed']})",
            [NextStep("see the grid table of the report and `work/grid.jsonl`", "build")],
        )
    counts = "; ".join(
        f"{s['name']}: {s.get('generated') or 0} generated, {s.get('kept_after_cleaning') or 0} cleaned, {s.get('rows', 0)} kept"
        for s in sets
        if not s.get("skipped")
    )
    return (
        f"no synthetic row survived cleaning and the filter ({counts})",
        [
            STRONGER_GENERATOR,
            NextStep("a lower `--min-confidence`, or `--filter off` to see what the filter removed", "generate"),
        ],
    )


def build_verdict(
    decision: dict[str, Any],
    evaluation: dict[str, Any],
    sets: list[dict[str, Any]],
    cells: list[dict[str, Any]],
    config: dict[str, Any],
) -> Verdict:
    """The verdict of a finished build from its decision record, test evaluation, synthetic sets and grid cells."""
    trained = [c for c in cells if "val_macro_f1" in c]
    if not trained or not decision.get("cells"):
        why, steps = _not_tested_reason(config, sets, cells)
        text = f"synthetic data not tested: {why}; shipped the human-only model"
        return Verdict("not_tested", text, why, steps)
    best, level = decision.get("best_cell"), decision.get("level", 0.95)
    if not decision.get("ship_synthetic"):
        why = (
            f"{decision['cells']} augmented model(s) trained; the best ({best}) changed held-out macro-F1 by "
            f"{decision['validation_gain']:+.3f}, but the lower {level:.1%} bound of that gain is "
            f"{decision['lower_bound']:+.3f}, "
            f"not above the margin {config.get('margin', 0.0):g}"
        )
        text = f"synthetic data tested, not shipped: {why}; shipped the human-only model"
        self_trained = any(s.get("strategy") == "self-training" for s in sets)  # --unlabeled was given
        return Verdict("not_shipped", text, why, [STRONGER_GENERATOR, CODE_MORE] + ([] if self_trained else [UNLABELED]))
    tests: dict[str, dict[str, Any]] = {}
    parts = []
    for name, arms in evaluation.get("tests", {}).items():
        diff = (arms.get("shipped") or {}).get("diff_vs_human_only", {}).get("macro_f1")
        wording = interval_wording(diff)
        tests[name] = {"wording": wording, "macro_f1_diff": diff}
        parts.append(f"{name}: {wording}, {signed_interval(diff)} macro-F1" if diff else f"{name}: {wording}")
    why = (
        f"the best of {decision['cells']} augmented model(s) ({best}) beat human-only on held-out human rows by "
        f"{decision['validation_gain']:+.3f} macro-F1 (lower {level:.1%} bound {decision['lower_bound']:+.3f})"
    )
    text = f"synthetic data shipped ({decision['shipped']}); against human-only on the test rows: " + "; ".join(parts)
    confirmed = all(t["wording"] == "helped" for t in tests.values())
    steps = (
        [CODE_MORE]
        if confirmed
        else [
            NextStep("the test rows do not confirm the validation gain: code more rows before relying on it", "data"),
            STRONGER_GENERATOR,
        ]
    )
    return Verdict("shipped", text, why, steps, tests)
