"""The coding page: a FastAPI app over one :class:`~synthgrade.coding.store.CodingStore`.

Pages (``/``, ``/disagreements``, ``/suspects``) are jinja2 templates with autoescaping; the page's
script (``static/code.js``) fills in responses with ``textContent`` only, and the Content-Security-Policy
allows no inline script and nothing from another origin, so a response's text can never become markup.

Access, in the order a request meets it (:class:`AccessMiddleware`): the Host header must name this
server (a web page elsewhere cannot reach a loopback server through DNS rebinding); with a token, a
request needs it as a bearer header or as the cookie that opening ``/?token=...`` once sets; a POST must
carry ``X-Synthgrade: 1``, which a page on another site cannot send without a CORS preflight that this
server never grants.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from synthgrade.coding.export import BackgroundExport
from synthgrade.coding.finish import BUILD_FOLDER, BuildRun
from synthgrade.coding.history import Conflict
from synthgrade.coding.plot import curve_svg, learning_sentence
from synthgrade.coding.pool import IMPORTED
from synthgrade.coding.store import CodingStore
from synthgrade.coding.trainer import BackgroundTrainer, LoopSettings
from synthgrade.errors import SynthgradeError
from synthgrade.report.html import environment

COOKIE = "synthgrade_coding"
CSRF_HEADER = b"x-synthgrade"
MAX_NOTE_CHARS = 2000
PAGE_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
#: The build report is a self-contained page with inline style and embedded images, and no script.
REPORT_POLICY = b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", []) if key == name), b"")


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    start = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    headers = start + (headers or []) + SECURITY_HEADERS + [(b"content-security-policy", PAGE_POLICY)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AccessMiddleware:
    """Host check, token (bearer header or cookie), the POST header; security headers on every response."""

    def __init__(self, app: Callable, token: str | None, allowed_hosts: frozenset[str] | None) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.allowed_hosts = allowed_hosts

    def _token_ok(self, scope: Scope) -> bool:
        if self.token is None:
            return True
        scheme, _, given = _header(scope, b"authorization").partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(_header(scope, b"cookie").decode("latin-1"))
        except Exception:  # a malformed cookie header is just no cookie
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host").decode("latin-1").rsplit(":", 1)[0].strip("[]").lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            await _plain(send, 421, "this server answers only to its own address")
            return
        if scope.get("path") == "/health":
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self.token is not None and "token" in query and scope["method"] == "GET":
            # Opening the printed address: keep the token in a cookie, and take it out of the address bar.
            if not hmac.compare_digest(query.pop("token").encode(), self.token):
                await _plain(send, 401, "wrong token")
                return
            # Always a path on this server ("//host" would be read as another site).
            location = "/" + str(scope.get("path", "/")).lstrip("/") + ("?" + urlencode(query) if query else "")
            cookie = f"{COOKIE}={self.token.decode()}; HttpOnly; SameSite=Strict; Path=/".encode()
            await _plain(send, 303, "see " + location, [(b"location", location.encode()), (b"set-cookie", cookie)])
            return
        if not self._token_ok(scope):
            await _plain(
                send,
                401,
                "open the address `synthgrade code` printed (it carries ?token=...)",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        if scope["method"] not in ("GET", "HEAD") and _header(scope, CSRF_HEADER) != b"1":
            await _plain(send, 403, "requests that change labels must come from the coding page")
            return

        policy = REPORT_POLICY if str(scope.get("path", "")).startswith(f"/{BUILD_FOLDER}/") else PAGE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS, (b"content-security-policy", policy)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


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


def _check_coder(name: str) -> str:
    name = name.strip()
    if not name or name == IMPORTED or not name.isprintable() or len(name) > 64:
        raise HTTPException(422, f"coder name {name[:64]!r} is not allowed (printable, 1-64 characters, not {IMPORTED!r})")
    return name


def create_app(
    project: str | Path,
    *,
    coder: str = "coder",
    token: str | None = None,
    allowed_hosts: frozenset[str] | None = None,
    loop: LoopSettings | None = None,
    build_args: str = "",
    run_model: bool = True,
) -> FastAPI:
    """The coding app for an opened project (:meth:`CodingStore.open` first); ``coder`` is the default name."""
    store = CodingStore(project)
    labels = list(store.settings().labels)
    trainer = BackgroundTrainer(store, loop or LoopSettings())
    build = BuildRun(store, build_args)
    exporter = BackgroundExport(store.export)
    default_coder = _check_coder(coder)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        store.export()  # a kill between a commit and the file rewrite is made good here
        exporter.start()
        if run_model:
            trainer.start()
        yield
        trainer.stop()
        exporter.stop()

    app = FastAPI(title="synthgrade coding", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store, app.state.trainer, app.state.build, app.state.exporter = store, trainer, build, exporter

    @app.exception_handler(SynthgradeError)
    async def _refused(_: Any, exc: SynthgradeError) -> JSONResponse:
        return JSONResponse(status_code=409 if isinstance(exc, Conflict) else 422, content={"detail": str(exc)})

    def page(template: str, coder_name: str, **context: Any) -> HTMLResponse:
        html = (
            environment("synthgrade.coding")
            .get_template(template)
            .render(labels=labels, coder=coder_name, project=str(store.project), **context)
        )
        return HTMLResponse(html)

    def shown(coder_name: str, response: dict[str, Any] | None) -> dict[str, Any]:
        return {"coder": coder_name, "response": response, "labels": labels}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def coding_page(coder: str | None = Query(None, max_length=64)) -> HTMLResponse:
        return page("code.html", _check_coder(coder or default_coder))

    @app.get("/api/next")
    def next_response(coder: str = Query(..., max_length=64)) -> dict[str, Any]:
        name = _check_coder(coder)
        return shown(name, store.next_for(name))

    @app.post("/api/label")
    def give_label(body: LabelIn) -> dict[str, Any]:
        name = _check_coder(body.coder)
        store.label(body.id, name, body.label, body.note.strip(), body.base, export=False)
        exporter.changed()
        trainer.poke()
        return shown(name, store.next_for(name))

    @app.post("/api/skip")
    def skip(body: SkipIn) -> dict[str, Any]:
        name = _check_coder(body.coder)
        store.skip(body.id, name)
        return shown(name, store.next_for(name))

    @app.post("/api/undo")
    def undo(body: CoderIn) -> dict[str, Any]:
        name = _check_coder(body.coder)
        response_id = store.undo(name, export=False)
        exporter.changed()
        trainer.poke()
        return shown(name, store.response(response_id, name) if response_id else store.next_for(name)) | {"undone": response_id}

    @app.get("/api/panel")
    def panel() -> dict[str, Any]:
        counts = store.counts()
        curve = store.curve()
        latest = curve.iloc[-1].to_dict() if len(curve) else None
        return {
            "counts": counts,
            "labels": labels,
            "macro_f1": latest,
            "sentence": learning_sentence(curve) if len(curve) else None,
            "model": trainer.status(),
            "agreement": store.agreement(),
            "build": build.status(),
        }

    @app.get("/curve.svg")
    def curve_image() -> Response:
        return Response(curve_svg(store.curve()), media_type="image/svg+xml")

    @app.get("/disagreements", response_class=HTMLResponse)
    def disagreements(coder: str | None = Query(None, max_length=64)) -> HTMLResponse:
        _, open_ones = store.final_rows()
        rows = open_ones.where(open_ones.notna(), None).to_dict("records")
        return page("disagreements.html", _check_coder(coder or default_coder), rows=rows)

    @app.get("/suspects", response_class=HTMLResponse)
    def suspects(coder: str | None = Query(None, max_length=64)) -> HTMLResponse:
        found = store.open_suspects()
        rows = found.where(found.notna(), None).to_dict("records")
        return page("suspects.html", _check_coder(coder or default_coder), rows=rows, audit=trainer.status()["audit"])

    @app.post("/api/resolve")
    def resolve(body: ResolveIn) -> dict[str, str]:
        store.resolve(body.id, _check_coder(body.coder), body.label, body.kind, export=False)
        exporter.changed()
        trainer.poke()
        return {"status": "resolved", "id": body.id, "label": body.label}

    @app.post("/api/audit")
    def run_audit() -> dict[str, Any]:
        trainer.request_audit()
        return {"audit": "requested"}

    @app.post("/api/finish")
    def finish() -> dict[str, Any]:
        return build.start()

    @app.get("/api/finish")
    def finish_status() -> dict[str, Any]:
        return build.status()

    app.mount("/static", StaticFiles(packages=[("synthgrade.coding", "static")]), name="static")
    app.mount(f"/{BUILD_FOLDER}", StaticFiles(directory=store.project / BUILD_FOLDER, check_dir=False), name="build")
    app.add_middleware(AccessMiddleware, token=token, allowed_hosts=allowed_hosts)
    return app
