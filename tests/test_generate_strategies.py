"""Augmentation strategies (generate, paraphrase, contrast) against the fake server, and base-model prompts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from helpers.llm_server import FakeChatServer, fake_responses

from synthgrade.data import load_responses
from synthgrade.errors import SynthgradeError
from synthgrade.generate import GenerationConfig, generate_synthetic
from synthgrade.generate.backends import BACKENDS, Backend, ChatRequest, completion
from synthgrade.generate.cache import CACHE_FILE, call_key
from synthgrade.generate.cleaning import normalise
from synthgrade.generate.prompting import SINGLE_ITEM_TASK, load_template, question_block, task_block
from synthgrade.io import stable_hash
from synthgrade.mix import synthetic_sources

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0, "timeout": 5.0}


def config(server: FakeChatServer, strategy: list[str], **overrides) -> GenerationConfig:
    values = {
        "backend": "openai",
        "model": "fake-model",
        "base_url": server.base_url,
        "strategy": strategy,
        "per_label": 3,
        "per_call": 3,
        "embedder": None,
        "retry": FAST_RETRY,
        "concurrency": 3,
    }
    values.update(overrides)
    return GenerationConfig(**values)


@pytest.fixture
def civics(fixtures: Path) -> pd.DataFrame:
    return load_responses(fixtures / "civics.csv")


def _prompt_of(cache_dir: Path, row_id: str) -> str:
    """The user message of the call that produced synthetic row ``row_id`` (ids start with the call key)."""
    prefix = row_id.split("-")[1]
    with sqlite3.connect(cache_dir / CACHE_FILE) as db:
        [(request,)] = db.execute("SELECT request FROM calls WHERE key LIKE ?", (prefix + "%",)).fetchall()
    return json.loads(request)["messages"][-1]["content"]


def test_each_strategy_gives_rows_with_the_right_labels_and_provenance(civics: pd.DataFrame, tmp_path: Path) -> None:
    with FakeChatServer() as server:
        result = generate_synthetic(
            civics, config(server, ["generate", "paraphrase", "contrast"]), cache_dir=tmp_path / "c", show_progress=False
        )
    frame = result.frame
    human = civics.set_index("id")
    assert set(frame["strategy"]) == {"generate", "paraphrase", "contrast"}
    assert (frame.groupby(["strategy", "label"]).size() == 3).all() and len(frame) == 18
    generated = frame[frame["strategy"] == "generate"]
    assert generated["source_id"].isna().all() and generated["source_label"].isna().all()
    for row in frame[frame["strategy"] != "generate"].itertuples():
        source = human.loc[row.source_id]
        assert row.source_label == source["label"]
        if row.strategy == "paraphrase":
            assert row.label == source["label"]  # a paraphrase keeps its source's label
        else:
            assert row.label != source["label"]  # a contrast earns another label
        prompt = _prompt_of(tmp_path / "c", row.id)
        assert " ".join(source["text"].split()) in prompt.split("\n")  # the source response is in the prompt
        if row.strategy == "contrast":
            assert f"scored {source['label']}:" in prompt
        else:  # a paraphrase sees the question ($question; here the single-item note), never the reference answer
            assert SINGLE_ITEM_TASK in prompt and "Reference answer:" not in prompt
    # Rewriting calls cycle through their sources, one per call; paraphrase shows no other examples.
    assert frame.loc[frame["strategy"] == "paraphrase", "example_ids"].eq("").all()
    contrast_examples = frame.loc[frame["strategy"] == "contrast", ["example_ids", "label"]]
    for ids, label in contrast_examples.itertuples(index=False):
        assert set(human.loc[ids.split(","), "label"]) == {label}  # examples of the label the rewrite must earn
    # Every strategy is counted apart, and the counts add up to the run's.
    by = result.summary["by_strategy"]
    assert result.summary["strategies"] == ["generate", "paraphrase", "contrast"]
    assert {name: counts["kept"] for name, counts in by.items()} == {"generate": 6, "paraphrase": 6, "contrast": 6}
    assert sum(c["generated"] for c in by.values()) == result.summary["generated"]
    assert sum(c["removed_total"] for c in by.values()) == result.summary["removed_total"]
    assert len({c["prompt_hash"] for c in by.values()}) == 3
    assert set(frame.groupby("strategy")["prompt_hash"].first()) == {c["prompt_hash"] for c in by.values()}
    # A training mix's manifest names the strategy of each synthetic source.
    sources = synthetic_sources(frame)
    assert {s["strategy"]: s["rows"] for s in sources} == {"generate": 6, "paraphrase": 6, "contrast": 6}


def test_a_paraphrase_identical_to_its_source_is_dropped_and_counted(civics: pd.DataFrame, tmp_path: Path) -> None:
    texts = {" ".join(t.split()) for t in civics["text"]}

    def copy_the_source_first(messages: list[dict]) -> str:
        prompt = messages[-1]["content"]
        [source] = [line for line in prompt.split("\n") if line in texts]
        return "\n".join(f"{i + 1}. {t}" for i, t in enumerate([source, *fake_responses(messages, 3)]))

    with FakeChatServer(answer=copy_the_source_first) as server:
        result = generate_synthetic(civics, config(server, ["paraphrase"]), cache_dir=tmp_path / "c", show_progress=False)
        calls = server.answered
    removed = result.summary["by_strategy"]["paraphrase"]["removed"]
    assert removed["source_copy"] == calls == result.summary["removed"]["source_copy"] > 0
    assert removed["echo"] == 0  # the copy counts as a copy of the source, not as an echo of the prompt
    assert set(result.removed.loc[result.removed["reason"] == "source_copy", "text"]) <= texts
    assert not {normalise(t) for t in result.frame["text"]} & {normalise(t) for t in texts}
    assert result.summary["kept"] == 6


def test_strategies_never_share_cached_answers() -> None:
    messages = [{"role": "user", "content": "same prompt"}]
    sampling = {"temperature": 0.3}
    keys = {name: call_key("openai", "m", messages, sampling, 0, name) for name in ("generate", "paraphrase", "contrast")}
    assert len(set(keys.values())) == 3
    # generate keeps the keys written before strategies existed, so old caches stay valid.
    legacy = {"backend": "openai", "model": "m", "messages": messages, "sampling": sampling, "call_index": 0}
    assert keys["generate"] == stable_hash(legacy, length=32)
    assert call_key("openai", "m", messages, sampling, 0, continuation=True) != keys["generate"]


def test_unknown_strategy_is_a_one_line_error(cli, fixtures: Path, tmp_path: Path) -> None:
    result = cli("generate", fixtures / "civics.csv", "--out", tmp_path / "x.jsonl", "--strategy", "backtranslate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "unknown strategy 'backtranslate': use generate, paraphrase, contrast" in result.stderr
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(ValueError, match="unknown strategy 'swap'"):
        GenerationConfig(strategy=["generate", "swap"])


def test_cli_counts_per_strategy(cli, fixtures: Path, tmp_path: Path) -> None:
    with FakeChatServer() as server:
        result = cli(
            "generate", fixtures / "civics.csv", "--out", tmp_path / "syn.jsonl", "--backend", "openai", "--model", "m",
            "--base-url", server.base_url, "--strategy", "paraphrase", "--strategy", "contrast", "--per-label", "2",
            "--per-call", "2", "--cache", tmp_path / "c", "--embedder", "none", "--no-progress",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "syn.summary.json").read_text())
    assert summary["strategies"] == ["paraphrase", "contrast"] and summary["config"]["strategy"] == ["paraphrase", "contrast"]
    assert {k: v["kept"] for k, v in summary["by_strategy"].items()} == {"paraphrase": 4, "contrast": 4}
    assert "paraphrase" in result.stdout and "contrast" in result.stdout
    rows = pd.read_json(tmp_path / "syn.jsonl", lines=True)
    assert set(rows["strategy"]) == {"paraphrase", "contrast"} and rows["source_id"].notna().all()
    result = cli(
        "generate", fixtures / "civics.csv", "--out", tmp_path / "y.jsonl", "--prompt", tmp_path / "p.txt",
        "--strategy", "paraphrase", "--strategy", "contrast",
    )  # fmt: skip
    assert result.returncode == 2 and "give a single --strategy" in result.stderr


class RecordingBackend(Backend):
    """An in-process backend that continues raw text, as the local backend does, without a model."""

    name = "local"
    in_process = True
    continues_text = True
    seen: list[ChatRequest] = []

    def complete_batch(self, requests: list[ChatRequest]) -> list[dict]:
        self.loaded = True
        RecordingBackend.seen.extend(requests)
        text = " Answer {0} about prices\n- Another {0} on markets\n- Third {0} on trade\n\nQuestion: what next?"
        return [completion(text.format(r.seed % 1000), "stop", 9, 9) for r in requests]


def test_base_model_gets_a_few_shot_continuation_prompt(civics: pd.DataFrame, tmp_path: Path, monkeypatch) -> None:
    RecordingBackend.seen = []
    monkeypatch.setitem(BACKENDS, "local", (lambda model, base_url, batch_size, timeout, batch: RecordingBackend(model), False))
    cfg = GenerationConfig(
        backend="local", model="gemma-3-270m", strategy=["generate", "contrast"], per_label=2, per_call=2, embedder=None
    )
    result = generate_synthetic(civics, cfg, cache_dir=tmp_path / "c", show_progress=False)
    assert RecordingBackend.seen and all(r.continuation for r in RecordingBackend.seen)
    for request in RecordingBackend.seen:
        [message] = request.messages  # one text to continue, no system message and no chat template
        assert message["content"].endswith("\n-") and "Student answers that were scored" in message["content"]
    # The completion continues the open "-" item: all three list items are rows, the trailing "Question:" is not.
    assert result.summary["generated"] == 3 * len(RecordingBackend.seen)
    assert len(result.frame) == 8 and result.frame["text"].str.match(r"^(Answer|Another|Third) \d+").all()
    assert load_template(None, "generate_base.txt").continuation and not load_template(None, "generate.txt").continuation
    with pytest.raises(SynthgradeError, match="'gemma-3-270m' is a base model .* use --backend local or llamacpp"):
        generate_synthetic(civics, GenerationConfig(backend="openai", model="gemma-3-270m", base_url="http://127.0.0.1:9/v1"))
    chat_template = tmp_path / "chat.txt"
    chat_template.write_text("### user\nWrite $n $label answers.\n", encoding="utf-8")
    with pytest.raises(SynthgradeError, match="base model without a chat template"):
        generate_synthetic(civics, cfg.model_copy(update={"prompt": chat_template, "strategy": ["generate"]}), cache_dir=tmp_path)
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("### prompt\n$examples\n### user\nWrite.\n", encoding="utf-8")
    with pytest.raises(SynthgradeError, match="continuation\\) template has no other sections"):
        load_template(mixed, "generate.txt")


def test_a_rewriting_prompt_without_its_source_is_an_error(civics: pd.DataFrame, tmp_path: Path) -> None:
    template = tmp_path / "p.txt"
    template.write_text("### user\nRewrite this $source_label answer as $label: $examples\n", encoding="utf-8")
    server_url = "http://127.0.0.1:9/v1"
    cfg = GenerationConfig(backend="openai", model="m", base_url=server_url, strategy=["paraphrase"], prompt=template)
    with pytest.raises(SynthgradeError, match=r"p.txt: the paraphrase strategy rewrites one response; .* needs \$source"):
        generate_synthetic(civics, cfg, cache_dir=tmp_path)
    template.write_text("### user\nRewrite: ${source}\n", encoding="utf-8")
    with FakeChatServer() as server:
        result = generate_synthetic(
            civics, config(server, ["paraphrase"], prompt=template), cache_dir=tmp_path / "c", show_progress=False
        )
    assert result.summary["kept"] == 6 and result.frame["source_id"].notna().all()


def test_question_placeholder_is_the_question_without_the_reference_answer() -> None:
    task = task_block("Why do prices rise?", "Demand exceeds supply.")
    assert task == "Question: Why do prices rise?\nReference answer: Demand exceeds supply."
    assert question_block("Why do prices rise?") == "Question: Why do prices rise?"
    assert question_block(None) == SINGLE_ITEM_TASK == task_block(None, None)
    paraphrase = load_template(None, "paraphrase.txt")
    rendered = paraphrase.render(
        task=task, question=question_block("Why do prices rise?"), label="correct", labels="correct, incorrect",
        examples="", n=3, source="Buyers want more.", source_label="correct",
    )  # fmt: skip
    text = "\n".join(m["content"] for m in rendered)
    assert "Why do prices rise?" in text and "Buyers want more." in text and "Demand exceeds supply" not in text
