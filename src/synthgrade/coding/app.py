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

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from synthgrade.coding.access import AccessMiddleware
from synthgrade.coding.export import BackgroundExport
from synthgrade.coding.finish import BUILD_FOLDER, BuildRun
from synthgrade.coding.history import Conflict
from synthgrade.coding.routes import CodingContext, add_coding_routes, add_review_routes, check_coder
from synthgrade.coding.store import CodingStore
from synthgrade.coding.trainer import BackgroundTrainer, LoopSettings
from synthgrade.errors import SynthgradeError


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
    default_coder = check_coder(coder)

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

    ctx = CodingContext(store, trainer, build, exporter, labels, default_coder)
    add_coding_routes(app, ctx)
    add_review_routes(app, ctx)

    app.mount("/static", StaticFiles(packages=[("synthgrade.coding", "static")]), name="static")
    app.mount(f"/{BUILD_FOLDER}", StaticFiles(directory=store.project / BUILD_FOLDER, check_dir=False), name="build")
    app.add_middleware(AccessMiddleware, token=token, allowed_hosts=allowed_hosts)
    return app
