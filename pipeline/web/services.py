"""The library calls behind the web app's API and pages: the same functions, arguments and JSON as
the CLI's ``search``, ``show``, ``entities``, ``dossier`` and ``alerts`` commands, and the same
one-line errors (``pipeline.errors``). Callers hold ``Engine.reading()``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pipeline.batch import BatchRow, evidence, read_names
from pipeline.dossier import Dossier, build_dossier, resolve_company
from pipeline.errors import DualuseError, UsageError
from pipeline.records import ENTITY_TYPES, OTHER_ORG_TYPES
from pipeline.search import MAX_LIMIT, Hit, SearchQuery, by_document, check_date, search_with_pool
from pipeline.search import search as run_search
from pipeline.store import ClaimRow
from pipeline.watch import Watch, load_watches
from pipeline.web.engine import Engine
from pipeline.web.jobs import Job

ENTITY_LABELS = (*ENTITY_TYPES, *OTHER_ORG_TYPES)
FILTERS = ENTITY_TYPES  # company, product, agency, region


class NotFoundError(DualuseError):
    """An unknown claim, entity or company: HTTP 404 with the CLI's message."""

    exit_code = 2


def parse_int(flag: str, value: str | None, default: int | None) -> int | None:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise UsageError(f"{flag} '{value}' is not a whole number") from None


@dataclass(frozen=True)
class SearchParams:
    """A search as the CLI takes it (``dualuse search``), from URL query parameters."""

    text: str
    limit: int = 10
    filters: dict[str, tuple[str, ...]] | None = None
    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    by: str = "claim"
    mode: str = ""

    def query(self) -> SearchQuery:
        if self.by not in ("claim", "document"):
            raise UsageError(f"unknown --by '{self.by}'", hint="valid: claim, document")
        filters = {k: v for k, v in (self.filters or {}).items() if v}
        return SearchQuery(text=self.text, limit=self.limit, filters=filters, since=self.since or None,
                           until=self.until or None, mode=self.mode, sources=self.sources).validated()


def search_hits(engine: Engine, q: SearchQuery) -> list[Hit]:
    return run_search(q, engine.store, engine.index, engine.embedder, engine.settings, engine.tagger)


def search_page_hits(engine: Engine, q: SearchQuery, pool_size: int) -> tuple[list[Hit], list[ClaimRow]]:
    """The hits, and the stored rows of the top ``pool_size`` claims of the same ranking (facets)."""
    hits, pool = search_with_pool(q, engine.store, engine.index, engine.embedder, engine.settings, engine.tagger,
                                  pool_size)
    rows = engine.store.claim_rows(pool)
    return hits, [rows[cid] for cid in pool if cid in rows]


def search_json(engine: Engine, params: SearchParams) -> dict[str, Any]:
    """``dualuse search --json``: {"query", "hits"} or, by document, {"query", "documents"}."""
    q = params.query()
    if params.by == "document":
        hits = search_hits(engine, replace(q, limit=max(q.limit * 5, 50)))
        return {"query": q.text, "documents": [d.to_json() for d in by_document(hits, q.limit)]}
    return {"query": q.text, "hits": [h.to_json() for h in search_hits(engine, q)]}


def claim_json(engine: Engine, claim_id: str) -> dict[str, Any]:
    """``dualuse show --json``."""
    detail = engine.store.claim_detail(claim_id.strip())
    if detail is None:
        raise NotFoundError(f"no claim with id '{claim_id}'", hint="claim ids are printed by 'dualuse search'")
    return detail


def entities_json(engine: Engine, etype: str | None, limit: int | None) -> list[dict[str, Any]]:
    """``dualuse entities --json``."""
    if etype and etype not in ENTITY_LABELS:
        raise UsageError(f"unknown entity type '{etype}'", hint="valid: " + ", ".join(ENTITY_LABELS))
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    return engine.store.entity_listing(etype or None, limit)


def dossier(engine: Engine, name: str, since: str | None = None, until: str | None = None) -> Dossier:
    """``dualuse dossier``: dates are checked first (400), then the name (404 when unknown)."""
    since, until = check_date("--since", since or None), check_date("--until", until or None)
    try:
        resolve_company(engine.store, engine.kb, name)
    except UsageError as exc:
        raise NotFoundError(exc.message, hint=exc.hint) from None
    return build_dossier(engine.store, engine.kb, name, since, until)


def alerts(engine: Engine, since: str | None, limit: int | None) -> list[dict[str, Any]]:
    """``dualuse alerts --json``."""
    from pipeline.watch import alerts_json, check_since

    since = check_since(since)
    n = 100 if limit is None else limit
    if not 1 <= n <= 100000:
        raise UsageError(f"--limit must be between 1 and 100000, got {n}")
    return alerts_json(engine.store, since or None, n)


def page_window(offset: int, limit: int) -> None:
    if offset < 0:
        raise UsageError(f"offset must be 0 or more, got {offset}")
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset + limit > MAX_LIMIT:
        raise UsageError(f"offset + limit must be at most {MAX_LIMIT}, got {offset + limit}",
                         hint="narrow the search with filters instead")


def entity_ids(engine: Engine, etype: str, name: str) -> tuple[str, str, list[str]]:
    """(entity id, canonical name, ids with brands/subsidiaries) of an entity named any way."""
    if etype not in ENTITY_LABELS:
        raise NotFoundError(f"unknown entity type '{etype}'", hint="valid: " + ", ".join(ENTITY_LABELS))
    matches = [(eid, canonical) for eid, t, canonical in engine.store.match_names(name) if t == etype]
    if not matches:
        near = engine.store.closest_entities(etype, name)
        hint = ("closest known: " + "; ".join(near)) if near else f"no {etype} is known yet"
        raise NotFoundError(f"no {etype} named '{' '.join(name.split())}' in the store", hint=hint)
    eid, canonical = matches[0]
    return eid, canonical, engine.store.with_descendants([eid])


# -- batch search, watches ------------------------------------------------------------------------


def batch_rows(engine: Engine, data: bytes | str, label: str) -> list[BatchRow]:
    """``dualuse batch``: the evidence for each name of a CSV (bytes) or pasted list (text)."""
    return evidence(engine.store, engine.kb, read_names(data, label))


def watches_json(engine: Engine) -> list[dict[str, Any]]:
    """``dualuse watch list --json``."""
    return [w.to_json() for w in load_watches(engine.settings.watches_path)]


def watch_from(fields: dict[str, Any]) -> Watch:
    """A watch from form fields or a JSON object: name, query, entity, company/product/agency/region
    (a string, comma-separated, or a list), threshold."""
    def names(value: Any) -> tuple[str, ...]:
        items = value if isinstance(value, list) else str(value or "").split(",")
        return tuple(" ".join(str(v).split()) for v in items if str(v).strip())

    threshold = fields.get("threshold")
    if threshold in (None, ""):
        level = None
    else:
        try:
            level = float(threshold)
        except (TypeError, ValueError):
            raise UsageError(f"threshold '{threshold}' is not a number", hint="a cosine between 0 and 1, e.g. 0.5") \
                from None
    return Watch(" ".join(str(fields.get("name") or "").split()), str(fields.get("query") or "") or None,
                 str(fields.get("entity") or "") or None, {t: names(fields.get(t)) for t in FILTERS}, level)


def add_watch(engine: Engine, watch: Watch) -> dict[str, Any]:
    from pipeline.watch import add_watch as add

    return add(engine.settings.watches_path, watch).to_json()


def remove_watch(engine: Engine, name: str) -> dict[str, Any]:
    from pipeline.watch import remove_watch as remove

    try:
        return remove(engine.settings.watches_path, name).to_json()
    except UsageError as exc:
        raise NotFoundError(exc.message, hint=exc.hint) from None


def job(engine: Engine, job_id: str) -> Job:
    """An add-coverage job of this server, or 404."""
    found = engine.jobs.get(job_id)
    if found is None:
        raise NotFoundError(f"no ingest job '{job_id[:80]}' in this server's memory",
                            hint="jobs are kept until the server restarts; see /ingest")
    return found
