"""The web app: ``create_app(settings)`` -> a FastAPI application (``dualuse serve`` runs it).

The same library calls as the CLI (``pipeline.web.services``), a JSON API under /api/ and
server-rendered pages. Library errors are translated here, once: the CLI's one-line message, as
``{"error": ...}`` for the API or a short page, with 400 (bad input), 404 (unknown claim, entity or
company) or 503 (empty store); anything unexpected is a 500 with no traceback in the response.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.errors import DualuseError, EmptyStoreError, StoreError, UsageError
from pipeline.settings import Settings
from pipeline.web import actions, api, pages
from pipeline.web.engine import Engine
from pipeline.web.security import LOOPBACK_NAMES, TOKEN_ENV, guard
from pipeline.web.services import NotFoundError
from pipeline.web.uploads import LengthRequiredError, TooLargeError
from pipeline.writer import BusyError

if TYPE_CHECKING:
    from pipeline.ingest import Pipeline

log = logging.getLogger("dualuse.web")


def status_for(exc: DualuseError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, TooLargeError):
        return 413
    if isinstance(exc, LengthRequiredError):
        return 411
    if isinstance(exc, BusyError):
        return 503
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, EmptyStoreError | StoreError):
        return 503
    return 500


def error_response(request: Request, status: int, message: str) -> Response:
    message = " ".join(message.split())  # one line
    if request.url.path.startswith("/api/") or request.url.path == "/api":
        return JSONResponse({"error": message}, status_code=status)
    html = pages.env.get_template("error.html.j2").render(status=status, message=message,
                                                          request_path=request.url.path)
    return HTMLResponse(html, status_code=status)


class HeadAsGet:
    """Answer HEAD as GET without the body (RFC 9110: a server that answers GET answers HEAD);
    FastAPI's routes are GET-only. Headers, Content-Length included, are the GET's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


def create_app(settings: Settings, *, pipeline: Pipeline | None = None, token: str | None = None,
               hosts: Iterable[str] = ()) -> FastAPI:
    """The app for one data home. ``pipeline``: reuse its loaded models (tests). ``token``: default
    ``DUALUSE_WEB_TOKEN``; when set, every request needs it. ``hosts``: Host names answered besides
    loopback when no token is set."""
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.engine.close()

    app = FastAPI(lifespan=lifespan, title="dualuse", version="0.1", docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Evidence search over coverage of technology turned against people: the CLI's "
                              "--json outputs over HTTP.")
    app.state.engine = Engine(settings, pipeline=pipeline)
    app.state.token = token

    @app.exception_handler(DualuseError)
    async def dualuse_error(request: Request, exc: DualuseError) -> Response:
        return error_response(request, status_for(exc), exc.one_line())

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return error_response(request, 400, f"bad request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(request, 500, f"internal error: {type(exc).__name__}")

    app.middleware("http")(guard(token, (*LOOPBACK_NAMES, *hosts), error_response))
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.add_middleware(HeadAsGet)

    return app
