"""Parsing messy completions and cleaning candidates (no model needed)."""

from __future__ import annotations

import pandas as pd
import pytest

from synthgrade.errors import SynthgradeError
from synthgrade.generate import GenerationConfig
from synthgrade.generate.cleaning import clean_candidates, is_echo, normalise, prompt_lines
from synthgrade.generate.parsing import parse_responses
from synthgrade.generate.prompting import load_template, parse_template, task_block


def test_numbered_list_with_preamble_and_closing_remark() -> None:
    text = (
        "Here are five new responses:\n\n"
        "1. Prices come from supply and demand.\n"
        "2) Buyers and sellers decide what things cost.\n"
        '3. "The market sets prices, not the state."\n'
        "4.  Companies compete\n   so prices stay low.\n"
        "5. People choose what to buy.\n\n"
        "I hope these help with your scorer!"
    )
    assert parse_responses(text) == [
        "Prices come from supply and demand.",
        "Buyers and sellers decide what things cost.",
        "The market sets prices, not the state.",
        "Companies compete so prices stay low.",
        "People choose what to buy.",
    ]


def test_bullets_quotes_and_labelled_items() -> None:
    text = "Sure! Here you go:\n- “It evaporates.”\n* 'the salt stays'\n• Response 3: boil it off\nResponse 4: Use heat"
    assert parse_responses(text) == ["It evaporates.", "the salt stays", "boil it off", "Use heat"]


def test_json_array_in_code_fence_and_objects() -> None:
    fenced = 'Here you go:\n```json\n["first answer", "second answer", "  third  answer "]\n```\nDone.'
    assert parse_responses(fenced) == ["first answer", "second answer", "third answer"]
    objects = '[{"response": "A magnet pulls the iron."}, {"text": "sieve it"}, {"other": 1}]'
    assert parse_responses(objects) == ["A magnet pulls the iron.", "sieve it"]


def test_plain_lines_headings_and_blank_lines() -> None:
    text = "Responses:\n\nWater evaporates\n\n\nSalt is left behind\n**Answer:**\nIt boils away"
    assert parse_responses(text) == ["Water evaporates", "Salt is left behind", "It boils away"]


def test_truncated_fence_and_numbers_inside_text() -> None:
    assert parse_responses("```\n1. 2.5 grams of salt remain\n2. the rest evapor") == [
        "2.5 grams of salt remain",
        "the rest evapor",
    ]
    assert parse_responses("") == [] and parse_responses("   \n ") == []
    # A single unnumbered answer is one response.
    assert parse_responses("The water dries up and leaves salt.") == ["The water dries up and leaves salt."]


def test_echo_detection() -> None:
    messages = [
        {"role": "system", "content": "You write realistic student responses for training an automatic scorer."},
        {"role": "user", "content": 'Responses that a teacher scored as "incorrect":\n- shook it\nWrite 5 new responses.'},
    ]
    prompt = prompt_lines(messages, ["shook it"])
    labels = ["correct", "incorrect"]
    assert is_echo("The examples of CORRECT answers are:", prompt, labels)
    assert is_echo("Incorrect", prompt, labels)
    assert is_echo("Score: correct", prompt, labels)
    assert is_echo("Here are five responses", prompt, labels)
    assert is_echo('The teacher scored as "correct" in the first response.', prompt, labels)
    assert is_echo("Incorrect: the government decides", prompt, labels)
    assert is_echo("Question: Ms. Teridann made a chart with test data for 3 minerals", prompt, labels)
    assert is_echo("Another possible incorrect answer, but it is different from the examples given.", prompt, labels)
    assert not is_echo("Georgia could rub them together and see which one is harder.", prompt, labels)
    assert is_echo("You write realistic student responses for training an automatic scorer", prompt, labels)
    assert not is_echo("It was an incorrect guess because salt stays", prompt, labels)
    assert not is_echo("shook it", prompt, labels)  # a copy of an example is counted separately


def test_cleaning_counts_every_reason() -> None:
    human = pd.DataFrame(
        {"id": ["h1", "h2"], "text": ["Supply and demand set prices", "The king sets prices"], "label": ["correct", "incorrect"]}
    )
    texts = [
        "Supply and demand set prices!",  # copy of a human row with the same label
        "the king sets prices",  # human row of the other label -> label conflict
        "Prices follow what buyers want",  # kept
        "prices follow what buyers want.",  # exact duplicate after normalisation
        "no",  # too short
        "Here are the answers:",  # echo
        "Test answer leaked here",  # in --exclude
        "A shown example text",  # copy of a shown example
        "Firms compete for customers",  # kept
        "Sellers adjust prices to demand",  # over target (per_label 2)
        "Markets are where the sel",  # last response of a completion cut off by max_tokens
        "Demand decides, what things cost",  # a paraphrase identical to the response it rewrote
    ]
    candidates = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(len(texts))],
            "text": texts,
            "label": ["correct"] * len(texts),
            "item_id": [None] * len(texts),
            "_key": ["k"] * len(texts),
            "_shown": [["A shown example text"]] * len(texts),
            "_group": ["correct"] * len(texts),
            "_order": [(0, 0, i) for i in range(len(texts))],
            "_truncated": [False] * (len(texts) - 2) + [True, False],
            "_source": [None] * (len(texts) - 1) + ["demand decides what things cost"],
        }
    )
    exclude = pd.DataFrame({"text": ["test answer leaked here"]})
    config = GenerationConfig(per_label=2, embedder=None)
    kept, counts, removed = clean_candidates(candidates, human, exclude, config, ["correct", "incorrect"], {"k": set()}, None)
    assert list(kept["text"]) == ["Prices follow what buyers want", "Firms compete for customers"]
    assert counts == {
        "copy_of_human": 1,
        "label_conflict": 1,
        "exact_duplicate": 1,
        "length": 1,
        "echo": 1,
        "leakage": 1,
        "example_copy": 1,
        "source_copy": 1,
        "over_target": 1,
        "near_duplicate": 0,
        "truncated": 1,
    }
    assert len(removed) == sum(counts.values()) and len(kept) + len(removed) == len(texts)


def test_templates(tmp_path) -> None:
    template = load_template(None, "generate.txt")
    messages = template.render(
        task=task_block("Why?", "Because."), label="correct", labels="correct, incorrect", examples="- a", n=3
    )
    assert (
        messages[0]["role"] == "system"
        and "Question: Why?" in messages[1]["content"]
        and "Write exactly 3 new correct answers" in messages[1]["content"]
    )
    bad = tmp_path / "bad.txt"
    bad.write_text("### user\nWrite $count responses for $label", encoding="utf-8")
    with pytest.raises(SynthgradeError, match=r"bad.txt: unknown placeholder \$count"):
        load_template(bad, "generate.txt").render(label="x", n=1)
    with pytest.raises(SynthgradeError, match="no such prompt template"):
        load_template(tmp_path / "missing.txt", "generate.txt")
    assert parse_template("just a user prompt $n", "t").user.startswith("just")
    assert normalise("  It's   EVAPORATED! ") == "it s evaporated"
