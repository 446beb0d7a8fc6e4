"""The coding page's routes: coding (``/``, next, label, skip, undo) and review (the panel, the learning curve,
disagreements, suspects, resolving them, the audit and the finishing build)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from synthgrade.coding.export import BackgroundExport
from synthgrade.coding.finish import BuildRun
from synthgrade.coding.plot import curve_svg, learning_sentence
from synthgrade.coding.pool import IMPORTED
from synthgrade.coding.store import CodingStore
from synthgrade.coding.trainer import BackgroundTrainer
from synthgrade.report.html import environment

MAX_NOTE_CHARS = 2000


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=500)
    coder: str = Field(min_length=1, max_length=64)
    label: str = Field(max_length=200)
    note: str = Field("", max_length=MAX_NOTE_CHARS)
    base: str | None = Field(None, max_length=200, description="the label the page showed for this coder (None: none)")


class SkipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=500)
    coder: str = Field(min_length=1, max_length=64)


class CoderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coder: str = Field(min_length=1, max_length=64)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=500)
    coder: str = Field(min_length=1, max_length=64)
    label: str = Field(max_length=200)
    kind: str = Field(pattern="^(disagreement|suspect)$")


def check_coder(name: str) -> str:
    name = name.strip()
    if not name or name == IMPORTED or not name.isprintable() or len(name) > 64:
        raise HTTPException(422, f"coder name {name[:64]!r} is not allowed (printable, 1-64 characters, not {IMPORTED!r})")
    return name


@dataclass
class CodingContext:
    """What the routes share: the project's store, its background jobs, its labels and the default coder."""

    store: CodingStore
    trainer: BackgroundTrainer
    build: BuildRun
    exporter: BackgroundExport
    labels: list[str]
    default_coder: str

    def page(self, template: str, coder_name: str, **context: Any) -> HTMLResponse:
        template_ = environment("synthgrade.coding").get_template(template)
        return HTMLResponse(template_.render(labels=self.labels, coder=coder_name, project=str(self.store.project), **context))

    def shown(self, coder_name: str, response: dict[str, Any] | None) -> dict[str, Any]:
        return {"coder": coder_name, "response": response, "labels": self.labels}


def add_coding_routes(app: FastAPI, ctx: CodingContext) -> None:
    """The page and the calls a coder makes while coding."""

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def coding_page(coder: str | None = Query(None, max_length=64)) -> HTMLResponse:
        return ctx.page("code.html", check_coder(coder or ctx.default_coder))

    @app.get("/api/next")
    def next_response(coder: str = Query(..., max_length=64)) -> dict[str, Any]:
        name = check_coder(coder)
        return ctx.shown(name, ctx.store.next_for(name))

    @app.post("/api/label")
    def give_label(body: LabelIn) -> dict[str, Any]:
        name = check_coder(body.coder)
        ctx.store.label(body.id, name, body.label, body.note.strip(), body.base, export=False)
        ctx.exporter.changed()
        ctx.trainer.poke()
        return ctx.shown(name, ctx.store.next_for(name))

    @app.post("/api/skip")
    def skip(body: SkipIn) -> dict[str, Any]:
        name = check_coder(body.coder)
        ctx.store.skip(body.id, name)
        return ctx.shown(name, ctx.store.next_for(name))

    @app.post("/api/undo")
    def undo(body: CoderIn) -> dict[str, Any]:
        name = check_coder(body.coder)
        response_id = ctx.store.undo(name, export=False)
        ctx.exporter.changed()
        ctx.trainer.poke()
        return ctx.shown(name, ctx.store.response(response_id, name) if response_id else ctx.store.next_for(name)) | {
            "undone": response_id
        }


def add_review_routes(app: FastAPI, ctx: CodingContext) -> None:
    """The panel, the learning curve, disagreements and suspects to resolve, the audit and the finishing build."""

    @app.get("/api/panel")
    def panel() -> dict[str, Any]:
        counts = ctx.store.counts()
        curve = ctx.store.curve()
        latest = curve.iloc[-1].to_dict() if len(curve) else None
        return {
            "counts": counts,
            "labels": ctx.labels,
            "macro_f1": latest,
            "sentence": learning_sentence(curve) if len(curve) else None,
            "model": ctx.trainer.status(),
            "agreement": ctx.store.agreement(),
            "build": ctx.build.status(),
        }

    @app.get("/curve.svg")
    def curve_image() -> Response:
        return Response(curve_svg(ctx.store.curve()), media_type="image/svg+xml")

    @app.get("/disagreements", response_class=HTMLResponse)
    def disagreements(coder: str | None = Query(None, max_length=64)) -> HTMLResponse:
        _, open_ones = ctx.store.final_rows()
        rows = open_ones.where(open_ones.notna(), None).to_dict("records")
        return ctx.page("disagreements.html", check_coder(coder or ctx.default_coder), rows=rows)

    @app.get("/suspects", response_class=HTMLResponse)
    def suspects(coder: str | None = Query(None, max_length=64)) -> HTMLResponse:
        found = ctx.store.open_suspects()
        rows = found.where(found.notna(), None).to_dict("records")
        return ctx.page("suspects.html", check_coder(coder or ctx.default_coder), rows=rows, audit=ctx.trainer.status()["audit"])

    @app.post("/api/resolve")
    def resolve(body: ResolveIn) -> dict[str, str]:
        ctx.store.resolve(body.id, check_coder(body.coder), body.label, body.kind, export=False)
        ctx.exporter.changed()
        ctx.trainer.poke()
        return {"status": "resolved", "id": body.id, "label": body.label}

    @app.post("/api/audit")
    def run_audit() -> dict[str, Any]:
        ctx.trainer.request_audit()
        return {"audit": "requested"}

    @app.post("/api/finish")
    def finish() -> dict[str, Any]:
        return ctx.build.start()

    @app.get("/api/finish")
    def finish_status() -> dict[str, Any]:
        return ctx.build.status()
