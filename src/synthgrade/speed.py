"""Inference speed of a scorer on CPU: batch throughput and single-response latency.

Shared base (after ``modeling``): distillation compares teacher and student with it, sweep trials record it.
Timing an exported ONNX model belongs to the stage that exports (see ``benchmarks/training/bench_train.py``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.modeling import Scorer


def measure_speed(
    scorer: Scorer,
    frame: pd.DataFrame,
    batch_size: int = 64,
    single: int = 50,
    max_rows: int = 512,
    repeats: int = 1,
) -> dict[str, Any]:
    """Responses/s scoring ``frame`` (up to ``max_rows``) in batches, and p50/p95 latency of one response at a time.

    Inputs are built once up front, so the figures are model time (tokenisation included), not file reading.
    """
    from synthgrade.embed import no_cache

    with no_cache():
        return _measure_speed(scorer, frame, batch_size, single, max_rows, repeats)


def _measure_speed(
    scorer: Scorer, frame: pd.DataFrame, batch_size: int, single: int, max_rows: int, repeats: int
) -> dict[str, Any]:
    rows = frame.iloc[:max_rows] if len(frame) > max_rows else frame
    first, second = scorer.check_scorable(rows)
    scorer.predict_proba_inputs(
        first[: min(8, len(first))], second[: min(8, len(first))] if second is not None else None, batch_size
    )
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        scorer.predict_proba_inputs(first, second, batch_size)
        best = min(best, time.perf_counter() - start)
    latencies = []
    count = min(single, len(first))
    for i in range(count):
        start = time.perf_counter()
        scorer.predict_proba_inputs([first[i]], [second[i]] if second is not None else None, 1)
        latencies.append((time.perf_counter() - start) * 1000)
    result: dict[str, Any] = {
        "responses_per_s": round(len(first) / best, 2) if best > 0 else None,
        "batch_rows": len(first),
        "batch_size": batch_size,
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 3) if latencies else None,
            "p95": round(float(np.percentile(latencies, 95)), 3) if latencies else None,
            "n": count,
        },
    }
    try:
        import torch

        result["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return result
