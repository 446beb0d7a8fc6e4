"""Code the benchmark scripts share: paths, the scorer bench's draws and embedding cache, probe cells, serving inputs.

Scripts run as files (``.venv/bin/python benchmarks/<group>/<script>.py``); each puts the repository root on
``sys.path`` once, in its first lines, and imports this module as ``benchmarks.common``. Importing it puts this
checkout's ``src/`` first on ``sys.path``, so a script measures the code beside it, not an installed copy.

A probe chooses a recipe on validation rows only: the 20 % of each draw that the scorer bench holds out, or rows
of the official training split outside the draw (``held_out_items``); the official tests are never read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
#: The data sets live beside the checkout (never copied into it).
DATASETS = ROOT.parent / "shared" / "data"
SCIENTSBANK = DATASETS / "semeval2013-scientsbank"
#: SciEntsBank 2-way: the scorer bench's default data and the probes' training split.
DATA = SCIENTSBANK / "2way"
RESULTS = ROOT / "benchmarks" / "results"
PROBES = RESULTS / "probes"
EMBEDDINGS = ROOT / ".cache" / "embeddings"


# The scorer bench's draw and embedding cache (bench_scorers, the probes, bench_augmentation, bench_active).


def load_cache(folder: Path) -> None:
    """Preload the embeddings a previous run saved (``save_cache``), so a rerun embeds nothing twice."""
    import numpy as np

    from synthgrade.embed import remember

    for path in sorted(folder.glob("*.npz")) if folder.exists() else []:
        with np.load(path, allow_pickle=False) as data:
            remember(str(data["model"]), int(data["max_length"]), [str(t) for t in data["texts"]], data["vectors"])


def save_cache(folder: Path) -> None:
    """Write this process's embedding memo to ``folder``, one ``.npz`` per (model, max length)."""
    import numpy as np

    from synthgrade.embed import _VECTORS

    folder.mkdir(parents=True, exist_ok=True)
    for (model, max_length), memo in _VECTORS.items():
        name = model.replace("/", "_").replace(":", "_")
        vectors = dict(memo)
        final = folder / f"{name}-{max_length}.npz"
        if final.exists():  # keep what another benchmark saved since this one loaded the cache
            with np.load(final, allow_pickle=False) as data:
                for text, vector in zip(data["texts"], data["vectors"], strict=True):
                    vectors.setdefault(str(text), vector)
        texts = sorted(vectors)
        tmp = folder / f".{name}-{max_length}.{os.getpid()}.tmp.npz"  # two benchmarks at once never share a temp file
        np.savez(tmp, model=model, max_length=max_length, texts=np.array(texts), vectors=np.stack([vectors[t] for t in texts]))
        tmp.replace(final)


def macro_f1(scorer: Any, frame: Any) -> tuple[float, Any]:
    """(macro-F1 of the scorer's argmax on ``frame``, its probabilities)."""
    from sklearn.metrics import f1_score

    proba = scorer.predict_proba(frame)
    predicted = [scorer.labels[i] for i in proba.argmax(axis=1)]
    return float(f1_score(frame["label"], predicted, average="macro")), proba


def draw(full: Any, budget: str, seed: int, labels: list[str]) -> tuple[Any, Any, Any]:
    """(train, val, rest of the training split) for one cell: the same draw every model of the cell gets."""
    import numpy as np

    from synthgrade.mix import stratified_sample

    rng = np.random.default_rng(seed)
    drawn = full if budget == "all" else stratified_sample(full, int(budget), rng, labels)
    val = stratified_sample(drawn, max(len(labels), round(0.2 * len(drawn))), rng, labels)
    return drawn.drop(index=val.index), val, full.drop(index=drawn.index)


# Probe cells: (budget, seed) or (budget, encoder, seed) over the bench's draws.


def add_cell_arguments(parser: argparse.ArgumentParser, budgets: str = "50", encoders: str | None = None) -> None:
    """``--budgets`` and ``--seeds``; ``--encoders`` too for probes that compare encoders."""
    parser.add_argument("--budgets", default=budgets)
    parser.add_argument("--seeds", default="0,1,2")
    if encoders is not None:
        parser.add_argument("--encoders", default=encoders)


def cells(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """(budget, seed) pairs in the order given."""
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            yield budget, seed


def encoder_cells(args: argparse.Namespace) -> Iterator[tuple[str, str, int]]:
    """(budget, encoder, seed) triples: every encoder's seeds within a budget."""
    for budget in args.budgets.split(","):
        for encoder in args.encoders.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                yield budget, encoder, seed


def training_split() -> tuple[Any, list[str]]:
    """(the official training split, its sorted labels), with the bench's embedding cache loaded."""
    from synthgrade.data import load_responses

    full = load_responses(DATA / "train")
    load_cache(EMBEDDINGS)
    return full, sorted(full["label"].unique())


def held_out_items(rest: Any, seed: int) -> tuple[Any, Any]:
    """(rows of a random fifth of the items, whole, as for new questions; the other items' rows)."""
    import numpy as np

    rng = np.random.default_rng(100 + seed)
    items = sorted(rest["item_id"].unique())
    held = set(rng.choice(items, size=max(1, len(items) // 5), replace=False))
    chosen = rest["item_id"].isin(held)
    return rest[chosen], rest[~chosen]


# Serving inputs and models (bench_serve, bench_load).

FALLBACK = [
    ("q1", "The water evaporates and leaves the salt behind."),
    ("q1", "I shook it."),
    ("q2", "Use a magnet because iron is attracted to it but sand is not."),
    ("q2", "pick them out by hand"),
]


def load_requests(limit: int = 400) -> tuple[list[dict], object]:
    """(item_id, text) pairs from SciEntsBank's unseen-answers test set plus the training items for the bank."""
    import pandas as pd

    from synthgrade.data import load_responses

    if SCIENTSBANK.exists():
        train_dir = next((p for p in sorted(SCIENTSBANK.rglob("*")) if p.is_dir() and p.name.lower() == "train"), None)
        test_dir = next((p for p in sorted(SCIENTSBANK.rglob("*")) if p.is_dir() and "unseen-answers" in p.name.lower()), None)
        if train_dir is not None and test_dir is not None:
            train = load_responses(train_dir, require_label=False)
            test = load_responses(test_dir, require_label=False).head(limit)
            return [{"text": t, "item_id": i} for t, i in zip(test["text"], test["item_id"], strict=True)], train
    frame = pd.DataFrame(
        {
            "item_id": ["q1", "q2"],
            "item_text": ["How did you separate salt from water?", "How do you get iron out of sand?"],
            "reference": ["Evaporate the water.", "Use a magnet."],
        }
    )
    return [{"text": t, "item_id": i} for i, t in FALLBACK * (limit // len(FALLBACK))], frame


def build_models(work: Path, bank_frame) -> tuple[Path, Path, str]:
    """An untrained MiniLM-L6 classifier (teacher) and its ``layers:3`` copy (student) under ``work``: speed only."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from synthgrade.distill.students import layer_student
    from synthgrade.modeling import ModelInfo, item_bank_from
    from synthgrade.models import resolve_model
    from synthgrade.scorers.transformer import TransformerScorer

    path = resolve_model("minilm-l6").path
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    labels = ["correct", "incorrect"]
    bank = item_bank_from(bank_frame)
    info = ModelInfo(kind="transformer", labels=labels, input_mode="pair", max_length=128, item_bank=bank, base_model="minilm-l6")
    TransformerScorer(teacher, tokenizer, info).save_pretrained(work / "teacher")
    student_info = info.model_copy(update={"provenance": {"teacher": {"path": str(work / "teacher"), "student": "layers:3"}}})
    TransformerScorer(layer_student(teacher, 3), tokenizer, student_info).save_pretrained(work / "student")
    return (
        work / "teacher",
        work / "student",
        "untrained minilm-l6 classifier head (teacher) and its layers:3 truncated copy (student)",
    )


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def wait_until_up(process: Any, probe: str, timeout: float, what: str, pause: float = 0.2) -> None:
    """Poll ``probe`` (a GET that answers 200 once the server is ready) until ``timeout`` seconds pass; a server
    process that exits, or never answers, is a RuntimeError naming ``what`` (the process is killed on timeout)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = getattr(process, "stderr", None)
            detail = stderr.read() if stderr is not None and hasattr(stderr, "read") else ""
            raise RuntimeError(f"{what} exited before it was ready{': ' + detail if detail else ''}")
        try:
            if httpx.get(probe, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(pause)
    process.kill()
    raise RuntimeError(f"{what} did not start within {timeout:g} s")
