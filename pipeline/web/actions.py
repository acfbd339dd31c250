"""Pages that take input: batch search, watches and alerts, add coverage.

Forms post to this origin only (``security.guard`` refuses cross-site posts), every value reaches the
templates as a plain string (autoescaped), and uploads are read within ``uploads``' limits. After a
change (a watch added or removed, a job submitted) the browser is redirected (303) to a GET page.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from pipeline.batch import MAX_BYTES as BATCH_MAX_BYTES
from pipeline.batch import STATUSES, BatchRow, to_csv
from pipeline.errors import UsageError
from pipeline.web import services
from pipeline.web.api import engine_of
from pipeline.web.jobs import MAX_FILE_BYTES, MAX_FILES, MAX_UPLOAD_BYTES, check_urls, save_upload
from pipeline.web.pages import entity_href, page, safe_url
from pipeline.web.uploads import files_of, read_form, text_of

router = APIRouter(include_in_schema=False)
BATCH_TYPES = (".csv", ".txt", ".tsv")


# -- batch search ---------------------------------------------------------------------------------


async def batch_input(request: Request) -> tuple[bytes | str, str]:
    """The names a batch form sent: an uploaded CSV, else the pasted text."""
    form = await read_form(request, max_bytes=BATCH_MAX_BYTES + 100_000, max_files=1)
    files = await files_of(form, "file", BATCH_MAX_BYTES)
    if files:
        upload = files[0]
        if not upload.filename.lower().endswith(BATCH_TYPES):
            raise UsageError(f"'{upload.filename}' is not a CSV file", hint="upload a .csv (or .txt) of names")
        return upload.data, upload.filename
    return text_of(form, "names"), "the pasted names"


def json_names(body: Any) -> str:
    """A JSON batch body as CSV text: {"names": ["A", {"name": "B", "type": "agency"}]}."""
    items = body.get("names") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise UsageError('the JSON body needs "names": a list of names or {"name", "type"} objects',
                         hint='e.g. {"names": ["Promega", {"name": "Xinjiang police", "type": "agency"}]}')
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("name", "type"))
    for item in items:
        if isinstance(item, str):
            writer.writerow((item, ""))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            writer.writerow((item["name"], str(item.get("type") or "")))
        else:
            raise UsageError(f"batch name {json.dumps(item)[:80]} is neither a string nor {{\"name\": ...}}")
    return buf.getvalue()


def names_csv(rows: list[BatchRow]) -> str:
    """The batch's names as a plain CSV (for the download form to send back)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("name", "type"))
    writer.writerows((r.name, r.type or "") for r in rows)
    return buf.getvalue()


def row_view(row: BatchRow) -> dict[str, Any]:
    data = row.to_json()
    etype, canonical = row.matched_type, row.canonical
    data["entity_link"] = entity_href(etype, canonical) if etype and canonical and row.status == "found" else None
    data["search_link"] = "/search?" + urlencode({str(etype): canonical, "q": canonical}) \
        if data["entity_link"] else None
    data["dossier_link"] = f"/dossier/{quote(canonical or '', safe='')}" \
        if etype == "company" and row.status == "found" else None
    return data


@router.get("/batch", response_class=HTMLResponse)
def batch_page(request: Request) -> HTMLResponse:
    return page(request, "batch.html.j2", rows=None, max_bytes=BATCH_MAX_BYTES)


async def run_batch(request: Request, data: bytes | str, label: str) -> list[BatchRow]:
    """``services.batch_rows`` off the event loop."""
    def run() -> list[BatchRow]:
        with engine_of(request).reading() as engine:
            return services.batch_rows(engine, data, label)

    return await run_in_threadpool(run)


@router.post("/batch", response_class=HTMLResponse)
async def batch_results(request: Request) -> HTMLResponse:
    data, label = await batch_input(request)
    rows = await run_batch(request, data, label)
    counts = {status: sum(1 for r in rows if r.status == status) for status in STATUSES}
    return page(request, "batch.html.j2", rows=[row_view(r) for r in rows], counts=counts, label=label,
                names_csv=names_csv(rows), max_bytes=BATCH_MAX_BYTES)


@router.post("/batch.csv")
async def batch_download(request: Request) -> Response:
    data, label = await batch_input(request)
    rows = await run_batch(request, data, label)
    return Response(to_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="dualuse-batch.csv"'})


# -- watches and alerts ---------------------------------------------------------------------------


@router.get("/watches", response_class=HTMLResponse)
def watches_page(request: Request) -> HTMLResponse:
    with engine_of(request).reading() as engine:
        watches = services.watches_json(engine)
        recent = services.alerts(engine, None, 20)
    return page(request, "watches.html.j2", watches=watches, alerts=recent, done=request.query_params.get("done"))


@router.post("/watches")
async def watches_add(request: Request) -> Response:
    form = await read_form(request, max_bytes=20_000, max_files=0)
    fields = {k: text_of(form, k) for k in ("name", "query", "entity", "company", "product", "agency", "region",
                                           "threshold")}

    def run() -> dict[str, Any]:
        with engine_of(request).reading() as engine:
            return services.add_watch(engine, services.watch_from(fields))

    added = await run_in_threadpool(run)
    return RedirectResponse("/watches?" + urlencode({"done": f"added watch {added['name']}"}), status_code=303)


@router.post("/watches/{name}/remove")
def watches_remove(request: Request, name: str) -> Response:
    with engine_of(request).reading() as engine:
        removed = services.remove_watch(engine, name)
    return RedirectResponse("/watches?" + urlencode({"done": f"removed watch {removed['name']}"}), status_code=303)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, since: str | None = None) -> HTMLResponse:
    with engine_of(request).reading() as engine:
        found = services.alerts(engine, since or None, 200)
    for a in found:
        a["link"] = safe_url(a.get("url"))
    return page(request, "alerts.html.j2", alerts=found, since=since or "")


# -- add coverage ---------------------------------------------------------------------------------


@router.get("/ingest", response_class=HTMLResponse)
def ingest_page(request: Request) -> HTMLResponse:
    jobs = [j.to_json() for j in engine_of(request).jobs.recent()]
    return page(request, "ingest.html.j2", jobs=jobs, max_files=MAX_FILES, max_file_mb=MAX_FILE_BYTES // 1_000_000)


async def submit_job(request: Request) -> dict[str, Any]:
    """A job from a form (``urls`` text and ``files``) or a JSON body ({"urls": [...]})."""
    engine = engine_of(request)
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        urls_value = body.get("urls") if isinstance(body, dict) else None
        if not isinstance(urls_value, list) or not all(isinstance(u, str) for u in urls_value):
            raise UsageError('the JSON body needs "urls": a list of http(s) URLs',
                             hint='e.g. {"urls": ["https://example.org/report"]}; upload files as multipart')
        urls, uploads = check_urls("\n".join(urls_value)), []
    else:
        form = await read_form(request, max_bytes=MAX_UPLOAD_BYTES, max_files=MAX_FILES)
        urls = check_urls(text_of(form, "urls"))
        uploads = await files_of(form, "files", MAX_FILE_BYTES)
    labels = {u: u for u in urls}
    for upload in uploads:
        path = await run_in_threadpool(save_upload, engine.settings, upload.filename, upload.data)
        labels[str(path)] = upload.filename
    return engine.jobs.submit(list(labels), labels).to_json()


@router.post("/ingest")
async def ingest_submit(request: Request) -> Response:
    job = await submit_job(request)
    return RedirectResponse(f"/ingest/jobs/{job['job']}", status_code=303)


@router.get("/ingest/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str) -> HTMLResponse:
    job = services.job(engine_of(request), job_id)
    data = job.to_json()
    return page(request, "job.html.j2", job=data, refresh=not job.finished_flag)
