"""The JSON API under /api/: the CLI's ``--json`` outputs, over HTTP.

Errors are ``{"error": one_line}`` (the CLI's message) with 400 for bad input, 404 for an unknown
claim or company, 503 for an empty store (see ``app.status_for``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from pipeline.errors import UsageError
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


@router.post("/batch", summary="dualuse batch --format json")
async def api_batch(request: Request) -> list[dict[str, Any]]:
    """Multipart with a CSV ``file`` or a ``names`` field (one per line), or a JSON body
    ``{"names": ["Promega", {"name": "Xinjiang police", "type": "agency"}]}``."""
    from pipeline.web.actions import batch_input, json_names, run_batch

    data: bytes | str
    if request.headers.get("content-type", "").startswith("application/json"):
        data, label = json_names(await request.json()), "the JSON names"
    else:
        data, label = await batch_input(request)
    return [r.to_json() for r in await run_batch(request, data, label)]


@router.get("/watches", summary="dualuse watch list --json")
def api_watches(request: Request) -> list[dict[str, Any]]:
    with engine_of(request).reading() as engine:
        return services.watches_json(engine)


@router.post("/watches", status_code=201, summary="dualuse watch add")
async def api_watch_add(request: Request) -> dict[str, Any]:
    """JSON body: {"name", "query"?, "entity"?, "company"?: [...], "product"?, "agency"?, "region"?, "threshold"?}."""
    body = await request.json()
    if not isinstance(body, dict):
        raise UsageError("the JSON body must be an object", hint='e.g. {"name": "nso", "entity": "NSO Group"}')
    with engine_of(request).reading() as engine:
        return services.add_watch(engine, services.watch_from(body))


@router.delete("/watches/{name}", summary="dualuse watch remove")
def api_watch_remove(request: Request, name: str) -> dict[str, Any]:
    with engine_of(request).reading() as engine:
        return services.remove_watch(engine, name)


@router.post("/ingest", status_code=202, summary="dualuse ingest, as a background job")
async def api_ingest(request: Request) -> dict[str, Any]:
    """JSON ``{"urls": [...]}``, or multipart with ``urls`` (one per line) and ``files``. Returns the
    job; poll ``GET /api/ingest/{job}`` until ``state`` is done or failed. ``report`` is the
    ``dualuse ingest --json`` report of the sources handled so far."""
    from pipeline.web.actions import submit_job

    return await submit_job(request)


@router.get("/ingest", summary="recent ingest jobs")
def api_jobs(request: Request) -> list[dict[str, Any]]:
    return [j.to_json() for j in engine_of(request).jobs.recent()]


@router.get("/ingest/{job_id}", summary="an ingest job's progress and report")
def api_job(request: Request, job_id: str) -> dict[str, Any]:
    return services.job(engine_of(request), job_id).to_json()
