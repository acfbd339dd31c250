"""Search stage: hybrid search over claims (dense + BM25, fused), with exact entity and date filters.

Dense: the query's embedding against claim embeddings (HNSW in chromadb, or exact over a filtered
candidate set). Keyword: BM25 over claim texts, the query reduced to plain word terms: from the
in-memory keyword index (``pipeline/keyword.py``, FTS5's scores) when it is current, else from
SQLite FTS5 itself.
Hybrid: reciprocal-rank fusion of the two rankings, with k and weights chosen by measurement on the
dev queries (``dualuse eval retrieval``).

Filters resolve to canonical entity ids in the store (any seen alias or the canonical name, any
case) and combine with AND; the candidate claims they leave are scored exactly against the query
vector when there are few enough (``Settings.exact_search_max``), so a selective filter is both
exact and fast; otherwise the HNSW index is asked for more neighbours than needed and filtered.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np

from pipeline import keyword
from pipeline.describe import described_companies
from pipeline.embed import Embedder
from pipeline.errors import EmptyStoreError, UsageError
from pipeline.index import VectorIndex
from pipeline.intent import wanted_stances
from pipeline.records import ENTITY_TYPES
from pipeline.settings import Settings
from pipeline.store import ClaimRow, Store
from pipeline.tag import Tagger

MAX_QUERY_CHARS = 2000
"""Longer queries are cut: the embedding model reads 256 word pieces at most anyway."""
MAX_LIMIT = 1000
MODES = ("hybrid", "dense", "keyword")
SMALL_CANDIDATE_SET = 2000
"""Without a current keyword index, filters leaving at most this many claims get their keyword
ranking scored in-process (``keyword_within``) rather than by FTS5."""
BOOSTED_TYPES = ("company", "product", "agency")
"""Regions are context in nearly every claim of a corpus about one place; boosting them was measured
to hurt (dev nDCG@10 0.737 -> 0.709)."""
STOPWORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "how",
    "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their", "there", "these", "they",
    "this", "to", "was", "were", "what", "when", "where", "which", "who", "why", "will", "with", "did", "does",
    "do",
])


@dataclass(frozen=True)
class SearchQuery:
    text: str
    limit: int = 10
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # type -> names (AND)
    since: str | None = None
    until: str | None = None
    mode: str = ""  # empty: Settings.search_mode
    sources: tuple[str, ...] = ()

    def validated(self) -> SearchQuery:
        text = " ".join(self.text.split())
        if not text:
            raise UsageError("the query is empty", hint="give a question or keywords, e.g. 'DNA sequencers police'")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}, got {self.limit}")
        for etype in self.filters:
            if etype not in ENTITY_TYPES:
                raise UsageError(f"unknown filter '{etype}'", hint="valid: " + ", ".join(ENTITY_TYPES))
        since, until = check_date("--since", self.since), check_date("--until", self.until)
        if since and until and since > until:
            raise UsageError(f"--since {since} is after --until {until}")
        if self.mode and self.mode not in MODES:
            raise UsageError(f"unknown search mode '{self.mode}'", hint="valid: " + ", ".join(MODES))
        return replace(self, text=text[:MAX_QUERY_CHARS], since=since, until=until)


def check_date(flag: str, value: str | None) -> str | None:
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

    highlights: tuple[tuple[int, int], ...] = ()  # document offsets of query words in the claim
    also: tuple[ClaimRow, ...] = ()  # the same claim in other documents (wire copies, reposts)

    def to_json(self) -> dict[str, Any]:
        r = self.row
        return {
            "claim_id": r.claim_id, "text": r.text, "score": round(self.score, 4), "doc_id": r.doc_id,
            "source": r.source, "url": r.url, "title": r.title, "published": r.published,
            "start": r.start, "end": r.end,
            "entities": {t: r.entities.get(t, []) for t in ENTITY_TYPES},
            "stance": r.stance,
            "highlights": [list(h) for h in self.highlights],
            "also_reported_by": [
                {"claim_id": o.claim_id, "doc_id": o.doc_id, "source": o.source, "url": o.url,
                 "title": o.title, "published": o.published, "start": o.start, "end": o.end}
                for o in self.also
            ],
        }


def prefix_stem(word: str) -> str:
    """A stand-in for FTS5's Porter stemming where we match words ourselves: the first five letters
    ("sequencers" ~ "sequencing")."""
    return word.lower()[:5]


def highlight_spans(text: str, offset: int, terms: list[str]) -> tuple[tuple[int, int], ...]:
    """Offsets (into the document) of the words in ``text`` that share a stem with a query term."""
    stems = {prefix_stem(t) for t in terms if len(t) > 2}
    return tuple((offset + m.start(), offset + m.end()) for m in re.finditer(r"\w+", text)
                 if prefix_stem(m.group(0)) in stems)


def keyword_within(store: Store, terms: Sequence[str], limit: int,
                   candidates: Sequence[str]) -> list[tuple[str, float]]:
    """BM25 over a small candidate set, scored here rather than by FTS5: FTS5 scores every match in
    the corpus before an id restriction applies (measured at 100,000 claims: adding ``rowid IN
    (...)`` to the MATCH made it 3x slower). IDF comes from the candidates themselves."""
    if not terms or not candidates:
        return []
    rows = store.claim_texts(candidates)
    stems = {prefix_stem(t) for t in terms}
    docs = [[prefix_stem(w) for w in re.findall(r"\w+", text)] for _, text in rows]
    avg = sum(len(d) for d in docs) / len(docs) if docs else 1.0
    df = {s: sum(1 for d in docs if s in d) for s in stems}
    scored = []
    for (cid, _), words in zip(rows, docs, strict=True):
        score = 0.0
        for s in stems:
            tf = words.count(s)
            if tf:
                idf = math.log(1 + (len(docs) - df[s] + 0.5) / (df[s] + 0.5))
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(words) / avg))
        if score > 0:
            scored.append((cid, score))
    scored.sort(key=lambda item: -item[1])
    return scored[:limit]


def keyword_ranking(store: Store, settings: Settings, terms: Sequence[str], limit: int,
                    candidates: Sequence[str] | None) -> list[tuple[str, float]]:
    """BM25 over claim texts: from the keyword index when it is current for the store's claims
    (FTS5's scores, over the whole store or restricted to ``candidates``), else from FTS5 itself,
    or, for a small candidate set, scored here (``keyword_within``)."""
    if settings.keyword_index:
        ranked = keyword.ranking(store, settings.keyword_path, terms, limit, candidates)
        if ranked is not None:
            return ranked
    if candidates is not None and len(candidates) <= SMALL_CANDIDATE_SET:
        return keyword_within(store, terms, limit, candidates)
    return store.keyword_search(terms, limit, candidates)


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


def keyword_terms(text: str) -> list[str]:
    """Plain word terms of a query for FTS5: letters and digits only, stopwords dropped."""
    terms = [t for t in re.findall(r"\w+", text.lower()) if t not in STOPWORDS]
    return list(dict.fromkeys(terms))[:64]


def fuse(rankings: list[list[tuple[str, float]]], weights: list[float], k: float) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: each ranking adds weight / (k + rank) to the claims it ranks."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (cid, _score) in enumerate(ranking, 1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def query_entities(text: str, store: Store, tagger: Tagger) -> list[tuple[str, list[str]]]:
    """Entities the query names, found by the project's own tagger: (canonical name, entity ids in
    the store with their brands/subsidiaries). Unknown to the store: skipped."""
    out = []
    for m in tagger.tag(text).mentions:
        if m.label in BOOSTED_TYPES:
            ids = store.resolve_entity(m.label, m.canonical)
            if ids:
                out.append((m.canonical, ids))
    return out


def boost_entities(store: Store, scored: list[tuple[str, float]], groups: list[list[str]],
                   per_entity: float) -> list[tuple[str, float]]:
    """Multiply a claim's score by ``1 + per_entity`` for each entity group it is tagged with.

    Multiplied, not added: that a claim names the company the query is about says which company,
    not whether the claim is on the query's topic, so the boost scales with the claim's own text
    relevance. Added as a fixed number of top-rank votes, it lifted weakly matching claims about the
    right company (an aside naming it, ranked 40th-80th by both retrievers) above on-topic claims,
    and in a large store every claim about a well-covered company would get the same lift. Measured
    on the dev queries with the vote sizes unchanged: judged nDCG@10 0.847 -> 0.855, all claims
    0.686 -> 0.696, documents 0.969 -> 0.969."""
    tagged = store.claim_entity_ids([cid for cid, _ in scored])
    boosted = [
        (cid, score * (1.0 + per_entity * sum(1 for ids in groups if tagged.get(cid, set()) & set(ids))))
        for cid, score in scored
    ]
    return sorted(boosted, key=lambda item: -item[1])


def boost_stances(store: Store, scored: list[tuple[str, float]], wanted: set[str],
                  boost: float) -> list[tuple[str, float]]:
    """Add ``boost`` to claims whose stance the query asks for (``pipeline.intent``)."""
    stances = store.claim_stances([cid for cid, _ in scored])
    boosted = [(cid, score + (boost if stances.get(cid) in wanted else 0.0)) for cid, score in scored]
    return sorted(boosted, key=lambda item: -item[1])


def entity_feedback(store: Store, scored: list[tuple[str, float]], settings: Settings) -> list[tuple[str, float]]:
    """Pseudo-relevance feedback on entities: a company, product or agency tagged in several of the
    top claims is probably what a descriptive query ("the Wisconsin DNA-testing company") is about,
    so its other claims gain a little."""
    top = [cid for cid, _ in scored[: settings.feedback_depth]]
    tagged = store.claim_entity_ids(top)
    counts: dict[str, int] = {}
    for cid in top:
        for eid in tagged.get(cid, set()):
            if eid.split(":", 1)[0] in BOOSTED_TYPES:
                counts[eid] = counts.get(eid, 0) + 1
    focus = [eid for eid, n in counts.items() if n >= settings.feedback_min]
    if not focus:
        return scored
    return boost_entities(store, scored, [[eid] for eid in focus], settings.feedback_boost)


def search(query: SearchQuery, store: Store, index: VectorIndex, embedder: Embedder,
           settings: Settings, tagger: Tagger | None = None) -> list[Hit]:
    return search_with_pool(query, store, index, embedder, settings, tagger)[0]


def search_with_pool(query: SearchQuery, store: Store, index: VectorIndex, embedder: Embedder,
                     settings: Settings, tagger: Tagger | None = None, pool_size: int = 0,
                     ) -> tuple[list[Hit], list[str]]:
    """``search``, plus the ids of the first ``pool_size`` claims of the same final ranking (before
    copies are grouped): what the web page counts its facets over, at no second search's cost."""
    query = query.validated()
    if not query.mode:
        query = replace(query, mode=settings.search_mode)
    if store.is_empty():
        raise EmptyStoreError("the store is empty: nothing to search",
                              hint="ingest something first, e.g. 'dualuse ingest corpus/demo' or 'dualuse demo'")
    groups = resolve_filters(store, query.filters)
    for src in query.sources:
        if not store.has_source(src):
            raise UsageError(f"no document from source '{src}' in the store",
                             hint="give a path or URL as ingested, an outlet name, or a host such as hrw.org")
    candidates = store.filter_claims(groups, query.since, query.until, query.sources) \
        if (groups or query.since or query.until or query.sources) else None
    if candidates is not None and not candidates:
        return [], []
    pool = max(query.limit, settings.fusion_pool) if query.mode == "hybrid" else query.limit
    named = query_entities(query.text, store, tagger) if tagger is not None and query.mode == "hybrid" else []
    described = described_companies(query.text, store, tagger.kb, settings.describe_max,
                                    exclude={name for name, _ in named}) \
        if tagger is not None and query.mode == "hybrid" and settings.describe_boost else []
    rankings: list[list[tuple[str, float]]] = []
    weights: list[float] = []
    # BM25 runs in a worker (FTS5 on its own connection, or the keyword index) while this thread
    # embeds the query and asks the vector index; the waits overlap (SQLite, numpy and torch release
    # the GIL). Measured at 100,000 claims with FTS5: p50 103 -> 83 ms. Tagging the query in the
    # worker too was slower on 2 cores (spaCy and torch then compete for them), so it stays here.
    with ThreadPoolExecutor(max_workers=1) as worker:
        keyword_job = None
        if query.mode in ("hybrid", "keyword"):
            terms = keyword_terms(" ".join([query.text, *(name for name, _ in named)]))
            keyword_job = worker.submit(keyword_ranking, store, settings, terms, pool, candidates)
        if query.mode in ("hybrid", "dense"):
            rankings.append(dense_ranking(store, index, embedder.embed_query(query.text), candidates, pool, settings))
            weights.append(1.0)
        if keyword_job is not None:
            rankings.append(keyword_job.result())
            weights.append(settings.keyword_weight)
    scored = rankings[0] if len(rankings) == 1 else fuse(rankings, weights, settings.rrf_k)
    if named and settings.entity_boost:
        scored = boost_entities(store, scored, [ids for _, ids in named], settings.entity_boost)
    if described:
        scored = boost_entities(store, scored, [ids for _, ids in described],
                                settings.describe_boost)
    if query.mode == "hybrid" and settings.stance_boost:
        speakers = tuple(name for name, ids in named if any(i.startswith("company:") for i in ids))
        if wanted := wanted_stances(query.text, speakers):
            scored = boost_stances(store, scored, wanted, settings.stance_boost / (settings.rrf_k + 1))
    if query.mode == "hybrid" and settings.feedback_boost and not named:
        scored = entity_feedback(store, scored, settings)
    entries = group_copies(store, scored, query.limit, settings)
    rows = store.claim_rows([cid for cid, _, members in entries for cid in (cid, *members)])
    words = keyword_terms(query.text)
    hits = [Hit(rows[cid], score, highlight_spans(rows[cid].text, rows[cid].start, words),
                tuple(rows[m] for m in members if m in rows))
            for cid, score, members in entries if cid in rows]
    return hits, [cid for cid, _ in scored[:pool_size]]


def group_copies(store: Store, scored: list[tuple[str, float]], limit: int,
                 settings: Settings) -> list[tuple[str, float, list[str]]]:
    """One entry per distinct claim: a claim from another document that is a copy of a better-ranked
    one (context embeddings at cosine >= ``claim_copy_cosine``, or >= ``claim_copy_in_group_cosine``
    when the two documents are near-duplicates by MinHash) joins it as "also reported by". Nothing
    is dropped: every grouped claim is listed with its source. Paraphrased reports of the same event
    stay separate entries (measured: they score like merely related claims). Of the first
    ``diversity_depth`` entries at most ``per_document_cap`` come from one document: a researcher's
    top ten shows several sources; the capped claims follow, so they still fill the top ten when
    fewer documents match."""
    if not scored:
        return []
    ids, matrix = store.embeddings([cid for cid, _ in scored])
    pos = {cid: i for i, cid in enumerate(ids)}
    docs = store.claim_docs(ids)
    group_of = store.syndication_groups(list(set(docs.values())))
    head: list[tuple[str, float, list[str]]] = []  # the leading results, at most `cap` per document
    deferred: list[tuple[str, float, list[str]]] = []  # claims the cap kept out of the head, in rank order
    tail: list[tuple[str, float, list[str]]] = []
    depth, cap = min(settings.diversity_depth, limit), settings.per_document_cap
    in_head: Counter[str] = Counter()
    for cid, score in scored:
        if cid not in pos:
            continue
        vec = matrix[pos[cid]]
        for rep, _s, members in (*head, *deferred, *tail):
            if docs[rep] == docs[cid] or any(docs[m] == docs[cid] for m in members):
                continue
            similarity = float(matrix[pos[rep]] @ vec)
            same_story = group_of.get(docs[rep]) == group_of.get(docs[cid])
            threshold = settings.claim_copy_in_group_cosine if same_story else settings.claim_copy_cosine
            if similarity >= threshold:
                members.append(cid)
                break
        else:
            doc = docs[cid]
            # a capped claim gives way only to claims that score nearly as well
            while deferred and len(head) < depth and score < settings.diversity_min_ratio * max(deferred[0][1], 0.0):
                head.append(deferred.pop(0))
            if len(head) < depth and (not cap or in_head[doc] < cap):
                head.append((cid, score, []))
                in_head[doc] += 1
            elif len(head) < depth and len(deferred) < limit:
                deferred.append((cid, score, []))
            elif len(head) >= depth and len(head) + len(tail) < limit:
                tail.append((cid, score, []))
    return [*head, *deferred, *tail][:limit]


def dense_ranking(store: Store, index: VectorIndex, vector: np.ndarray, candidates: list[str] | None,
                  n: int, settings: Settings) -> list[tuple[str, float]]:
    """Nearest claims by cosine similarity; exact over a small candidate set, else HNSW."""
    if candidates is None:
        return index.query(vector, n)
    if len(candidates) <= settings.exact_search_max:
        return exact_scores(store, candidates, vector)[:n]
    allowed = set(candidates)
    want = n * 20
    while True:
        found = index.query(vector, want)
        scored = [(cid, s) for cid, s in found if cid in allowed]
        if len(scored) >= n or len(found) < want:
            return scored[:n]
        want *= 4


def exact_scores(store: Store, claim_ids: list[str], vector: np.ndarray) -> list[tuple[str, float]]:
    ids, matrix = store.embeddings(claim_ids)
    if not ids:
        return []
    sims = matrix @ vector
    order = np.argsort(-sims)
    return [(ids[i], float(sims[i])) for i in order]


@dataclass(frozen=True)
class DocumentHit:
    """A document ranked by its best matching claims (``dualuse search --by document``)."""

    doc_id: str
    score: float
    claims: tuple[Hit, ...]

    def to_json(self) -> dict[str, Any]:
        first = self.claims[0].row
        return {"doc_id": self.doc_id, "score": round(self.score, 4), "source": first.source, "url": first.url,
                "title": first.title, "published": first.published,
                "claims": [h.to_json() for h in self.claims]}


def by_document(hits: list[Hit], limit: int, per_document: int = 3) -> list[DocumentHit]:
    """Documents ordered by their best claim's score; a grouped copy counts for its own document too
    (each source of a syndicated claim is a document that reports it)."""
    claims: dict[str, list[Hit]] = {}
    for hit in hits:
        for row in (hit.row, *hit.also):
            claims.setdefault(row.doc_id, []).append(
                Hit(row, hit.score, hit.highlights if row is hit.row else ()))
    ranked = sorted(claims.items(), key=lambda item: -item[1][0].score)[:limit]
    return [DocumentHit(doc_id, hs[0].score, tuple(hs[:per_document])) for doc_id, hs in ranked]
