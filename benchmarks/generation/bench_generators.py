"""Benchmark: the packaged generators x augmentation strategies on SciEntsBank 2-way (validation only).

One fixed human draw: ``--items`` questions of the official training split picked with ``--seed``, a
stratified ``--rows``-row draw from their rows, ``--val-share`` of it (stratified) as human validation,
the rest as the human training rows. The training split's other rows of the same questions are extra
human validation rows ("held-out"): never trained on, never shown to a generator (the leakage guard
excludes them, the draw's validation rows and the questions' official test rows). The official test
sets are not scored here: this benchmark chooses the default generator, so it reads validation only.

The human-only scorer is ``tfidf`` or ``hybrid:minilm-l6``, whichever scores higher on all validation
rows (draw validation + held-out); it is the label-fidelity judge and the downstream baseline.

For each (generator, strategy, temperature) cell: ``generate_synthetic`` for every (question, label) of
the human training rows (one call of ``--per-call`` rows per cell at ``--max-rounds 1``), then

* rows asked / parsed / kept after cleaning, removals by reason;
* **label fidelity**: share of kept rows the human-only scorer labels with the intended label (for
  ``contrast`` the new, flipped label) and the mean probability it gives that label;
* diversity: distinct-2 and mean cosine to the nearest human row of the same question (lower = further
  from the human rows), from the generate stage's diagnostics;
* completion tokens/s (generation time only), model load seconds, wall seconds;
* **downstream**: the same scorer kind trained on human + kept synthetic rows; macro-F1 on the draw's
  validation rows, the held-out rows and both, minus the human-only scorer's.

Finished cells go to ``benchmarks/results/generators.jsonl`` at once (a rerun skips them; ``--stop-after``
ends a chunk between cells), the summary to ``generators.json`` and ``generators.md``. Calls are cached
per cell under ``.cache/bench_generators`` so a cell killed half-way resumes; tokens/s counts fresh calls only.

    flock /work/bench.lock .venv/bin/python benchmarks/generation/bench_generators.py --generators smollm2-135m --stop-after 780
    .venv/bin/python benchmarks/generation/bench_generators.py --generators smollm2-135m --backend local --strategies generate
    .venv/bin/python benchmarks/generation/bench_generators.py --summarise-only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATA, RESULTS, ROOT  # noqa: E402

GENERATORS = "qwen2.5-coder-0.5b,smollm2-135m,qwen2.5-coder-1.5b,gemma-3-270m"
STRATEGIES = "generate,paraphrase,contrast"
JUDGES = ("tfidf", "hybrid:minilm-l6")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="SciEntsBank 2way folder (train/ and test/).")
    parser.add_argument("--items", type=int, default=5, help="Questions of the training split in the draw.")
    parser.add_argument("--rows", type=int, default=100, help="Human rows drawn from those questions.")
    parser.add_argument("--val-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generators", default=GENERATORS)
    parser.add_argument("--strategies", default=STRATEGIES)
    parser.add_argument("--temperatures", default="0.3")
    parser.add_argument("--backend", default="llamacpp", choices=["llamacpp", "local"])
    parser.add_argument("--per-label", type=int, default=5)
    parser.add_argument("--per-call", type=int, default=5)
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--max-rounds", type=int, default=1, help="1 = no top-up rounds, so every cell makes the same calls.")
    parser.add_argument("--stop-after", type=float, default=None, help="Start no new cell after this many seconds.")
    parser.add_argument("--tag", default="", help="Free label stored with each cell (e.g. a prompt variant).")
    parser.add_argument(
        "--prompt-dir", type=Path, default=None,
        help="Prompt variants: <strategy>.txt (or <strategy>_base.txt for base models) here replace the packaged ones.",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS / "generators.json")
    parser.add_argument("--summarise-only", action="store_true")
    return parser.parse_args()


def draw(args: argparse.Namespace) -> dict[str, Any]:
    """The fixed human rows: training, validation, held-out validation, and the leakage guard's rows."""
    import numpy as np
    import pandas as pd

    from synthgrade.data import load_responses
    from synthgrade.mix import stratified_sample

    full = load_responses(args.data / "train")
    labels = list(full.attrs.get("labels") or sorted(full["label"].unique()))
    counts = full.groupby("item_id")["label"].value_counts().unstack(fill_value=0)
    eligible = sorted(counts.index[(counts[labels] >= 8).all(axis=1)])  # room for paraphrase and contrast sources
    rng = np.random.default_rng(args.seed)
    items = sorted(str(i) for i in rng.choice(eligible, size=args.items, replace=False))
    pool = full[full["item_id"].isin(items)]
    drawn = stratified_sample(pool, args.rows, rng, labels)
    val = stratified_sample(drawn, max(len(labels), round(args.val_share * len(drawn))), rng, labels)
    train = drawn.drop(index=val.index).reset_index(drop=True)
    heldout = pool.drop(index=drawn.index).reset_index(drop=True)
    val = val.reset_index(drop=True)
    for frame in (train, val, heldout):
        frame.attrs["labels"] = labels
    tests = []
    test_root = args.data / "test"
    for path in sorted(test_root.iterdir()) if test_root.exists() else []:
        if path.is_dir():
            test = load_responses(path, require_label=False)
            tests.append(test[test["item_id"].isin(items)])
    guard = pd.concat([val[["text"]], heldout[["text"]], *[t[["text"]] for t in tests]], ignore_index=True)
    return {"train": train, "val": val, "heldout": heldout, "guard": guard, "labels": labels, "items": items}


def macro_f1(scorer: Any, frame: Any) -> float:
    from sklearn.metrics import f1_score

    proba = scorer.predict_proba(frame)
    predicted = [scorer.labels[i] for i in proba.argmax(axis=1)]
    return round(float(f1_score(frame["label"], predicted, average="macro")), 4)


def scores(scorer: Any, human: dict[str, Any]) -> dict[str, float]:
    import pandas as pd

    both = pd.concat([human["val"], human["heldout"]], ignore_index=True)
    return {
        "val": macro_f1(scorer, human["val"]),
        "heldout": macro_f1(scorer, human["heldout"]),
        "all_val": macro_f1(scorer, both),
    }


def train_scorer(model: str, train: Any, human: dict[str, Any], seed: int) -> Any:
    from synthgrade.train import Trainer, TrainingArguments

    arguments = TrainingArguments(model=model, show_progress=False, seed=seed, labels=human["labels"])
    return Trainer(arguments).train(train, human["val"])


def choose_judge(human: dict[str, Any], seed: int) -> tuple[str, Any, dict[str, dict[str, float]]]:
    """The human-only scorer: the judge kind with the higher macro-F1 on all validation rows."""
    trained = {kind: train_scorer(kind, human["train"], human, seed) for kind in JUDGES}
    table = {kind: scores(scorer, human) for kind, scorer in trained.items()}
    best = max(JUDGES, key=lambda k: (table[k]["all_val"], table[k]["val"]))
    return best, trained[best], table


def strong_judge(kind: str, human: dict[str, Any], seed: int) -> tuple[Any, float]:
    """A second opinion on labels: ``kind`` trained on the training rows and the held-out rows (all the
    training split's rows of the questions but the draw's validation rows), with its validation macro-F1.
    It judges fidelity only; the held-out rows are then no longer unseen to it, so it scores nothing else."""
    import pandas as pd

    both = pd.concat([human["train"], human["heldout"]], ignore_index=True)
    both.attrs["labels"] = human["labels"]
    scorer = train_scorer(kind, both, human, seed)
    return scorer, macro_f1(scorer, human["val"])


def fidelity(judge: Any, kept: Any) -> dict[str, Any]:
    """Share of kept synthetic rows the judge labels as intended, and its mean probability of that label."""
    import numpy as np

    if not len(kept):
        return {"label_fidelity": None, "intended_label_probability": None, "by_label": {}}
    proba = judge.predict_proba(kept)
    index = {label: i for i, label in enumerate(judge.labels)}
    intended = np.array([index[str(label)] for label in kept["label"]])
    hit = proba.argmax(axis=1) == intended
    labels = kept["label"].astype(str).to_numpy()
    return {
        "label_fidelity": round(float(hit.mean()), 4),
        "intended_label_probability": round(float(proba[np.arange(len(kept)), intended].mean()), 4),
        "by_label": {label: round(float(hit[labels == label].mean()), 4) for label in sorted(set(labels))},
    }


def prompt_file(args: argparse.Namespace, model: str, strategy: str) -> Path | None:
    """The ``--prompt-dir`` variant of ``strategy``'s template for ``model``, if there is one."""
    from synthgrade.generate.strategies import STRATEGIES
    from synthgrade.models import REGISTRY

    if args.prompt_dir is None:
        return None
    entry = REGISTRY.get(model)
    name = STRATEGIES[strategy].base_template if entry is not None and not entry.chat else STRATEGIES[strategy].template
    path = args.prompt_dir / name
    return path if path.is_file() else None


def run_cell(
    human: dict[str, Any], judge_kind: str, judge: Any, strong: Any, base: dict[str, dict[str, float]], args: argparse.Namespace,
    model: str, strategy: str, temperature: float, prompt_hash: str,
) -> dict[str, Any]:  # fmt: skip
    import pandas as pd

    from synthgrade.generate import GenerationConfig, generate_synthetic

    config = GenerationConfig(
        backend=args.backend, model=model, strategy=[strategy], temperature=temperature, per_label=args.per_label,
        per_call=args.per_call, examples=args.examples, max_tokens=args.max_tokens, max_rounds=args.max_rounds, seed=args.seed,
        prompt=prompt_file(args, model, strategy),
    )  # fmt: skip
    cache = ROOT / ".cache" / "bench_generators" / f"{model}-{args.backend}-{strategy}-{temperature}-{prompt_hash}"
    started = time.perf_counter()
    result = generate_synthetic(human["train"], config, [human["guard"]], cache_dir=cache, show_progress=False)
    wall = time.perf_counter() - started
    summary, calls, kept = result.summary, result.summary["calls"], result.frame
    diagnostics = summary["diagnostics"]
    nearest = diagnostics.get("nearest_human_similarity") or {}
    row: dict[str, Any] = {
        "seed": args.seed, "generator": model, "backend": args.backend, "strategy": strategy, "temperature": temperature,
        "prompt_hash": prompt_hash, "tag": args.tag, "judge": judge_kind,
        "groups": summary["groups"], "asked": summary["requested"], "generated": summary["generated"],
        "kept": summary["kept"], "kept_share": round(summary["kept"] / summary["requested"], 4) if summary["requested"] else None,
        "removed": {k: v for k, v in summary["removed"].items() if v},
        "model_calls": summary["model_calls"], "cache_hits": summary["cache_hits"],
        "completion_tokens": calls["tokens"]["completion"] + calls["tokens"]["cached_completion"],
        "completion_tokens_per_s": calls["completion_tokens_per_s"], "model_load_s": calls["model_load_s"],
        "generation_s": calls["model_seconds"], "wall_s": round(wall, 1), "truncated_calls": calls["truncated"],
        "distinct_2": diagnostics.get("distinct_2"), "nearest_human_cosine": nearest.get("mean"),
        "within_cell_cosine": diagnostics.get("mean_pairwise_cosine_within_item_label"),
        "mean_words": diagnostics.get("mean_length_words"),
    }  # fmt: skip
    row.update(fidelity(judge, kept))
    second = fidelity(strong, kept)
    row["label_fidelity_strong"], row["by_label_strong"] = second["label_fidelity"], second["by_label"]
    row["human_only"] = base[judge_kind]
    if len(kept):
        columns = [c for c in ("id", "text", "label", "item_id", "item_text", "reference", "synthetic") if c in kept.columns]
        mixed = pd.concat([human["train"], kept[columns]], ignore_index=True)
        mixed["synthetic"] = mixed["synthetic"].astype("boolean").fillna(False).astype(bool)
        augmented = scores(train_scorer(judge_kind, mixed, human, args.seed), human)
        row["augmented"] = augmented
        row["gain"] = {k: round(augmented[k] - base[judge_kind][k], 4) for k in augmented}
    else:
        row["augmented"], row["gain"] = None, None
    sample = kept.groupby("label", sort=True).head(2) if len(kept) else kept
    row["examples"] = [
        {"label": r["label"], "text": r["text"], "source_label": r.get("source_label")} for _, r in sample.iterrows()
    ]
    return row


def packaged_hash(model: str, strategy: str) -> str:
    """The hash of the prompt file the package ships for ``strategy`` (chat or continuation by model)."""
    from synthgrade.generate import GenerationConfig
    from synthgrade.generate.prompting import choose_templates

    return choose_templates(GenerationConfig(backend="llamacpp", model=model, strategy=[strategy]), True)[strategy].hash


def summarise(rows: list[dict], out: Path, setups: dict[str, Any]) -> None:
    import pandas as pd

    from synthgrade.io import write_json

    frame = pd.DataFrame(rows)
    per_generator = []
    if len(frame):
        frame["gain_all_val"] = [g["all_val"] if isinstance(g, dict) else None for g in frame["gain"]]
        # Kept rows the strong judge labels as intended: quantity and label quality in one number.
        frame["faithful"] = (frame["kept"] * frame["label_fidelity_strong"].fillna(0)).round()
        # Which prompt each cell used: the packaged one (as the code stands now), or its tag / "older".
        packaged = {key: packaged_hash(*key) for key in set(zip(frame["generator"], frame["strategy"], strict=True))}
        frame["prompts"] = [
            "packaged" if h == packaged[(m, st)] else (t or "older")
            for m, st, h, t in zip(
                frame["generator"], frame["strategy"], frame["prompt_hash"], frame["tag"].fillna(""), strict=True
            )
        ]
        for (model, backend, temperature, tag), group in frame.groupby(
            ["generator", "backend", "temperature", "prompts"], sort=False
        ):
            per_generator.append(
                {
                    "generator": model, "backend": backend, "temperature": temperature, "prompts": tag,
                    "strategies": sorted(set(group["strategy"])),
                    "asked": int(group["asked"].sum()), "kept": int(group["kept"].sum()),
                    "faithful_strong": int(group["faithful"].sum()),
                    "faithful_per_asked": round(float(group["faithful"].sum() / group["asked"].sum()), 4),
                    "seeds": sorted(int(v) for v in group["seed"].unique()),
                    "mean_label_fidelity": round(float(group["label_fidelity"].dropna().mean()), 4)
                    if group["label_fidelity"].notna().any() else None,
                    "mean_label_fidelity_strong": round(float(group["label_fidelity_strong"].dropna().mean()), 4)
                    if group["label_fidelity_strong"].notna().any() else None,
                    "mean_gain_all_val": round(float(group["gain_all_val"].dropna().mean()), 4)
                    if group["gain_all_val"].notna().any() else None,
                    "best_gain_all_val": round(float(group["gain_all_val"].dropna().max()), 4)
                    if group["gain_all_val"].notna().any() else None,
                    "completion_tokens_per_s": round(float(group["completion_tokens_per_s"].dropna().mean()), 2)
                    if group["completion_tokens_per_s"].notna().any() else None,
                    "wall_s": round(float(group["wall_s"].sum()), 1),
                }
            )  # fmt: skip
    write_json(out, {"benchmark": "generators", "draws": setups, "per_generator": per_generator, "rows": rows})
    lines = [
        "# Generators x strategies on SciEntsBank 2-way (validation rows only)",
        "",
        "Written by `benchmarks/generation/bench_generators.py`; per-cell data (removal reasons, example rows) in "
        "`generators.json`.",
        "",
        "Draws (per seed): questions, human training rows, validation rows + held-out rows of the same questions "
        "(training split; official tests untouched), the human-only scorer (= fidelity judge) chosen on validation, "
        "and the strong judge's validation macro-F1:",
        "",
        *[
            f"- seed {seed}: {d['items']} questions ({', '.join(d['item_ids'])}), {d['train_rows']} train, {d['val_rows']} val "
            f"+ {d['heldout_rows']} held-out; judge `{d['judge']}` (all-val macro-F1 "
            + ", ".join(f"{k} {v['all_val']:.3f}" for k, v in d["judge_candidates"].items())
            + "); "
            f"strong judge val {d.get('strong_judge_val_macro_f1')}"
            for seed, d in sorted(setups.items())
        ],
        "",
        "Fidelity = share of kept rows the human-only scorer labels as intended (contrast: the flipped label); strong = "
        "the same by a judge trained on the training + held-out rows. "
        "nearest cos = mean cosine to the nearest human row of the question. Gain = macro-F1 of the scorer "
        "trained on human + kept rows minus human-only, on all validation rows (val+held-out).",
        "",
        "| seed | generator | backend | strategy | T | tag | asked | kept | fidelity | strong | P(intended) | distinct-2 "
        "| nearest cos | tok/s | load s | wall s | val F1 (human->aug) | all-val F1 (human->aug) | gain |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(value: Any, pattern: str = "{:.3f}") -> str:
        return "-" if value is None or value != value else pattern.format(value)

    for r in rows:
        aug, gain = r.get("augmented") or {}, r.get("gain") or {}
        cells = [
            r.get("seed", 0), r["generator"], r["backend"], r["strategy"], r["temperature"], r.get("tag") or "", r["asked"],
            r["kept"], fmt(r["label_fidelity"]), fmt(r.get("label_fidelity_strong")),
            fmt(r["intended_label_probability"]), fmt(r["distinct_2"]),
            fmt(r["nearest_human_cosine"]), fmt(r["completion_tokens_per_s"], "{:.1f}"), fmt(r["model_load_s"], "{:.1f}"),
            fmt(r["wall_s"], "{:.0f}"), f"{fmt(r['human_only']['val'])} -> {fmt(aug.get('val'))}",
            f"{fmt(r['human_only']['all_val'])} -> {fmt(aug.get('all_val'))}", fmt(gain.get("all_val"), "{:+.3f}"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if per_generator:
        lines += [
            "",
            "Per generator and prompt set (packaged = the prompt files the package ships now; otherwise the cells' tag), "
            "over its strategies and seeds: rows asked and kept, faithful = kept rows the strong "
            "judge labels as intended (share of asked), mean fidelity and gain, mean tokens/s.",
            "",
            "| generator | backend | T | prompts | seeds | strategies | asked | kept | faithful | mean fidelity | strong "
            "| mean gain | best gain | tok/s | wall s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for g in per_generator:
            cells = [
                g["generator"], g["backend"], g["temperature"], g["prompts"], ",".join(map(str, g["seeds"])),
                ", ".join(g["strategies"]), g["asked"], g["kept"], f"{g['faithful_strong']} ({g['faithful_per_asked']:.0%})",
                fmt(g["mean_label_fidelity"]),
                fmt(g["mean_label_fidelity_strong"]), fmt(g["mean_gain_all_val"], "{:+.3f}"),
                fmt(g["best_gain_all_val"], "{:+.3f}"), fmt(g["completion_tokens_per_s"], "{:.1f}"), fmt(g["wall_s"], "{:.0f}"),
            ]  # fmt: skip
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    args = parse()
    from transformers.utils import logging as hf_logging

    from synthgrade.generate import GenerationConfig
    from synthgrade.generate.prompting import choose_templates

    hf_logging.set_verbosity_error()
    log = args.out.with_suffix(".jsonl")
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    setup_path = args.out.with_suffix(".setup.json")
    if args.summarise_only:
        summarise(rows, args.out, json.loads(setup_path.read_text()) if setup_path.exists() else {})
        return 0
    if not args.data.exists():
        print(f"SciEntsBank not found at {args.data}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    human = draw(args)
    judge_kind, judge, candidates = choose_judge(human, args.seed)
    strong, strong_val = strong_judge(judge_kind, human, args.seed)
    setup = {
        "command": " ".join(["benchmarks/generation/bench_generators.py", *sys.argv[1:]]),
        "items": len(human["items"]), "item_ids": human["items"], "train_rows": len(human["train"]),
        "val_rows": len(human["val"]), "heldout_rows": len(human["heldout"]), "guard_rows": len(human["guard"]),
        "train_label_counts": human["train"]["label"].value_counts().to_dict(),
        "judge": judge_kind, "judge_candidates": candidates, "strong_judge_val_macro_f1": strong_val,
        "per_label": args.per_label, "per_call": args.per_call, "examples": args.examples, "max_tokens": args.max_tokens,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }  # fmt: skip
    setups = json.loads(setup_path.read_text()) if setup_path.exists() else {}
    setups[str(args.seed)] = setup
    setup_path.write_text(json.dumps(setups, indent=2) + "\n")
    print(f"judge {judge_kind}: {candidates}", flush=True)
    done = {(r.get("seed", 0), r["generator"], r["backend"], r["strategy"], r["temperature"], r["prompt_hash"]) for r in rows}
    for model in [m.strip() for m in args.generators.split(",") if m.strip()]:
        for temperature in [float(t) for t in args.temperatures.split(",")]:
            for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
                probe = GenerationConfig(
                    backend=args.backend, model=model, strategy=[strategy], prompt=prompt_file(args, model, strategy)
                )
                prompt_hash = choose_templates(probe, True)[strategy].hash
                if (args.seed, model, args.backend, strategy, temperature, prompt_hash) in done:
                    continue
                if args.stop_after is not None and time.perf_counter() - started > args.stop_after:
                    print("stopping: --stop-after reached; rerun to go on", flush=True)
                    summarise(rows, args.out, setups)
                    return 0
                row = run_cell(human, judge_kind, judge, strong, candidates, args, model, strategy, temperature, prompt_hash)
                with log.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                rows.append(row)
                print(
                    f"{model} {strategy} T={temperature}: kept {row['kept']}/{row['asked']}, fidelity {row['label_fidelity']} "
                    f"(strong judge {row['label_fidelity_strong']}), "
                    f"gain {row['gain']}, {row['completion_tokens_per_s']} tok/s, {row['wall_s']} s",
                    flush=True,
                )
    summarise(rows, args.out, setups)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
