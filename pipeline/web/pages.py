"""Server-rendered pages (Jinja2, autoescaped, no JavaScript): home, search, claim, entity, dossier.

Every piece of article text reaches the templates as plain strings (highlights as a list of
(text, marked) segments), so Jinja escapes it; no template uses ``|safe``. Links to sources are
only made for http(s) URLs.
"""

from __future__ import annotations

import hmac
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from pipeline.dossier_render import render
from pipeline.search import MAX_LIMIT, Hit
from pipeline.store import ClaimRow, Store
from pipeline.web import services
from pipeline.web.api import engine_of
from pipeline.web.engine import Engine
from pipeline.web.security import COOKIE, CSP_DOSSIER, cookie_value

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
FACET_POOL = 200
"""Claims the facet counts are taken from: the top of the same ranking, filters included (hybrid
ranks at most the dense and the keyword candidates, 100 each by default)."""
DOWNLOADS = {"html": "text/html", "md": "text/markdown", "json": "application/json", "csv": "text/csv"}
FACET_TYPES = ("company", "product", "agency", "region")

router = APIRouter(include_in_schema=False)
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True)


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = env.get_template(name).render(request_path=request.url.path, **context)
    return HTMLResponse(html, status_code=status)


def safe_url(url: str | None) -> str | None:
    """A URL to link to, or None: only http(s)."""
    if not url:
        return None
    try:
        return url if urlsplit(url).scheme.lower() in ("http", "https") else None
    except ValueError:
        return None


def outlet(url: str | None, source: str) -> str:
    if url and (host := urlsplit(url).hostname):
        return host.removeprefix("www.")
    return Path(source).name or source


def segments(text: str, offset: int, spans: list[tuple[int, int]] | list[list[int]]) -> list[tuple[str, bool]]:
    """``text`` (starting at document offset ``offset``) cut into (piece, marked) segments."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for s, e in sorted((int(a) - offset, int(b) - offset) for a, b in spans):
        s, e = max(s, pos), min(e, len(text))
        if s >= e:
            continue
        if s > pos:
            out.append((text[pos:s], False))
        out.append((text[s:e], True))
        pos = e
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def entity_href(etype: str, name: str) -> str:
    return f"/entities/{quote(etype, safe='')}/{quote(name, safe='')}"


def dossier_href(name: str, suffix: str = "") -> str:
    return f"/dossier/{quote(name, safe='')}{suffix}"


env.globals.update(entity_href=entity_href, dossier_href=dossier_href, safe_url=safe_url, outlet=outlet)


# -- home -----------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    with engine_of(request).reading() as engine:
        counts = engine.store.stats()
        companies = engine.store.entity_listing("company", 12)
    return page(request, "home.html.j2", counts=counts, companies=companies, home=str(engine.settings.home))


@router.get("/static/app.css")
def stylesheet() -> Response:
    return Response((STATIC / "app.css").read_text(encoding="utf-8"), media_type="text/css",
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/login")
def login(request: Request, token: str = "") -> Response:
    expected: str | None = request.app.state.token
    if not expected:
        return RedirectResponse("/", status_code=303)
    if token and hmac.compare_digest(token.encode(), expected.encode()):
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, cookie_value(expected), httponly=True, samesite="strict", path="/")
        return response
    return page(request, "login.html.j2", status=401, failed=bool(token))


# -- search ---------------------------------------------------------------------------------------


class SearchView:
    """The search a URL describes, and URLs for the same search with one thing changed."""

    def __init__(self, request: Request) -> None:
        qp = request.query_params
        self.q = qp.get("q")
        self.filters = {t: tuple(v for v in qp.getlist(t) if v.strip()) for t in FACET_TYPES}
        self.sources = tuple(v for v in qp.getlist("source") if v.strip())
        self.since = qp.get("since") or None
        self.until = qp.get("until") or None
        self.mode = qp.get("mode") or ""
        self.limit = services.parse_int("--limit", qp.get("limit"), 10) or 0
        self.offset = services.parse_int("offset", qp.get("offset"), 0) or 0

    def pairs(self, **change: Any) -> list[tuple[str, str]]:
        values: dict[str, Any] = {"q": self.q or "", **self.filters, "source": self.sources, "since": self.since,
                                  "until": self.until, "mode": self.mode, "limit": self.limit, "offset": self.offset}
        values.update(change)
        out: list[tuple[str, str]] = []
        for key, value in values.items():
            if isinstance(value, tuple | list):
                out.extend((key, str(v)) for v in value)
            elif value not in (None, "") and (key, value) not in (("offset", 0), ("limit", 10)):
                out.append((key, str(value)))
        return out

    def url(self, **change: Any) -> str:
        return "/search?" + urlencode(self.pairs(**change))

    def add(self, key: str, value: str) -> str:
        current = self.sources if key == "source" else self.filters[key]
        return self.url(**{key: current if value in current else (*current, value)}, offset=0)

    def remove(self, key: str, value: str) -> str:
        current = self.sources if key == "source" else self.filters[key]
        return self.url(**{key: tuple(v for v in current if v != value)}, offset=0)

    def params(self, limit: int) -> services.SearchParams:
        return services.SearchParams(text=self.q or "", limit=limit, filters=self.filters, since=self.since,
                                     until=self.until, sources=self.sources, mode=self.mode)


def hit_view(hit: Hit) -> dict[str, Any]:
    data = hit.to_json()
    data["segments"] = segments(hit.row.text, hit.row.start, data["highlights"])
    data["link"] = safe_url(hit.row.url)
    for other in data["also_reported_by"]:
        other["link"] = safe_url(other["url"])
    return data


def facet_counts(rows: list[ClaimRow], view: SearchView) -> dict[str, list[tuple[str, int, str]]]:
    """Per facet: (value, claims with it, URL adding it as a filter), most frequent first."""
    out: dict[str, list[tuple[str, int, str]]] = {}
    for etype in FACET_TYPES:
        counter = Counter(name for r in rows for name in set(r.entities.get(etype, [])))
        out[etype] = [(v, n, view.add(etype, v)) for v, n in counter.most_common(12)]
    sources: Counter[str] = Counter()
    for r in rows:
        key = (urlsplit(r.url).hostname or "").removeprefix("www.") if r.url else r.source
        sources[key or r.source] += 1
    out["source"] = [(v if "/" not in v else Path(v).name, n, view.add("source", v))  # a path: its file name
                     for v, n in sources.most_common(12)]
    years = Counter(r.published[:4] for r in rows if r.published)
    out["year"] = [(y, n, view.url(since=f"{y}-01-01", until=f"{y}-12-31", offset=0))
                   for y, n in sorted(years.items(), reverse=True)]
    return out


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    view = SearchView(request)
    context: dict[str, Any] = {"view": view, "hits": [], "facets": {}, "max_limit": MAX_LIMIT}
    if view.q is None:
        return page(request, "search.html.j2", **context)
    services.page_window(view.offset, view.limit)
    q = view.params(view.offset + view.limit).query()
    with engine_of(request).reading() as engine:
        hits, pool = services.search_page_hits(engine, q, FACET_POOL)
    shown = hits[view.offset:]
    active = [(k, v, view.remove(k, v)) for k in (*FACET_TYPES, "source") for v in
              (view.sources if k == "source" else view.filters[k])]
    context.update(
        hits=[hit_view(h) for h in shown], facets=facet_counts(pool, view), pool=len(pool), active=active,
        prev_url=view.url(offset=max(view.offset - view.limit, 0)) if view.offset else None,
        next_url=view.url(offset=view.offset + view.limit)
        if len(hits) == view.offset + view.limit and view.offset + 2 * view.limit <= MAX_LIMIT else None,
        dates_url=view.url(since=None, until=None, offset=0) if view.since or view.until else None,
    )
    return page(request, "search.html.j2", **context)


# -- claims and entities --------------------------------------------------------------------------


@router.get("/claims/{claim_id}", response_class=HTMLResponse)
def claim_page(request: Request, claim_id: str) -> HTMLResponse:
    with engine_of(request).reading() as engine:
        detail = services.claim_json(engine, claim_id)
    para = segments(detail["paragraph"], detail["paragraph_start"], [(detail["start"], detail["end"])])
    return page(request, "claim.html.j2", c=detail, paragraph=para, link=safe_url(detail["url"]))


@router.get("/entities/{etype}/{name:path}", response_class=HTMLResponse)
def entity_page(request: Request, etype: str, name: str) -> HTMLResponse:
    with engine_of(request).reading() as engine:
        eid, canonical, family = services.entity_ids(engine, etype, name)
        listing = next((r for r in engine.store.entity_listing(etype) if r["id"] == eid), None)
        aliases = engine.store.aliases_of([eid]).get(eid, [])
        claim_ids = engine.store.claims_mentioning(family)
        rows = sorted(engine.store.claim_rows(claim_ids).values(),
                      key=lambda r: (r.published or "", r.doc_id, r.start), reverse=True)
        chain: dict[str, list[str]] = {}
        if etype == "company":
            d = services.dossier(engine, canonical)
            hq = {r.region for r in d.chain if r.region and r.region_role == "headquarters"}
            chain = {"products": list(d.products),
                     "agencies": sorted({r.agency for r in d.chain if r.agency}),
                     "regions": sorted({r.region for r in d.chain if r.region and r.region_role != "headquarters"}),
                     "headquarters": sorted(hq), "brands": list(d.brands)}
    latest = [{"claim_id": r.claim_id, "text": r.text, "title": r.title, "source": r.source,
               "published": r.published, "link": safe_url(r.url), "stance": r.stance} for r in rows[:20]]
    return page(request, "entity.html.j2", etype=etype, canonical=canonical, aliases=aliases, listing=listing,
                claims=len(claim_ids), chain=chain, latest=latest, timeline=timeline(rows, etype, canonical))


def timeline(rows: list[ClaimRow], etype: str, canonical: str) -> list[tuple[str, int, str | None]]:
    """(year, claims published that year, URL of those claims) oldest first; undated claims last."""
    years = Counter((r.published or "")[:4] for r in rows)
    out: list[tuple[str, int, str | None]] = []
    for year in sorted(y for y in years if y):
        url = "/search?" + urlencode({"q": canonical, etype: canonical, "since": f"{year}-01-01",
                                      "until": f"{year}-12-31"})
        out.append((year, years[year], url))
    if years.get(""):
        out.append(("undated", years[""], None))
    return out


# -- stored snapshots ----------------------------------------------------------------------------

SNAPSHOT_EXT = {"text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
                "text/plain": "txt", "text/markdown": "md"}


def snapshot_response(engine: Engine, sha256: str) -> Response:
    """The raw bytes a document was extracted from, as kept, checked against their SHA-256, as a
    download: never rendered by this origin (attachment, sandboxed, no sniffing)."""
    sha = sha256.strip().lower()
    meta = engine.store.snapshot_meta(sha) if re.fullmatch(r"[0-9a-f]{64}", sha) else None
    if meta is None:
        raise services.NotFoundError(f"no stored snapshot '{sha256[:80]}'",
                                     hint="snapshot hashes are shown on claim pages and by 'dualuse show'")
    data = Store.read_snapshot(engine.settings.snapshots_path, sha)
    if data is None:
        folder = Store.snapshot_file(engine.settings.snapshots_path, sha).parent
        raise services.NotFoundError(f"snapshot {sha} is recorded but its file is missing from {folder}",
                                     hint="restore the data home's snapshots folder from a backup")
    ctype = (meta.get("content_type") or "").split(";")[0].strip().lower()
    name = f"snapshot-{sha[:16]}.{SNAPSHOT_EXT.get(ctype, 'bin')}"
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Content-Security-Policy": "sandbox; default-src 'none'",
                             "X-Snapshot-Content-Type": ctype or "unknown"})


@router.get("/snapshots/{sha256}")
def snapshot(request: Request, sha256: str) -> Response:
    with engine_of(request).reading() as engine:
        return snapshot_response(engine, sha256)


@router.get("/documents/{doc_id}/snapshot")
def document_snapshot(request: Request, doc_id: str) -> Response:
    with engine_of(request).reading() as engine:
        sha = engine.store.document_snapshot(doc_id)
        if sha is None:
            raise services.NotFoundError(f"no document with id '{doc_id[:80]}'",
                                         hint="document ids are in search results ('doc_id')")
        return snapshot_response(engine, sha)


# -- dossiers -------------------------------------------------------------------------------------


def _filename(company: str, ext: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", company).strip("-").lower() or "dossier"
    return f"dossier-{slug}.{ext}"


@router.get("/dossier/{name:path}/pack.zip")
def dossier_pack(request: Request, name: str, since: str | None = None, until: str | None = None) -> Response:
    from pipeline.pack import write_pack

    with engine_of(request).reading() as engine, tempfile.TemporaryDirectory() as tmp:
        d = services.dossier(engine, name, since, until)
        path = Path(tmp) / "pack.zip"
        write_pack(d, engine.store, engine.settings.snapshots_path, path)
        data = path.read_bytes()
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{_filename(d.company, "zip")}"'})


@router.get("/dossier/{name:path}", response_class=HTMLResponse)
def dossier_page(request: Request, name: str, since: str | None = None, until: str | None = None) -> Response:
    stem, _, ext = name.rpartition(".")
    fmt = ext.lower() if stem and ext.lower() in DOWNLOADS else None
    with engine_of(request).reading() as engine:
        d = services.dossier(engine, stem if fmt else name, since, until)
        text = render(d, fmt or "html")
    if fmt:
        return Response(text, media_type=f"{DOWNLOADS[fmt]}; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{_filename(d.company, fmt)}"'})
    window = urlencode([(k, v) for k, v in (("since", d.since), ("until", d.until)) if v])
    links = [(label, dossier_href(d.company, suffix) + (f"?{window}" if window else ""))
             for label, suffix in (("HTML", ".html"), ("Markdown", ".md"), ("JSON", ".json"), ("CSV (chain)", ".csv"),
                                   ("Evidence pack (zip)", "/pack.zip"))]
    nav = env.get_template("dossier_nav.html.j2").render(company=d.company, links=links)
    html = text.replace("<body>", "<body>\n" + nav, 1)
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP_DOSSIER})
