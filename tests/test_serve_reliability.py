"""Item 10 of issue 13, and fuzzing of the scoring service against its own OpenAPI schema.

The service must answer every request, however hostile, with a documented status and the documented
``{"detail": ...}`` body: never a 500, never the request echoed back, never a token in the log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from helpers.serving import MAX_BATCH, MAX_BODY, TOKEN, ServerThread, start_cli_server, stop_cli_server
from helpers.tiny_scorer import build_tiny_scorer
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from synthgrade.modeling import load_scorer
from synthgrade.serve import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def pair_model(tiny_encoder: Path, tmp_path_factory) -> Path:
    return build_tiny_scorer(tiny_encoder, tmp_path_factory.mktemp("fuzz-model"))


@pytest.fixture(scope="module")
def app(pair_model: Path):
    return create_app(load_scorer(pair_model), token=TOKEN, max_body_bytes=MAX_BODY, max_batch=MAX_BATCH)


@pytest.fixture(scope="module")
def url(app) -> Iterator[str]:
    with ServerThread(app) as base:
        yield base


@pytest.fixture(scope="module")
def roomy_url(pair_model: Path) -> Iterator[str]:
    """A server whose body limit lets through texts over the per-field limit (for the 422 echo test)."""
    with ServerThread(create_app(load_scorer(pair_model), token=TOKEN, max_body_bytes=2_000_000)) as base:
        yield base


def assert_error_shape(reply: httpx.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text[:500]
    body = reply.json()
    assert set(body) == {"detail"}
    detail = body["detail"]
    if isinstance(detail, list):
        for issue in detail:
            assert set(issue) == {"loc", "msg", "type"} and isinstance(issue["msg"], str)
    else:
        assert isinstance(detail, str)
    return body


def test_lone_surrogate_is_422_not_500(url: str) -> None:
    for field in ("text", "id", "item_text"):
        fields = {"text": "ok", "item_id": "q1"} | {field: "a \ud800 b"}
        body = json.dumps({"responses": [fields]})  # ensure_ascii: the surrogate travels as the escape \ud800
        reply = httpx.post(f"{url}/score", content=body.encode(), headers={**AUTH, "Content-Type": "application/json"})
        detail = assert_error_shape(reply, 422)["detail"]
        assert detail[0]["loc"][-1] == field and "unicode" in detail[0]["msg"]
    key = b'{"responses": [{"text": "ok", "item_id": "q1", "\\udfff": 1}]}'  # in a key, which the error names
    assert_error_shape(httpx.post(f"{url}/score", content=key, headers={**AUTH, "Content-Type": "application/json"}), 422)


def test_authentication_comes_before_parsing(url: str) -> None:
    for body in (b"{not json", b'{"responses": "nope"}', b"\xff\xfe"):
        reply = httpx.post(f"{url}/score", content=body, headers={"Content-Type": "application/json"})
        assert_error_shape(reply, 401)
        assert reply.headers["www-authenticate"] == "Bearer"
    authorised = {**AUTH, "Content-Type": "application/json"}
    assert_error_shape(httpx.post(f"{url}/score", content=b"{not json", headers=authorised), 422)


def test_422_never_echoes_the_input(roomy_url: str) -> None:
    marker = "ECHO" * 250_000  # 1 MB of text, over the 20,000-character field limit
    payload = {"responses": [{"text": marker, "item_id": "q1", "colour": "red"}]}
    reply = httpx.post(f"{roomy_url}/score", json=payload, headers=AUTH)
    body = assert_error_shape(reply, 422)
    assert len(reply.content) < 2_000 and "ECHOECHO" not in reply.text
    located = {tuple(issue["loc"]) for issue in body["detail"]}
    assert located == {("body", "responses", 0, "text"), ("body", "responses", 0, "colour")}
    reply = httpx.post(f"{roomy_url}/score", json={"responses": [{"text": "ok", "item_id": "q1", "E" * 10_000: 1}]}, headers=AUTH)
    assert len(assert_error_shape(reply, 422)["detail"][0]["loc"][-1]) < 100  # an absurd key is shortened too


def test_scoring_timeout_is_settable_and_answers_503(pair_model: Path, cli) -> None:
    scorer = load_scorer(pair_model)
    slow = scorer.predict_proba_inputs

    def sleepy(first, second=None, batch_size=64):
        time.sleep(1.0)
        return slow(first, second, batch_size)

    scorer.predict_proba_inputs = sleepy  # type: ignore[method-assign]
    with ServerThread(create_app(scorer, token=TOKEN, timeout_s=0.2)) as base:
        reply = httpx.post(f"{base}/score", json={"responses": [{"text": "salt", "item_id": "q1"}]}, headers=AUTH, timeout=30)
        assert "longer than 0.2 s" in assert_error_shape(reply, 503)["detail"]
    assert "--timeout" in cli("serve", "--help", env={"COLUMNS": "200"}).stdout
    refused = cli("serve", pair_model, "--timeout", "0")
    assert refused.returncode == 2 and "--timeout must be positive" in refused.stderr


def test_token_in_the_query_string_never_reaches_the_access_log(pair_model: Path) -> None:
    secret = "query-token-SECRET-0123456789"
    process, base = start_cli_server(pair_model, token=TOKEN)
    try:
        assert httpx.get(f"{base}/model?token={secret}", headers=AUTH).status_code == 200
        assert httpx.get(f"{base}/health?access_token={secret}").status_code == 200
    finally:
        log = stop_cli_server(process)
    assert "GET /model?<redacted>" in log and secret not in log


# -- schemathesis: every operation, valid and invalid inputs, against the live server --------------------


# schemathesis' pytest plugin does not run under pytest 9, so the operations are driven with hypothesis directly.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def operations(app) -> list:
    return [result.ok() for result in schemathesis.openapi.from_dict(app.openapi()).get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzed_requests_get_documented_answers(app, url: str, mode: GenerationMode) -> None:
    seen: set[int] = set()
    for operation in operations(app):
        if mode == GenerationMode.NEGATIVE and not len(operation.body):
            continue  # /health and /model take no input: nothing to make invalid

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case) -> None:
            response = case.call(base_url=url, headers=AUTH, timeout=30)
            case.validate_response(response, checks=CHECKS)
            seen.add(response.status_code)
            if response.status_code >= 400:
                assert set(json.loads(response.content)) == {"detail"}

        call()
    assert 500 not in seen and (422 in seen or mode == GenerationMode.POSITIVE)


def test_fuzzed_requests_without_a_token_get_401(app, url: str) -> None:
    for operation in operations(app):

        @settings(FUZZ, max_examples=10)
        @given(case=operation.as_strategy())
        def call(case) -> None:
            response = case.call(base_url=url, timeout=30)
            assert response.status_code == (200 if case.path == "/health" else 401), response.text[:300]

        call()


def test_every_error_status_is_documented(app) -> None:
    responses = app.openapi()["paths"]["/score"]["post"]["responses"]
    assert {"401", "413", "422", "503"} <= set(responses)
    error_schema = app.openapi()["components"]["schemas"]["ErrorResponse"]
    assert error_schema["required"] == ["detail"]
