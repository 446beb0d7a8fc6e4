"""Synthetic rows whose intended labels a grader can dispute, and a fast filter config for the fake server."""

from __future__ import annotations

import pandas as pd

from helpers.llm_server import FakeChatServer
from synthgrade.filter import FilterConfig

SYNTHETIC = pd.DataFrame(
    {
        "id": [f"s{i}" for i in range(6)],
        "text": [
            "Supply and demand set the prices.",
            "Buyers and sellers decide freely.",
            "This is wrong: the king decides prices.",  # intended correct, graded incorrect
            "The government plans everything, which is wrong.",
            "Wrong answer: the state owns all farms.",
            "Markets let people choose what to buy.",  # intended incorrect, graded correct
        ],
        "label": ["correct", "correct", "correct", "incorrect", "incorrect", "incorrect"],
        "item_id": ["econ1"] * 6,
        "synthetic": [True] * 6,
    }
)


def fast(server: FakeChatServer, **kw) -> FilterConfig:
    return FilterConfig(
        backend="openai", model="fake-grader", base_url=server.base_url, retry={"base_delay": 0.01, "timeout": 2}, **kw
    )
