"""A small two-item data set, a fake generator that rewrites faithfully, and a quick build config (fixtures too)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from helpers.llm_server import FakeChatServer
from synthgrade.build import BuildConfig

GOOD = ["the water evaporates and the salt stays", "heat it until the water is gone", "evaporation leaves salt behind"]
BAD = ["stir it with a spoon", "pour it through a paper filter", "use a magnet to pull it out"]


def dataset(n: int = 72) -> pd.DataFrame:
    out = []
    for i in range(n):
        good = i % 2 == 0
        item = "salt" if i % 3 else "sugar"
        out.append(
            {
                "id": f"r{i:03d}",
                "text": f"{(GOOD if good else BAD)[i % 3]} ({i})",
                "label": "correct" if good else "incorrect",
                "item_id": item,
                "item_text": f"How do you get the {item} back out of the water?",
                "reference": "Let the water evaporate; the solid stays behind.",
            }
        )
    return pd.DataFrame(out)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "answers.csv"
    dataset().to_csv(path, index=False)
    return path


def rewrite(messages: list[dict]) -> str:
    """Five numbered rewrites that keep the words of the response being rewritten (lexically faithful)."""
    text = messages[-1]["content"]
    good = any(g.split()[1] in text for g in GOOD) and "spoon" not in text
    base = GOOD if good else BAD
    return "\n".join(f"{k + 1}. {base[k % 3]} in other words, version {k} {abs(hash(text)) % 1000}" for k in range(5))


def config(server: FakeChatServer, **overrides) -> BuildConfig:
    settings = {
        "model": "tfidf",
        "backend": "openai",
        "generator": "fake-model",
        "base_url": server.base_url,
        "strategies": ["paraphrase", "contrast"],
        "shares": [0.5],
        "weights": [0.5, 1.0],
        "bootstrap": 200,
        "student": "auto",
    }
    return BuildConfig(**(settings | overrides))


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    with FakeChatServer(answer=rewrite) as running:
        yield running
