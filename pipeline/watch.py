"""Watchlists: saved queries and entities, matched against every new claim after a crawl or ingest.

A watch is a query (matched by meaning: cosine similarity of the query's embedding and the claim's,
at or above ``Settings.watch_threshold``, or by every query word appearing in the claim), an entity
(any alias: the claim is tagged with it, or with one of its brands and subsidiaries), or both, plus
optional entity filters (AND). Watches live in ``<home>/watches.yaml`` (editable by hand, comments
kept; ``dualuse watch add|list|remove``).

An alert names one claim per watch and document, the best-matching one. Matching is incremental
and idempotent: the store remembers the highest claim row it has scanned;
each (watch, claim) pair alerts once (primary key), so a crash between matching and recording, or a
claim re-stored under a new row, never duplicates an alert.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import yaml_file
from pipeline.errors import UsageError
from pipeline.kb import KnowledgeBase
from pipeline.records import ENTITY_TYPES, entity_id
from pipeline.search import STOPWORDS, prefix_stem
from pipeline.store import Store

HEADER = """\
# dualuse watches: new claims that match are written to the alerts feed after each crawl.
# Fields: name, query (matched by meaning) and/or entity (any alias), optional filters
# company / product / agency / region (lists, AND), optional threshold (cosine, 0-1).
"""
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    watch TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    matched_at TEXT NOT NULL,
    score REAL,
    how TEXT NOT NULL,
    PRIMARY KEY (watch, claim_id)
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts(matched_at);
"""


@dataclass(frozen=True)
class Watch:
    name: str
    query: str | None = None
    entity: str | None = None
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    threshold: float | None = None

    def validated(self) -> Watch:
        if not NAME_RE.match(self.name):
            raise UsageError(f"watch name '{self.name}' is not valid",
                             hint="letters, digits, space, '.', '_' or '-', at most 63")
        query = " ".join((self.query or "").split()) or None
        entity = " ".join((self.entity or "").split()) or None
        if not query and not entity:
            raise UsageError(f"watch '{self.name}' needs --query or --entity",
                             hint="e.g. dualuse watch add pegasus --query 'spyware used against journalists'")
        for etype in self.filters:
            if etype not in ENTITY_TYPES:
                raise UsageError(f"unknown filter '{etype}'", hint="valid: " + ", ".join(ENTITY_TYPES))
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise UsageError(f"watch '{self.name}': threshold must be in (0, 1], got {self.threshold}")
        return Watch(self.name, query, entity, {k: tuple(v) for k, v in self.filters.items() if v}, self.threshold)

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.query:
            out["query"] = self.query
        if self.entity:
            out["entity"] = self.entity
        for etype, names in self.filters.items():
            out[etype] = list(names)
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "query": self.query, "entity": self.entity,
                "filters": {k: list(v) for k, v in self.filters.items()}, "threshold": self.threshold}


def load_watches(path: Path) -> list[Watch]:
    out = []
    for raw in yaml_file.entries(path, "watches"):
        if not isinstance(raw, dict) or "name" not in raw:
            continue
        filters = {t: tuple(str(v) for v in (raw.get(t) or [])) for t in ENTITY_TYPES if raw.get(t)}
        threshold = raw.get("threshold")
        out.append(Watch(str(raw["name"]), raw.get("query"), raw.get("entity"), filters,
                         float(threshold) if threshold is not None else None).validated())
    return out


def add_watch(path: Path, watch: Watch) -> Watch:
    watch = watch.validated()
    yaml_file.add_named_entry(path, "watches", watch.to_yaml(), HEADER, lambda: (w.name for w in load_watches(path)),
                              "watch", "remove it first or pick another name")
    return watch


def remove_watch(path: Path, name: str) -> Watch:
    with yaml_file.editing(path):
        watches = load_watches(path)
        for w in watches:
            if w.name == name:
                yaml_file.remove_entry(path, "watches", name, HEADER)
                return w
    known = ", ".join(w.name for w in watches) or "none yet"
    raise UsageError(f"no watch named '{name}'", hint=f"known watches: {known}")


# -- matching ------------------------------------------------------------------------------------

def ensure_schema(store: Store) -> None:
    store.conn.executescript(SCHEMA)


def resolve_watch_entity(store: Store, name: str, kb: KnowledgeBase | None = None) -> list[str]:
    """Entity ids (with brands and subsidiaries) an entity watch stands for: names and aliases seen
    in the store, and the knowledge base's aliases ("NSO" for NSO Group), so a watch set up before
    the entity is first mentioned matches when it is."""
    ids = [eid for eid, _t, _c in store.match_names(name)]
    if kb is not None:
        for etype in ENTITY_TYPES:
            known = kb.lookup(name, etype)
            if known is not None:
                ids.append(entity_id(etype, known.name))
    ids = list(dict.fromkeys(ids))
    return store.with_descendants(ids) if ids else []


@dataclass(frozen=True)
class Alert:
    watch: str
    claim_id: str
    matched_at: str
    score: float | None
    how: str  # meaning | words | entity


def _terms(query: str) -> set[str]:
    return {prefix_stem(t) for t in re.findall(r"\w+", query.lower()) if t not in STOPWORDS and len(t) > 2}


def scan(store: Store, watches: list[Watch], embed_query: Any, default_threshold: float,
         now: str | None = None, kb: KnowledgeBase | None = None) -> list[Alert]:
    """Match every claim stored since the last scan against ``watches``; record and return the new
    alerts. ``embed_query`` turns a query into a unit vector (the pipeline's embedder)."""
    ensure_schema(store)
    now = now or datetime.now(UTC).isoformat(timespec="seconds")
    row = store.conn.execute("SELECT value FROM meta WHERE key = 'alerts_scanned_rowid'").fetchone()
    since = int(row[0]) if row else 0
    rows = store.conn.execute("SELECT rowid, claim_id, text FROM claims WHERE rowid > ? ORDER BY rowid",
                              (since,)).fetchall()
    if not rows:
        return []
    top = max(r[0] for r in rows)
    found: list[Alert] = []
    overlap: dict[tuple[str, str], int] = {}  # query words a claim's own sentence shares with the watch
    if watches:
        ids = [r[1] for r in rows]
        texts = {r[1]: r[2] for r in rows}
        tagged = store.claim_entity_ids(ids)
        vec_ids, matrix = store.embeddings(ids)
        for w in watches:
            allowed = set(ids)
            for etype, names in w.filters.items():
                for name in names:
                    group = set(store.resolve_entity(etype, name))
                    allowed = {c for c in allowed if tagged.get(c, set()) & group}
            if w.entity:
                group = set(resolve_watch_entity(store, w.entity, kb))
                for cid in sorted(allowed):
                    if tagged.get(cid, set()) & group:
                        found.append(Alert(w.name, cid, now, None, "entity"))
                if not w.query:
                    continue
                allowed = {c for c in allowed if tagged.get(c, set()) & group}
            if w.query:
                threshold = w.threshold or default_threshold
                sims = matrix @ embed_query(w.query) if len(vec_ids) else np.zeros(0)
                terms = _terms(w.query)
                for i, cid in enumerate(vec_ids):
                    if cid not in allowed:
                        continue
                    words = {prefix_stem(t) for t in re.findall(r"\w+", texts[cid].lower())}
                    overlap[(w.name, cid)] = len(terms & words)
                    if float(sims[i]) >= threshold:
                        found.append(Alert(w.name, cid, now, round(float(sims[i]), 4), "meaning"))
                    elif terms and terms <= words:
                        found.append(Alert(w.name, cid, now, round(float(sims[i]), 4), "words"))
    # one alert per watch and document: its best-matching claim. Claims are embedded with their
    # context, so a query also lifts the sentences around the one that matches; the sentence sharing
    # most of the query's words wins, then the similarity.
    doc_of = store.claim_docs([a.claim_id for a in found])
    best: dict[tuple[str, str], Alert] = {}

    def rank(a: Alert) -> tuple[int, float]:
        return overlap.get((a.watch, a.claim_id), 0), a.score or 0.0

    for a in found:
        key = (a.watch, doc_of.get(a.claim_id, a.claim_id))
        if key not in best or rank(a) > rank(best[key]):
            best[key] = a
    unique = {(a.watch, a.claim_id): a for a in best.values()}
    fresh: list[Alert] = []
    with store.transaction() as c:
        for a in unique.values():
            cur = c.execute("INSERT OR IGNORE INTO alerts(watch, claim_id, matched_at, score, how) VALUES (?,?,?,?,?)",
                            (a.watch, a.claim_id, a.matched_at, a.score, a.how))
            if cur.rowcount == 1:  # not alerted before (a re-stored claim keeps its id)
                fresh.append(a)
        c.execute("INSERT INTO meta(key, value) VALUES ('alerts_scanned_rowid', ?) "
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(top),))
    return fresh


def check_since(since: str | None) -> str | None:
    """An ``--since`` for alerts: an ISO date or time, else a UsageError."""
    if not since:
        return None
    try:
        datetime.fromisoformat(since)
    except ValueError:
        raise UsageError(f"--since '{since}' is not an ISO date or time",
                         hint="e.g. 2026-11-21 or 2026-11-21T08:00:00+00:00") from None
    return since


def alerts_json(store: Store, since: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Recorded alerts, newest first, in the CLI/API contract shape."""
    ensure_schema(store)
    sql = """SELECT a.watch, a.claim_id, a.matched_at, a.score, a.how, c.text, c.start, c.end, d.source, d.url,
                    d.title, d.published, d.doc_id
             FROM alerts a JOIN claims c USING (claim_id) JOIN documents d ON d.doc_id = c.doc_id"""
    params: list[Any] = []
    if since:
        sql += " WHERE a.matched_at >= ?"
        params.append(since)
    sql += " ORDER BY a.matched_at DESC, a.watch, c.doc_id, c.seq LIMIT ?"
    params.append(limit)
    return [{"watch": r["watch"], "claim_id": r["claim_id"], "text": r["text"], "source": r["source"],
             "url": r["url"], "title": r["title"], "published": r["published"], "matched_at": r["matched_at"],
             "score": r["score"], "matched_by": r["how"], "doc_id": r["doc_id"], "start": r["start"],
             "end": r["end"]}
            for r in store.conn.execute(sql, params)]


def dumps_lines(alerts: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in alerts)
