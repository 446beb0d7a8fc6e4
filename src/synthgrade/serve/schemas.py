"""What the scoring service accepts and returns (the request and response bodies, and every error's shape)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synthgrade.data.schema import RowProblem

MAX_TEXT_CHARS = 20_000


class ResponseIn(BaseModel):
    """One response to score; item fields are optional (a known ``item_id`` is looked up in the item bank)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEXT_CHARS)
    id: str | None = Field(default=None, max_length=200, description="Echoed back, for the caller's bookkeeping.")
    item_id: str | None = Field(default=None, max_length=500)
    item_text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    reference: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responses: list[ResponseIn] = Field(min_length=1)


class ScoreResult(BaseModel):
    id: str | None = None
    label: str
    probabilities: dict[str, float]


class ScoreResponse(BaseModel):
    labels: list[str]
    results: list[ScoreResult]


class Issue(BaseModel):
    """One problem with a request: where (``loc``), what (``msg``), and its kind (``type``)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """The body of every error response (400, 401, 404, 405, 413, 422, 500, 503)."""

    detail: str | list[Issue]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "the body could not be decoded (not UTF-8)",
        401: "missing or wrong bearer token",
        413: "request body over the size limit",
        422: "invalid request (each issue located, the input never echoed)",
        503: "scoring took longer than the server's timeout",
    }.items()
}


def row_issues(problems: list[RowProblem]) -> list[dict[str, Any]]:
    """Rows the model cannot score as located issues (``problem.row`` is the index in ``responses``)."""
    return [{"loc": ["body", "responses", problem.row], "msg": str(problem), "type": "unscorable"} for problem in problems]
