"""Search stage: semantic search over claims, with exact entity and date filters.

Filters resolve to canonical entity ids in the store (any seen alias or the canonical name, any
case) and combine with AND; the candidate claims they leave are scored exactly against the query
vector when there are few enough (``Settings.exact_search_max``), so a selective filter is both
exact and fast; otherwise the HNSW index is asked for more neighbours than needed and filtered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from pipeline.embed import Embedder
from pipeline.errors import EmptyStoreError, UsageError
from pipeline.index import VectorIndex
from pipeline.records import ENTITY_TYPES
from pipeline.settings import Settings
from pipeline.store import ClaimRow, Store

MAX_QUERY_CHARS = 2000
"""Longer queries are cut: the embedding model reads 256 word pieces at most anyway."""
MAX_LIMIT = 1000


@dataclass(frozen=True)
class SearchQuery:
    text: str
    limit: int = 10
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # type -> names (AND)
    since: str | None = None
    until: str | None = None

    def validated(self) -> SearchQuery:
        text = " ".join(self.text.split())
        if not text:
            raise UsageError("the query is empty", hint="give a question or keywords, e.g. 'DNA sequencers police'")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}, got {self.limit}")
        for etype in self.filters:
            if etype not in ENTITY_TYPES:
                raise UsageError(f"unknown filter '{etype}'", hint="valid: " + ", ".join(ENTITY_TYPES))
        since, until = _check_date("--since", self.since), _check_date("--until", self.until)
        if since and until and since > until:
            raise UsageError(f"--since {since} is after --until {until}")
        return SearchQuery(text[:MAX_QUERY_CHARS], self.limit, self.filters, since, until)


def _check_date(flag: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"{flag} '{value}' is not a date", hint="use YYYY-MM-DD, e.g. 2019-02-21") from None


@dataclass(frozen=True)
class Hit:
    row: ClaimRow
    score: float

    def to_json(self) -> dict[str, Any]:
        r = self.row
        return {
            "claim_id": r.claim_id, "text": r.text, "score": round(self.score, 4), "doc_id": r.doc_id,
            "source": r.source, "url": r.url, "title": r.title, "published": r.published,
            "start": r.start, "end": r.end,
            "entities": {t: r.entities.get(t, []) for t in ENTITY_TYPES},
        }


def resolve_filters(store: Store, filters: dict[str, tuple[str, ...]]) -> list[list[str]]:
    """Entity-id groups (one per filter value), or a UsageError naming the closest known names."""
    groups: list[list[str]] = []
    for etype, names in filters.items():
        for name in names:
            ids = store.resolve_entity(etype, name)
            if not ids:
                near = store.closest_entities(etype, name)
                hint = ("known " + etype + " names include: " + "; ".join(near)) if near else \
                    f"no {etype} is known yet; ingest documents first"
                raise UsageError(f"no {etype} named '{name}' in the store", hint=hint)
            groups.append(ids)
    return groups


def search(query: SearchQuery, store: Store, index: VectorIndex, embedder: Embedder,
           settings: Settings) -> list[Hit]:
    query = query.validated()
    if store.claim_count() == 0:
        raise EmptyStoreError("the store is empty: nothing to search",
                              hint="ingest something first, e.g. 'dualuse ingest corpus/demo' or 'dualuse demo'")
    groups = resolve_filters(store, query.filters)
    filtered = bool(groups or query.since or query.until)
    vector = embedder.embed_query(query.text)
    scored: list[tuple[str, float]]
    if filtered:
        candidates = store.filter_claims(groups, query.since, query.until)
        if not candidates:
            return []
        if len(candidates) <= settings.exact_search_max:
            scored = exact_scores(store, candidates, vector)
        else:
            allowed = set(candidates)
            scored = []
            n = query.limit * 20
            while True:
                found = index.query(vector, n)
                scored = [(cid, s) for cid, s in found if cid in allowed]
                if len(scored) >= query.limit or len(found) < n:
                    break
                n *= 4
    else:
        scored = index.query(vector, query.limit)
    top = scored[: query.limit]
    rows = store.claim_rows([cid for cid, _ in top])
    return [Hit(rows[cid], score) for cid, score in top if cid in rows]


def exact_scores(store: Store, claim_ids: list[str], vector: np.ndarray) -> list[tuple[str, float]]:
    ids, matrix = store.embeddings(claim_ids)
    if not ids:
        return []
    sims = matrix @ vector
    order = np.argsort(-sims)
    return [(ids[i], float(sims[i])) for i in order]
