"""The HTTP service over real HTTP: a uvicorn server on loopback, started by the tests on a free port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from helpers.serving import MAX_BATCH, MAX_BODY, TOKEN, ServerThread, start_cli_server, stop_cli_server
from helpers.tiny_scorer import LABELS, build_tiny_scorer

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.modeling import load_scorer
from synthgrade.serve import check_binding, create_app, is_loopback


@pytest.fixture(scope="module")
def pair_model(tiny_encoder: Path, tmp_path_factory) -> Path:
    return build_tiny_scorer(tiny_encoder, tmp_path_factory.mktemp("serve-model"))


@pytest.fixture(scope="module")
def server(pair_model: Path) -> Iterator[str]:
    app = create_app(load_scorer(pair_model), token=TOKEN, max_body_bytes=MAX_BODY, max_batch=MAX_BATCH)
    with ServerThread(app) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        yield c


def test_health_needs_no_token_and_model_describes_without_secrets(server: str, client: httpx.Client) -> None:
    health = httpx.get(f"{server}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    model = client.get("/model")
    assert model.status_code == 200
    body = model.json()
    assert body["labels"] == LABELS and body["input_mode"] == "pair" and body["needs_item"] is True
    assert body["items"] == ["q1", "q2"] and body["provenance"]["train_synthetic_rows"] == 96
    assert "api_key" not in json.dumps(body) and "sk-SECRET" not in model.text and TOKEN not in model.text


def test_score_matches_direct_scoring(client: httpx.Client, pair_model: Path) -> None:
    responses = [
        {"text": "The water evaporates.", "item_id": "q1", "id": "r1"},
        {"text": "magnet", "item_id": "q2"},
        {"text": "stir it", "item_text": "How did you separate salt from water?", "reference": "Evaporate the water."},
    ]
    reply = client.post("/score", json={"responses": responses})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["labels"] == LABELS and [r["id"] for r in body["results"]] == ["r1", None, None]
    expected = load_scorer(pair_model).predict_proba(pd.DataFrame(responses))
    got = np.array([[r["probabilities"][label] for label in LABELS] for r in body["results"]])
    assert np.allclose(got, expected, atol=1e-6)
    assert [r["label"] for r in body["results"]] == [LABELS[i] for i in expected.argmax(axis=1)]


def test_token_is_required_and_compared_exactly(server: str) -> None:
    payload = {"responses": [{"text": "x", "item_id": "q1"}]}
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789abc"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        reply = httpx.post(f"{server}/score", json=payload, headers=headers)
        assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in reply.text
    assert httpx.get(f"{server}/model").status_code == 401


def test_validation_errors_are_422_with_clear_messages(client: httpx.Client) -> None:
    unknown = client.post("/score", json={"responses": [{"text": "ok", "item_id": "q1"}, {"text": "hm", "item_id": "nope"}]})
    assert unknown.status_code == 422 and "responses[1]: unknown item_id 'nope'" in unknown.json()["detail"][0]["msg"]
    empty = client.post("/score", json={"responses": [{"text": "   ", "item_id": "q1"}]})
    assert empty.status_code == 422 and "responses[0]: empty" in empty.json()["detail"][0]["msg"]
    too_many = client.post("/score", json={"responses": [{"text": "a", "item_id": "q1"}] * (MAX_BATCH + 1)})
    assert too_many.status_code == 422 and f"over the limit of {MAX_BATCH}" in too_many.json()["detail"]
    for bad in ({"responses": []}, {"responses": [{"item_id": "q1"}]}, {"responses": [{"text": "a", "colour": "red"}]}, [1, 2]):
        assert client.post("/score", json=bad).status_code == 422
    assert client.post("/score", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422


def test_oversized_bodies_get_413_before_parsing(client: httpx.Client) -> None:
    big = {"responses": [{"text": "x" * (MAX_BODY + 10), "item_id": "q1"}]}
    reply = client.post("/score", json=big)
    assert reply.status_code == 413 and f"limit of {MAX_BODY:,} bytes" in reply.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while the body streams in
        yield b'{"responses": [{"text": "'
        for _ in range(20):
            yield b"y" * 500
        yield b'", "item_id": "q1"}]}'

    streamed = client.post("/score", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "larger than the limit" in streamed.json()["detail"]
    small_streamed = client.post(
        "/score",
        content=iter([b'{"responses": [{"text": "short",', b' "item_id": "q1"}]}']),
        headers={"Content-Type": "application/json"},
    )
    assert small_streamed.status_code == 200


def test_concurrent_clients_get_their_own_results(server: str, pair_model: Path) -> None:
    texts = [f"response {i} {'evaporate' * (i % 4)}" for i in range(32)]

    def one(i: int) -> list[float]:
        reply = httpx.post(
            f"{server}/score",
            json={"responses": [{"text": texts[i], "item_id": "q1"}]},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        assert reply.status_code == 200
        return [reply.json()["results"][0]["probabilities"][label] for label in LABELS]

    with ThreadPoolExecutor(16) as pool:
        got = np.array(list(pool.map(one, range(len(texts)))))
    expected = load_scorer(pair_model).predict_proba(pd.DataFrame({"text": texts, "item_id": ["q1"] * len(texts)}))
    assert np.allclose(got, expected, atol=1e-5)


def test_binding_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.3.2.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    check_binding("127.0.0.1", None)
    check_binding("0.0.0.0", TOKEN)
    with pytest.raises(SynthgradeError, match="refusing to listen on 0.0.0.0 without a token"):
        check_binding("0.0.0.0", None)
    with pytest.raises(ParameterError, match="^token must be at least 16 characters"):
        check_binding("127.0.0.1", "short")


def test_serve_cli_refuses_public_binding_without_token(pair_model: Path, cli) -> None:
    result = cli("serve", pair_model, "--host", "0.0.0.0", "--port", "9")
    assert result.returncode == 2 and "refusing to listen on 0.0.0.0" in result.stderr and "Traceback" not in result.stderr


def test_done_when_export_int8_predict_and_serve_over_http(pair_model: Path, tmp_path: Path, cli) -> None:
    """Issue 6: export with --int8, score a file with predict, answer POST /score; no token -> refused; too big -> 413."""
    exported = tmp_path / "onnx-int8"
    result = cli("export", pair_model, "--format", "onnx", "--int8", "--out", exported)
    assert result.returncode == 0, result.stderr
    assert "max abs probability difference" in result.stdout and "label agreement" in result.stdout
    data = tmp_path / "new.csv"
    data.write_text("text,item_id\nThe water evaporates.,q1\nmagnet,q2\n,q1\n", encoding="utf-8")
    scored = cli("predict", exported, data, "--out", tmp_path / "scored.csv")
    assert scored.returncode == 0, scored.stderr
    table = pd.read_csv(tmp_path / "scored.csv")
    assert len(table) == 3 and table["pred_label"].iloc[:2].isin(LABELS).all() and pd.isna(table["pred_label"].iloc[2])

    process, url = start_cli_server(exported, token=TOKEN)
    try:
        payload = {"responses": [{"text": "The water evaporates.", "item_id": "q1"}]}
        ok = httpx.post(f"{url}/score", json=payload, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["results"][0]["label"] in LABELS
        assert np.isclose(sum(ok.json()["results"][0]["probabilities"].values()), 1.0)
        assert httpx.post(f"{url}/score", json=payload).status_code == 401
        huge = {"responses": [{"text": "z" * 1_200_000, "item_id": "q1"}]}
        assert httpx.post(f"{url}/score", json=huge, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 413
        assert httpx.get(f"{url}/model", headers={"Authorization": f"Bearer {TOKEN}"}).json()["kind"] == "onnx"
    finally:
        log = stop_cli_server(process)
    assert "bearer token required" in log and "POST /score" in log
    assert TOKEN not in log and "sk-SECRET" not in log
