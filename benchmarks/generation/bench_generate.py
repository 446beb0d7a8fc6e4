"""Benchmark: label-conditional generation on the SciEntsBank training split at temperatures 0.3 and 0.9.

For each temperature, generates with a fresh cache (so every call really runs) for the first ``--items``
questions of the 2-way training split (human rows only; the official test sets are the leakage guard's
--exclude rows), then reruns the same command against the filled cache. Records samples/s (per wall
second and per second of generation), tokens/s, model load time, peak memory, removal counts by reason
and the diversity diagnostics; writes ``benchmarks/results/generate.json``.

    .venv/bin/python benchmarks/generation/bench_generate.py                          # 10 items, local SmolLM2
    .venv/bin/python benchmarks/generation/bench_generate.py --items 4 --per-label 4  # quick look
    .venv/bin/python benchmarks/generation/bench_generate.py --backend llamacpp       # llama-cpp-python, if installed

Server mode (``--server``): live generation through the openai backend against an OpenAI-compatible
server at each ``--concurrency`` level (fresh cache each time), plus the speedup of batched local
generation (``--local-batch-sizes``, transformers backend, same model); adds them as ``"server"`` to
``benchmarks/results/generate.json`` (the rest of the file is kept) and writes ``generate.md`` beside it.
``--base-url`` names a running server (vLLM, llama.cpp's ``llama-server``); without it the script starts
llama-cpp-python's server (``make test-setup`` installs it) on the GGUF of ``--model``, with every core.

    .venv/bin/python benchmarks/generation/bench_generate.py --server --items 6 --per-label 2 --per-call 1 --max-tokens 48
    .venv/bin/python benchmarks/generation/bench_generate.py --server --base-url http://gpu-box:8000/v1 --model MODEL_ID
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATA, RESULTS, wait_until_up  # noqa: E402


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="SciEntsBank 2way folder (train/ and test/).")
    parser.add_argument("--items", type=int, default=10, help="Questions of the training split to generate for (budget).")
    parser.add_argument("--per-label", type=int, default=5)
    parser.add_argument("--per-call", type=int, default=5)
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--max-rounds", type=int, default=1, help="1 = no top-up rounds, so the call count is fixed.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.3, 0.9])
    parser.add_argument("--backend", default="local", choices=["local", "llamacpp"])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/generate.json")
    parser.add_argument("--server", action="store_true", help="measure live generation against a server (see above)")
    parser.add_argument("--base-url", help="a running OpenAI-compatible server (default: start llama-cpp-python's)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--local-batch-sizes", type=int, nargs="*", default=[1, 8], help="none: skip the local comparison")
    args = parser.parse_args()
    if args.out is None:
        args.out = RESULTS / "generate.json"
    return args


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def load_budget(args: argparse.Namespace) -> tuple[Any, list, list]:
    import pandas as pd

    from synthgrade.data import load_responses

    train_all = load_responses(args.data / "train")
    items = sorted(train_all["item_id"].unique())[: args.items]
    train = train_all[train_all["item_id"].isin(items)].reset_index(drop=True)
    train.attrs["labels"] = train_all.attrs.get("labels")
    tests = [load_responses(p, require_label=False) for p in sorted((args.data / "test").iterdir()) if p.is_dir()]
    return train, items, [pd.concat(tests, ignore_index=True)] if tests else []


def start_llama_server(model: str) -> tuple[subprocess.Popen, str]:
    """llama-cpp-python's OpenAI-compatible server on the GGUF of ``model``, on a free loopback port."""
    from synthgrade.models import resolve_model
    from synthgrade.serve.server import free_port

    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        raise SystemExit("llama-cpp-python's server is not installed: make test-setup, or pass --base-url") from None
    gguf = resolve_model(model).gguf_path
    if not gguf:
        raise SystemExit(f"{model} has no GGUF file for llama.cpp")
    port = free_port()
    cores = str(os.cpu_count() or 1)  # llama-cpp-python's default is half the cores
    command = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_threads", cores, "--n_threads_batch", cores, "--n_ctx", "4096"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    wait_until_up(process, f"{url}/models", 300, "llama-cpp-python's server", pause=0.5)
    return process, url


def warm_up(url: str) -> None:
    import httpx

    body = {"model": "warm-up", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    httpx.post(f"{url}/chat/completions", json=body, timeout=300).raise_for_status()


def run_server_mode(args: argparse.Namespace) -> None:
    from synthgrade.generate import GenerationConfig, generate_synthetic
    from synthgrade.io import read_json, write_json

    train, items, exclude = load_budget(args)
    process, url = (None, args.base_url) if args.base_url else start_llama_server(args.model)
    base = {
        "model": args.model,
        "temperature": args.temperatures[0],
        "per_label": args.per_label,
        "per_call": args.per_call,
        "examples": args.examples,
        "max_tokens": args.max_tokens,
        "max_rounds": args.max_rounds,
        "seed": args.seed,
        "embedder": None,
    }

    def measure(**settings: Any) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as cache:  # a fresh cache: every call really runs
            started = time.perf_counter()
            result = generate_synthetic(train, GenerationConfig(**base, **settings), exclude, Path(cache), show_progress=False)
            elapsed = time.perf_counter() - started
        calls = result.summary["calls"]
        load = calls.get("model_load_s") or 0.0  # in-process backends load the model first: not generation
        wall = max(elapsed - load, 1e-9)
        return {
            "model_calls": result.summary["model_calls"],
            "failed_calls": calls["failed"],
            "generated": result.summary["generated"],
            "model_load_s": round(load, 2),
            "wall_time_s": round(wall, 2),
            "prompt_tokens": calls["tokens"]["prompt"],
            "completion_tokens": calls["tokens"]["completion"],
            "completion_tokens_per_wall_s": round(calls["tokens"]["completion"] / wall, 1),
            "prompt_and_completion_tokens_per_wall_s": round(
                (calls["tokens"]["prompt"] + calls["tokens"]["completion"]) / wall, 1
            ),
            "calls_per_s": round(result.summary["model_calls"] / wall, 2),
        }

    def save(live: list[dict[str, Any]], local: list[dict[str, Any]]) -> None:
        """Write what is measured so far (a run stopped part-way still leaves its finished rows)."""
        first = lambda rows: rows[0]["completion_tokens_per_wall_s"] or None  # noqa: E731
        section = {
            "benchmark": "generate-server",
            "command": " ".join(["benchmarks/generation/bench_generate.py", *sys.argv[1:]]),
            "server": args.base_url
            or f"llama-cpp-python {_version('llama_cpp_python')} server (python -m llama_cpp.server, all cores) "
            "started by the script on the model's GGUF, loopback",
            "model": args.model,
            "gguf": None if args.base_url else os.path.basename(_gguf(args.model)),
            "budget": {
                "items": len(items),
                "training_rows_used": len(train),
                **{k: base[k] for k in ("per_label", "per_call", "max_tokens", "temperature")},
            },
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)},
            "live": live,
            "live_speedup_over_concurrency_1": {
                str(r["concurrency"]): round(r["completion_tokens_per_wall_s"] / first(live), 2) for r in live if first(live)
            },
            "local": local,
            "local_batching_speedup": {
                str(r["batch_size"]): round(r["completion_tokens_per_wall_s"] / first(local), 2) for r in local if first(local)
            },
        }
        document = read_json(args.out) if args.out.exists() else {}
        document["server"] = section  # the in-process runs already in the file stay as they are
        write_json(args.out, document)
        args.out.with_suffix(".md").write_text(server_markdown(section), encoding="utf-8")
        print(f"wrote {args.out} and {args.out.with_suffix('.md')}")

    live: list[dict[str, Any]] = []
    local: list[dict[str, Any]] = []
    try:
        warm_up(url)  # the server's first request pays one-off costs: keep them out of concurrency 1
        for concurrency in args.concurrency:
            row = {"concurrency": concurrency, **measure(backend="openai", base_url=url, concurrency=concurrency)}
            live.append(row)
            save(live, local)
            print(f"server, concurrency {concurrency}: {row['completion_tokens_per_wall_s']} completion tok/s", flush=True)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    for batch_size in args.local_batch_sizes:
        row = {"batch_size": batch_size, **measure(backend="local", batch_size=batch_size)}
        local.append(row)
        save(live, local)
        print(f"local, batch size {batch_size}: {row['completion_tokens_per_wall_s']} completion tok/s", flush=True)


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


def _gguf(model: str) -> str:
    from synthgrade.models import resolve_model

    return resolve_model(model).gguf_path or ""


def server_markdown(section: dict[str, Any]) -> str:
    """The server section of generate.json as a short markdown report."""
    budget = section["budget"]
    lines = [
        "# Live generation against an OpenAI-compatible server",
        "",
        f"`{section['command']}`",
        "",
        f"Server: {section['server']}. Model `{section['model']}`"
        + (f" (`{section['gguf']}`)" if section.get("gguf") else "")
        + f"; {budget['items']} training items, {budget['per_label']} per label, {budget['per_call']} per call, "
        f"max_tokens {budget['max_tokens']}, temperature {budget['temperature']}; a fresh cache for every row, "
        f"so every call runs. Machine: {section['machine']['cpus']} CPU cores, load average "
        f"{section['machine']['load_average_1m']} at the end.",
        "",
        "| synthgrade `--backend openai --concurrency` | calls | failed | prompt + completion tokens | wall s "
        "| completion tok/s | prompt + completion tok/s | requests/s | speedup |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in section["live"]:
        speedup = section["live_speedup_over_concurrency_1"].get(str(row["concurrency"]), "")
        lines.append(
            f"| {row['concurrency']} | {row['model_calls']} | {row['failed_calls']} "
            f"| {row['prompt_tokens']} + {row['completion_tokens']} | {row['wall_time_s']} "
            f"| {row['completion_tokens_per_wall_s']} | {row['prompt_and_completion_tokens_per_wall_s']} "
            f"| {row['calls_per_s']} | {speedup} |"
        )
    if section["local"]:
        lines += [
            "",
            "In-process generation (`--backend local`, transformers, same model), one prompt at a time vs batched:",
            "",
            "| `--batch-size` | calls | prompt + completion tokens | wall s | completion tok/s | requests/s | speedup |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in section["local"]:
            speedup = section["local_batching_speedup"].get(str(row["batch_size"]), "")
            lines.append(
                f"| {row['batch_size']} | {row['model_calls']} | {row['prompt_tokens']} + {row['completion_tokens']} "
                f"| {row['wall_time_s']} "
                f"| {row['completion_tokens_per_wall_s']} | {row['calls_per_s']} | {speedup} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse()
    if args.server:
        run_server_mode(args)
        return
    import pandas as pd

    from synthgrade.data import load_responses
    from synthgrade.generate import GenerationConfig, generate_synthetic
    from synthgrade.io import write_json

    train_all = load_responses(args.data / "train")
    items = sorted(train_all["item_id"].unique())[: args.items]
    train = train_all[train_all["item_id"].isin(items)].reset_index(drop=True)
    train.attrs["labels"] = train_all.attrs.get("labels")
    tests = [load_responses(p, require_label=False) for p in sorted((args.data / "test").iterdir()) if p.is_dir()]
    exclude = [pd.concat(tests, ignore_index=True)] if tests else []
    runs: list[dict[str, Any]] = []
    for temperature in args.temperatures:
        config = GenerationConfig(
            backend=args.backend,
            model=args.model,
            temperature=temperature,
            per_label=args.per_label,
            per_call=args.per_call,
            examples=args.examples,
            max_tokens=args.max_tokens,
            max_rounds=args.max_rounds,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            result = generate_synthetic(train, config, exclude, cache_dir=Path(cache), show_progress=True)
            fresh_s = time.perf_counter() - started
            started = time.perf_counter()
            cached = generate_synthetic(train, config, exclude, cache_dir=Path(cache), show_progress=False)
            cached_s = time.perf_counter() - started
        summary = result.summary
        calls = summary["calls"]
        runs.append(
            {
                "temperature": temperature,
                "groups": summary["groups"],
                "requested": summary["requested"],
                "model_calls": summary["model_calls"],
                "generated": summary["generated"],
                "kept": summary["kept"],
                "removed": summary["removed"],
                "wall_time_s": round(fresh_s, 2),
                "generated_per_s": round(summary["generated"] / fresh_s, 3),
                "kept_per_s": round(summary["kept"] / fresh_s, 3),
                "completion_tokens": calls["tokens"]["completion"],
                "prompt_tokens": calls["tokens"]["prompt"],
                "completion_tokens_per_s": calls["completion_tokens_per_s"],
                "model_load_s": calls["model_load_s"],
                "generation_s": calls["model_seconds"],
                "generated_per_generation_s": round(summary["generated"] / calls["model_seconds"], 3)
                if calls["model_seconds"]
                else None,
                "truncated_calls": calls["truncated"],
                "failed_calls": calls["failed"],
                "peak_rss_mb_so_far": round(peak_rss_mb(), 1),
                "cached_rerun": {
                    "wall_time_s": round(cached_s, 2),
                    "model_calls": cached.summary["model_calls"],
                    "model_loaded": cached.summary["model_loaded"],
                    "identical_rows": bool(cached.frame.equals(result.frame)),
                },
                "diagnostics": summary["diagnostics"],
                "example_rows": result.frame.head(6)[["label", "item_id", "text"]].to_dict("records"),
            }
        )
        print(
            f"T={temperature}: {summary['generated']} generated, {summary['kept']} kept in {fresh_s:.1f} s "
            f"({calls['completion_tokens_per_s']} completion tok/s); cached rerun {cached_s:.1f} s",
            flush=True,
        )
    import torch

    write_json(
        args.out,
        {
            "benchmark": "generate",
            "command": " ".join(["benchmarks/generation/bench_generate.py", *sys.argv[1:]]),
            "budget": {
                "items": len(items),
                "training_rows_used": len(train),
                "per_label": args.per_label,
                "per_call": args.per_call,
                "examples": args.examples,
                "max_tokens": args.max_tokens,
                "max_rounds": args.max_rounds,
                "exclude_rows": int(sum(len(t) for t in exclude)),
            },
            "backend": args.backend,
            "model": args.model,
            "machine": {
                "platform": platform.platform(),
                "cpus": __import__("os").cpu_count(),
                "torch_threads": torch.get_num_threads(),
            },
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "runs": runs,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
