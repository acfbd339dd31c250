"""The JSON API under /api/: the CLI's ``--json`` outputs, over HTTP.

Errors are ``{"error": one_line}`` (the CLI's message) with 400 for bad input, 404 for an unknown
claim or company, 503 for an empty store (see ``app.status_for``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from pipeline.web import services
from pipeline.web.engine import Engine

router = APIRouter(prefix="/api", tags=["api"])
Many = Annotated[list[str] | None, Query()]
"""A repeatable parameter (``?company=A&company=B``: AND, as the CLI's repeated flags)."""


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("/search", summary="dualuse search --json")
def api_search(request: Request, q: str = "", company: Many = None, product: Many = None, agency: Many = None,
               region: Many = None, source: Many = None, since: str | None = None, until: str | None = None,
               limit: str | None = None, mode: str = "", by: str = "claim") -> dict[str, Any]:
    params = services.SearchParams(
        text=q, limit=services.parse_int("--limit", limit, 10) or 0,
        filters={"company": tuple(company or ()), "product": tuple(product or ()), "agency": tuple(agency or ()),
                 "region": tuple(region or ())},
        since=since, until=until, sources=tuple(source or ()), by=by, mode=mode)
    with engine_of(request).reading() as engine:
        return services.search_json(engine, params)


@router.get("/claims/{claim_id}", summary="dualuse show --json")
def api_claim(request: Request, claim_id: str) -> dict[str, Any]:
    with engine_of(request).reading() as engine:
        return services.claim_json(engine, claim_id)


@router.get("/entities", summary="dualuse entities --json")
def api_entities(request: Request, type: str | None = None, limit: str | None = None) -> list[dict[str, Any]]:
    n = services.parse_int("--limit", limit, None)
    with engine_of(request).reading() as engine:
        return services.entities_json(engine, type, n)


@router.get("/dossier/{name:path}", summary="dualuse dossier --format json")
def api_dossier(request: Request, name: str, since: str | None = None, until: str | None = None) -> JSONResponse:
    with engine_of(request).reading() as engine:
        d = services.dossier(engine, name, since, until)
        return JSONResponse(d.to_json())


@router.get("/alerts", summary="dualuse alerts --json")
def api_alerts(request: Request, since: str | None = None, limit: str | None = None) -> list[dict[str, Any]]:
    n = services.parse_int("--limit", limit, None)
    with engine_of(request).reading() as engine:
        return services.alerts(engine, since, n)
