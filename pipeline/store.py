"""The canonical store: SQLite, the system of record.

Documents (with their extracted text and content hash), entities and their aliases, mentions,
claims, claim embeddings, ingest runs, and a content-addressed folder of raw snapshots. The vector
index (chromadb) is derived from this and can be rebuilt from it at any time (``dualuse reindex``).

Writes are per-document transactions and idempotent upserts keyed by content-derived ids. Claims
carry an ``indexed`` flag and removed claims leave a tombstone until the vector index has dropped
them, so a crash between the SQLite commit and the index write is repaired by the next sync.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import dedup
from pipeline.errors import StoreError
from pipeline.records import Claim, Fetched, Processed, entity_id, make_id
from pipeline.urls import web_locator

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""1: web documents keyed by courlan's strict normaliser, which dropped content parameters (two
articles ``?storyid=2`` and ``?storyid=3`` were one document). 2: keyed by ``pipeline.urls.web_locator``.
Opening an older store migrates it (``_rekey_web_documents``)."""
FTS_TOKENIZE = "porter unicode61"
"""The tokenizer of ``claims_fts`` below; the keyword index (``pipeline/keyword.py``) tokenises queries with
it (``tests/test_keyword.py`` checks the two agree)."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    locator TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT,
    title TEXT,
    site TEXT,
    author TEXT,
    published TEXT,
    lang TEXT,
    text TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    raw_sha256 TEXT NOT NULL,
    pipeline_version TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    minhash BLOB,
    group_id TEXT
);
CREATE INDEX IF NOT EXISTS documents_published ON documents(published);
CREATE TABLE IF NOT EXISTS doc_bands (
    band INTEGER NOT NULL,
    key TEXT NOT NULL,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS doc_bands_key ON doc_bands(band, key);
CREATE INDEX IF NOT EXISTS doc_bands_doc ON doc_bands(doc_id);
CREATE TABLE IF NOT EXISTS snapshots (
    sha256 TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    url TEXT,
    status INTEGER,
    content_type TEXT,
    headers TEXT,
    fetched_at TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_doc ON snapshots(doc_id);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    canonical TEXT NOT NULL,
    parent_id TEXT
);
CREATE INDEX IF NOT EXISTS entities_type_name ON entities(type, canonical COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS aliases (
    entity_id TEXT NOT NULL REFERENCES entities(entity_id),
    alias TEXT NOT NULL,
    PRIMARY KEY (entity_id, alias)
);
CREATE INDEX IF NOT EXISTS aliases_alias ON aliases(alias COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS mentions (
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    entity_id TEXT NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    PRIMARY KEY (doc_id, start, end, entity_id)
);
CREATE INDEX IF NOT EXISTS mentions_entity ON mentions(entity_id);
CREATE TABLE IF NOT EXISTS claims (
    claim_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    context_start INTEGER NOT NULL,
    context_end INTEGER NOT NULL,
    embedding BLOB,
    indexed INTEGER NOT NULL DEFAULT 0,
    stance TEXT
);
CREATE INDEX IF NOT EXISTS claims_doc ON claims(doc_id, seq);
CREATE INDEX IF NOT EXISTS claims_pending ON claims(indexed) WHERE indexed = 0;
CREATE TABLE IF NOT EXISTS claim_entities (
    claim_id TEXT NOT NULL REFERENCES claims(claim_id) ON DELETE CASCADE,
    entity_id TEXT NOT NULL,
    PRIMARY KEY (claim_id, entity_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claim_entities_entity ON claim_entities(entity_id, claim_id);
CREATE TABLE IF NOT EXISTS tombstones (claim_id TEXT PRIMARY KEY);
CREATE VIRTUAL TABLE IF NOT EXISTS claims_fts USING fts5(claim_id UNINDEXED, text, tokenize='porter unicode61');
-- The claims version: bumped by every write that adds, removes or rewrites a claim, whoever writes,
-- so indexes derived from the claims (pipeline/keyword.py) can tell cheaply that they are stale.
INSERT OR IGNORE INTO meta(key, value) VALUES ('claims_version', '0');
CREATE TRIGGER IF NOT EXISTS claims_version_insert AFTER INSERT ON claims BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'claims_version';
END;
CREATE TRIGGER IF NOT EXISTS claims_version_delete AFTER DELETE ON claims BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'claims_version';
END;
CREATE TRIGGER IF NOT EXISTS claims_version_update AFTER UPDATE OF claim_id, text ON claims BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'claims_version';
END;
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS run_sources (
    run_id TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    detail TEXT,
    doc_id TEXT
);
"""


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """A claim joined with its document's provenance and its entities, as search returns it."""

    claim_id: str
    text: str
    doc_id: str
    source: str
    url: str | None
    title: str | None
    published: str | None
    start: int
    end: int
    context: str
    entities: dict[str, list[str]]
    stance: str | None = None


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fts_conn: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: search resolves query entities in a worker thread; SQLite (built
            # serialized) locks each connection, so shared use is safe, only not parallel.
            self.conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
            fresh = self.conn.execute("SELECT NOT EXISTS (SELECT 1 FROM documents)").fetchone()[0]
            self._migrate()
            self.conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION) if fresh else "1",),
            )
            if self.schema_version() < 2:
                self._rekey_web_documents()
            # Tells this store from another one at the same path (a data home started afresh), whose
            # claims version may coincide with this one's.
            self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}",
                             hint="is it a dualuse data directory? move it aside to start afresh") from exc

    def _migrate(self) -> None:
        """Columns added after a store was created (CREATE TABLE IF NOT EXISTS does not add them)."""
        columns = {r[1] for r in self.conn.execute("PRAGMA table_info(entities)")}
        if "parent_id" not in columns:
            self.conn.execute("ALTER TABLE entities ADD COLUMN parent_id TEXT")
        columns = {r[1] for r in self.conn.execute("PRAGMA table_info(documents)")}
        for name in ("minhash BLOB", "group_id TEXT"):
            if name.split()[0] not in columns:
                self.conn.execute(f"ALTER TABLE documents ADD COLUMN {name}")
        if "stance" not in {r[1] for r in self.conn.execute("PRAGMA table_info(claims)")}:
            self.conn.execute("ALTER TABLE claims ADD COLUMN stance TEXT")

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else SCHEMA_VERSION

    def _rekey_web_documents(self) -> int:
        """Schema 1 -> 2: give every web document the id its URL has now (``web_locator``), with its
        claims re-keyed the same way, in one transaction. Rows keep their rowids (updated in place),
        so nothing is copied or lost: mentions, snapshots, syndication groups, run history, crawl
        items and alerts follow the new ids; each re-keyed claim is tombstoned under its old id and
        marked unindexed, so the next index sync (any ingest or crawl, or ``dualuse reindex``) swaps
        the vectors, from the embeddings kept here. Returns the number of documents re-keyed."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        moved = 0
        with self.transaction() as c:
            c.execute("PRAGMA defer_foreign_keys = ON")  # ids change on both sides of a reference
            rows = c.execute("SELECT doc_id, url FROM documents WHERE url IS NOT NULL").fetchall()
            taken = {r[0] for r in c.execute("SELECT doc_id FROM documents")}
            for old_id, url in rows:
                locator = web_locator(url)
                new_id = make_id("doc", locator)
                if new_id == old_id or new_id in taken:
                    continue
                taken.add(new_id)
                moved += 1
                c.execute("UPDATE documents SET doc_id = ?, locator = ? WHERE doc_id = ?", (new_id, locator, old_id))
                c.execute("UPDATE documents SET group_id = ? WHERE group_id = ?", (new_id, old_id))
                for table in ("mentions", "doc_bands", "snapshots", "run_sources", "crawl_items"):
                    if table in tables:
                        c.execute(f"UPDATE {table} SET doc_id = ? WHERE doc_id = ?", (new_id, old_id))  # noqa: S608 - fixed names
                seen: dict[str, int] = {}
                for old_claim, text in c.execute("SELECT claim_id, text FROM claims WHERE doc_id = ? ORDER BY seq",
                                                 (old_id,)).fetchall():
                    key = " ".join(text.split())
                    new_claim = Claim.make_id(new_id, text, seen.get(key, 0))
                    seen[key] = seen.get(key, 0) + 1
                    c.execute("UPDATE claims SET claim_id = ?, doc_id = ?, indexed = 0 WHERE claim_id = ?",
                              (new_claim, new_id, old_claim))
                    c.execute("UPDATE claim_entities SET claim_id = ? WHERE claim_id = ?", (new_claim, old_claim))
                    c.execute("UPDATE claims_fts SET claim_id = ? WHERE claim_id = ?", (new_claim, old_claim))
                    if "alerts" in tables:
                        c.execute("UPDATE alerts SET claim_id = ? WHERE claim_id = ?", (new_claim, old_claim))
                    c.execute("INSERT OR IGNORE INTO tombstones(claim_id) VALUES (?)", (old_claim,))
            c.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        if moved:
            log.warning("store %s: %d web documents re-keyed by their full URL (schema 2); the vector index "
                        "catches up at the next ingest or crawl, or 'dualuse reindex'", self.path, moved)
        return moved

    def close(self) -> None:
        if self._fts_conn is not None:
            self._fts_conn.close()
            self._fts_conn = None
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- documents -------------------------------------------------------------------------

    def document_state(self, doc_id: str) -> tuple[str, str] | None:
        row = self.conn.execute(
            "SELECT content_sha256, pipeline_version FROM documents WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def save(self, processed: Processed, vectors: np.ndarray, pipeline_version: str, now: str) -> str:
        """Upsert one document with its mentions and claims; returns 'added' or 'updated'.

        Claims that disappear become tombstones for the vector index; claims that stay keep their
        id (and are re-indexed, since their metadata may have changed)."""
        doc = processed.document
        with self.transaction() as c:
            old = c.execute("SELECT ingested_at FROM documents WHERE doc_id = ?", (doc.doc_id,)).fetchone()
            status = "updated" if old else "added"
            new_ids = {cl.claim_id for cl in processed.claims}
            if old:
                for (cid,) in c.execute("SELECT claim_id FROM claims WHERE doc_id = ?", (doc.doc_id,)).fetchall():
                    if cid not in new_ids:
                        c.execute("INSERT OR IGNORE INTO tombstones(claim_id) VALUES (?)", (cid,))
                c.execute("DELETE FROM claims_fts WHERE claim_id IN (SELECT claim_id FROM claims WHERE doc_id = ?)",
                          (doc.doc_id,))
                c.execute("DELETE FROM claims WHERE doc_id = ?", (doc.doc_id,))
                c.execute("DELETE FROM mentions WHERE doc_id = ?", (doc.doc_id,))
            c.execute(
                """INSERT INTO documents(doc_id, source, locator, kind, url, title, site, author, published,
                       lang, text, content_sha256, raw_sha256, pipeline_version, ingested_at, updated_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(doc_id) DO UPDATE SET source=excluded.source, locator=excluded.locator,
                       kind=excluded.kind, url=excluded.url, title=excluded.title, site=excluded.site,
                       author=excluded.author, published=excluded.published, lang=excluded.lang,
                       text=excluded.text, content_sha256=excluded.content_sha256,
                       raw_sha256=excluded.raw_sha256, pipeline_version=excluded.pipeline_version,
                       updated_at=excluded.updated_at""",
                (doc.doc_id, doc.source, doc.locator, doc.kind.value, doc.url, doc.title, doc.site, doc.author,
                 doc.published, doc.lang, doc.text, doc.content_sha256, doc.raw_sha256, pipeline_version,
                 now, now),
            )
            self._group(c, doc.doc_id, doc.text)
            for m in processed.mentions:
                eid = m.entity_id
                c.execute(
                    """INSERT INTO entities(entity_id, type, canonical, parent_id) VALUES (?,?,?,?)
                       ON CONFLICT(entity_id) DO UPDATE SET parent_id = COALESCE(excluded.parent_id, parent_id)""",
                    (eid, m.label, m.canonical, m.parent_id),
                )
                if m.parent_id and m.parent:  # the parent is known by name even before it is mentioned
                    c.execute("INSERT OR IGNORE INTO entities(entity_id, type, canonical) VALUES (?,?,?)",
                              (m.parent_id, m.label, m.parent))
                c.execute("INSERT OR IGNORE INTO aliases(entity_id, alias) VALUES (?,?)",
                          (eid, " ".join(m.text.split())))
                c.execute("INSERT OR IGNORE INTO mentions(doc_id, entity_id, text, start, end) VALUES (?,?,?,?,?)",
                          (doc.doc_id, eid, m.text, m.start, m.end))
            for claim, vector in zip(processed.claims, vectors, strict=True):
                c.execute(
                    """INSERT INTO claims(claim_id, doc_id, seq, text, start, end, context_start, context_end,
                           embedding, indexed, stance) VALUES (?,?,?,?,?,?,?,?,?,0,?)""",
                    (claim.claim_id, doc.doc_id, claim.seq, claim.text, claim.start, claim.end,
                     claim.context_start, claim.context_end, np.asarray(vector, dtype=np.float32).tobytes(),
                     claim.stance),
                )
                c.execute("DELETE FROM tombstones WHERE claim_id = ?", (claim.claim_id,))
                c.execute("INSERT INTO claims_fts(claim_id, text) VALUES (?,?)", (claim.claim_id, claim.text))
                c.executemany(
                    "INSERT OR IGNORE INTO claim_entities(claim_id, entity_id) VALUES (?,?)",
                    [(claim.claim_id, m.entity_id) for m in claim.mentions],
                )
        return status

    def _group(self, c: sqlite3.Connection, doc_id: str, text: str) -> None:
        """Put the document in the syndication group of its near-duplicates (MinHash LSH), or in a
        group of its own. Groups merge when a document bridges two of them."""
        sig = dedup.signature(text)
        keys = dedup.band_keys(sig)
        c.execute("DELETE FROM doc_bands WHERE doc_id = ?", (doc_id,))
        near: set[str] = set()
        for band, key in keys:
            for (other,) in c.execute("SELECT doc_id FROM doc_bands WHERE band = ? AND key = ?", (band, key)):
                near.add(other)
        groups = {doc_id}
        for other in near - {doc_id}:
            row = c.execute("SELECT minhash, group_id FROM documents WHERE doc_id = ?", (other,)).fetchone()
            if row and row[0] and dedup.jaccard(sig, dedup.from_blob(row[0])) >= dedup.THRESHOLD:
                groups.add(row[1] or other)
        group = min(groups)
        c.executemany("INSERT INTO doc_bands(band, key, doc_id) VALUES (?,?,?)",
                      [(band, key, doc_id) for band, key in keys])
        c.execute("UPDATE documents SET minhash = ?, group_id = ? WHERE doc_id = ?", (sig.tobytes(), group, doc_id))
        for g in groups - {group}:
            c.execute("UPDATE documents SET group_id = ? WHERE group_id = ? OR doc_id = ?", (group, g, g))

    def syndication_groups(self, doc_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for doc_id, group in self.rows_in(
                "SELECT doc_id, COALESCE(group_id, doc_id) FROM documents WHERE doc_id IN ({ids})", doc_ids):
            out[doc_id] = group
        return out

    def touch(self, doc_id: str, raw_sha256: str, now: str) -> None:
        """An unchanged document was seen again: keep its latest snapshot hash."""
        self.conn.execute("UPDATE documents SET raw_sha256 = ?, updated_at = ? WHERE doc_id = ?",
                          (raw_sha256, now, doc_id))

    @staticmethod
    def snapshot_file(root: Path, sha256: str) -> Path:
        """Where the snapshot with this SHA-256 lives under the snapshots folder ``root``."""
        return root / sha256[:2] / sha256

    @classmethod
    def read_snapshot(cls, root: Path, sha256: str) -> bytes | None:
        """The snapshot's bytes, checked against their SHA-256; None when its file is missing.
        Raises ``StoreError`` when the file no longer matches its hash (altered or damaged)."""
        try:
            data = cls.snapshot_file(root, sha256).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreError(f"snapshot {sha256} does not match its SHA-256: the file was altered",
                             hint="restore it from a backup; the evidence pack's manifest has the hashes")
        return data

    def snapshot_meta(self, sha256: str) -> dict[str, Any] | None:
        """The stored facts of a snapshot (content type, source, URL, fetch time), or None."""
        row = self.conn.execute("SELECT sha256, source, url, content_type, fetched_at, size FROM snapshots "
                                "WHERE sha256 = ?", (sha256,)).fetchone()
        return dict(row) if row is not None else None

    def document_snapshot(self, doc_id: str) -> str | None:
        """SHA-256 of the raw bytes the stored document was extracted from."""
        row = self.conn.execute("SELECT raw_sha256 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return str(row[0]) if row is not None and row[0] else None

    def put_snapshot(self, root: Path, raw: Fetched, doc_id: str) -> str:
        """Keep the raw bytes, content-addressed by SHA-256 (write-once; same bytes, one file)."""
        sha = raw.sha256
        target = self.snapshot_file(root, sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(raw.body)
            tmp.replace(target)
        self.conn.execute(
            """INSERT OR IGNORE INTO snapshots(sha256, doc_id, source, url, status, content_type, headers,
                   fetched_at, size) VALUES (?,?,?,?,?,?,?,?,?)""",
            (sha, doc_id, raw.source, raw.url, raw.status, raw.content_type,
             json.dumps(dict(raw.headers)) if raw.headers else None, raw.fetched_at, len(raw.body)),
        )
        return sha

    # -- vector-index bookkeeping ----------------------------------------------------------

    def pending(self, batch: int = 512) -> Iterator[list[tuple[str, bytes, dict[str, Any]]]]:
        """Claims not yet in the vector index, in batches: (claim_id, embedding bytes, metadata)."""
        while True:
            rows = self.conn.execute(
                """SELECT c.claim_id, c.embedding, c.doc_id, COALESCE(d.published, '') AS published
                   FROM claims c JOIN documents d USING (doc_id)
                   WHERE c.indexed = 0 LIMIT ?""", (batch,),
            ).fetchall()
            if not rows:
                return
            yield [(r["claim_id"], r["embedding"], {"doc_id": r["doc_id"], "published": r["published"]})
                   for r in rows]

    def needs_sync(self) -> bool:
        """Claims not yet in the vector index, or removed ones it still holds (a crash between a
        store commit and the index write leaves these; the next run repairs them)."""
        row = self.conn.execute("SELECT EXISTS (SELECT 1 FROM claims WHERE indexed = 0) "
                                "OR EXISTS (SELECT 1 FROM tombstones)").fetchone()
        return bool(row[0])

    def mark_indexed(self, claim_ids: Sequence[str]) -> None:
        self.conn.executemany("UPDATE claims SET indexed = 1 WHERE claim_id = ?", [(i,) for i in claim_ids])

    def mark_all_unindexed(self) -> None:
        self.conn.execute("UPDATE claims SET indexed = 0")
        self.conn.execute("DELETE FROM tombstones")

    def tombstones(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT claim_id FROM tombstones")]

    def clear_tombstones(self, claim_ids: Sequence[str]) -> None:
        self.conn.executemany("DELETE FROM tombstones WHERE claim_id = ?", [(i,) for i in claim_ids])

    # -- reads -----------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        one = self.conn.execute
        return {
            "documents": one("SELECT COUNT(*) FROM documents").fetchone()[0],
            "claims": one("SELECT COUNT(*) FROM claims").fetchone()[0],
            "entities": one("SELECT COUNT(DISTINCT entity_id) FROM mentions").fetchone()[0],
        }

    def entity_listing(self, etype: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Canonical entities with mention and document counts and the aliases seen, most
        mentioned first."""
        sql = """SELECT e.entity_id, e.type, e.canonical, e.parent_id, COUNT(*) AS mentions,
                        COUNT(DISTINCT m.doc_id) AS documents
                 FROM entities e JOIN mentions m USING (entity_id)"""
        params: list[Any] = []
        if etype:
            sql += " WHERE e.type = ?"
            params.append(etype)
        sql += " GROUP BY e.entity_id ORDER BY mentions DESC, e.canonical"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self.conn.execute(sql, params).fetchall()
        aliases: dict[str, list[str]] = {}
        for eid, alias in self.conn.execute("SELECT entity_id, alias FROM aliases ORDER BY alias"):
            aliases.setdefault(eid, []).append(alias)
        names = {r[0]: r[1] for r in self.conn.execute("SELECT entity_id, canonical FROM entities")}
        return [{"id": r["entity_id"], "type": r["type"], "canonical": r["canonical"],
                 "parent": names.get(r["parent_id"]) if r["parent_id"] else None,
                 "mentions": r["mentions"], "documents": r["documents"],
                 "aliases": aliases.get(r["entity_id"], [])} for r in rows]

    def is_empty(self) -> bool:
        return self.conn.execute("SELECT 1 FROM claims LIMIT 1").fetchone() is None

    def claim_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0])

    def resolve_entity(self, etype: str, name: str) -> list[str]:
        """Entity ids of ``etype`` whose canonical name or a seen alias equals ``name`` (any case)."""
        rows = self.conn.execute(
            """SELECT entity_id FROM entities WHERE type = ? AND canonical = ? COLLATE NOCASE
               UNION SELECT a.entity_id FROM aliases a JOIN entities e USING (entity_id)
               WHERE e.type = ? AND a.alias = ? COLLATE NOCASE""",
            (etype, " ".join(name.split()), etype, " ".join(name.split())),
        ).fetchall()
        found = [r[0] for r in rows]
        direct = entity_id(etype, name)
        if not found and self.conn.execute("SELECT 1 FROM entities WHERE entity_id = ?", (direct,)).fetchone():
            found = [direct]
        return self.with_descendants(found)

    def with_descendants(self, entity_ids: Sequence[str]) -> list[str]:
        """The entities plus their brands and subsidiaries, at any depth (the KB's parent links):
        a filter on Thermo Fisher Scientific also finds claims naming Applied Biosystems."""
        out = list(dict.fromkeys(entity_ids))
        frontier = list(out)
        while frontier:
            marks = ",".join("?" * len(frontier))
            children = [r[0] for r in self.conn.execute(
                f"SELECT entity_id FROM entities WHERE parent_id IN ({marks})", frontier)  # noqa: S608
                if r[0] not in out]
            out.extend(children)
            frontier = children
        return out

    def family_roots(self, entity_ids: Sequence[str]) -> list[str]:
        """Those of ``entity_ids`` that are not brands or subsidiaries of another one of them."""
        family = {eid: set(self.with_descendants([eid])) for eid in entity_ids}
        return [eid for eid in entity_ids if not any(eid in fam and eid != other for other, fam in family.items())]

    def closest_entities(self, etype: str, name: str, limit: int = 5) -> list[str]:
        """Canonical names of ``etype`` sharing a word with ``name``, most-mentioned first."""
        words = [w for w in name.split() if len(w) > 2] or [name]
        clause = " OR ".join("e.canonical LIKE ?" for _ in words)
        rows = self.conn.execute(
            f"""SELECT e.canonical, COUNT(m.doc_id) n FROM entities e LEFT JOIN mentions m USING (entity_id)
                WHERE e.type = ? AND ({clause}) GROUP BY e.entity_id ORDER BY n DESC LIMIT ?""",  # noqa: S608 - placeholders only
            (etype, *[f"%{w}%" for w in words], limit),
        ).fetchall()
        if not rows:
            rows = self.conn.execute(
                """SELECT e.canonical, COUNT(m.doc_id) n FROM entities e LEFT JOIN mentions m USING (entity_id)
                   WHERE e.type = ? GROUP BY e.entity_id ORDER BY n DESC LIMIT ?""", (etype, limit),
            ).fetchall()
        return [r[0] for r in rows]

    def filter_claims(self, entity_groups: Sequence[Sequence[str]], since: str | None,
                      until: str | None, sources: Sequence[str] = ()) -> list[str]:
        """Claim ids that mention one of each group's entity ids (AND across groups), whose
        document date lies in [since, until] (dated filters exclude undated documents), and whose
        document matches every source filter: its path or URL as given, its outlet name, or its
        URL's host ("hrw.org" matches https://www.hrw.org/...), any case."""
        sql = "SELECT c.claim_id FROM claims c JOIN documents d USING (doc_id) WHERE 1=1"
        params: list[Any] = []
        for src in sources:
            clause, values = _source_clause(src)
            sql += " AND " + clause
            params.extend(values)
        for group in entity_groups:
            marks = ",".join("?" * len(group))
            sql += (" AND c.claim_id IN (SELECT claim_id FROM claim_entities WHERE entity_id IN ("  # noqa: S608 - placeholders only
                    + marks + "))")
            params.extend(group)
        clause, values = _date_clause(since, until)
        return [r[0] for r in self.conn.execute(sql + clause, [*params, *values])]

    def has_source(self, src: str) -> bool:
        clause, values = _source_clause(src)
        row = self.conn.execute(f"SELECT EXISTS (SELECT 1 FROM documents d WHERE {clause})",  # noqa: S608
                                values).fetchone()
        return bool(row[0])

    def claim_detail(self, claim_id: str) -> dict[str, Any] | None:
        """A claim in its paragraph, with its document's provenance and snapshot hash."""
        row = self.conn.execute(
            """SELECT c.claim_id, c.text, c.start, c.end, c.doc_id, d.text AS doc_text, d.source, d.url,
                      d.title, d.site, d.published, d.raw_sha256, d.content_sha256
               FROM claims c JOIN documents d USING (doc_id) WHERE c.claim_id = ?""", (claim_id,),
        ).fetchone()
        if row is None:
            return None
        text: str = row["doc_text"]
        p_start = text.rfind("\n", 0, row["start"]) + 1
        p_end = text.find("\n", row["end"])
        p_end = len(text) if p_end < 0 else p_end
        joined = self.claim_rows([claim_id])[claim_id]
        return {
            "claim_id": claim_id, "text": row["text"], "start": row["start"], "end": row["end"],
            "paragraph": text[p_start:p_end], "paragraph_start": p_start,
            "doc_id": row["doc_id"], "source": row["source"], "url": row["url"], "title": row["title"],
            "site": row["site"], "published": row["published"], "snapshot_sha256": row["raw_sha256"],
            "text_sha256": row["content_sha256"], "entities": joined.entities, "stance": joined.stance,
        }

    def match_names(self, name: str) -> list[tuple[str, str, str]]:
        """Entities of any type whose canonical name or a seen alias equals ``name`` (any case):
        (entity_id, type, canonical)."""
        key = " ".join(name.split())
        rows = self.conn.execute(
            """SELECT entity_id, type, canonical FROM entities WHERE canonical = ? COLLATE NOCASE
               UNION SELECT e.entity_id, e.type, e.canonical FROM aliases a JOIN entities e USING (entity_id)
               WHERE a.alias = ? COLLATE NOCASE ORDER BY 2, 3""", (key, key)).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def entity_names(self, entity_ids: Sequence[str]) -> dict[str, tuple[str, str, str | None]]:
        """entity id -> (type, canonical, parent id) for the ids that exist."""
        return {r[0]: (r[1], r[2], r[3]) for r in self.rows_in(
            "SELECT entity_id, type, canonical, parent_id FROM entities WHERE entity_id IN ({ids})", entity_ids)}

    def aliases_of(self, entity_ids: Sequence[str]) -> dict[str, list[str]]:
        return self.grouped_in("SELECT entity_id, alias FROM aliases WHERE entity_id IN ({ids}) ORDER BY alias",
                               entity_ids)

    def claim_stances(self, claim_ids: Sequence[str]) -> dict[str, str | None]:
        return {r[0]: r[1] for r in self.rows_in("SELECT claim_id, stance FROM claims WHERE claim_id IN ({ids})",
                                                  claim_ids)}

    def evidence_counts(self, entity_ids: Sequence[str]) -> dict[str, Any]:
        """Claims tagged with any of ``entity_ids``: how many, in how many documents and independent
        sources (syndication groups counted once), and the first and last publication dates."""
        row = self.conn.execute(
            """SELECT COUNT(DISTINCT ce.claim_id), COUNT(DISTINCT c.doc_id),
                      COUNT(DISTINCT COALESCE(d.group_id, d.doc_id)), MIN(d.published), MAX(d.published)
               FROM claim_entities ce JOIN claims c USING (claim_id) JOIN documents d USING (doc_id)
               WHERE ce.entity_id IN (SELECT value FROM json_each(?))""", (json.dumps(list(entity_ids)),)).fetchone()
        return {"claims": row[0], "documents": row[1], "independent_sources": row[2],
                "first_published": row[3], "last_published": row[4]}

    def claims_mentioning(self, entity_ids: Sequence[str], since: str | None = None,
                          until: str | None = None, doc_ids: Sequence[str] | None = None) -> list[str]:
        """Claim ids tagged with any of ``entity_ids`` (optionally only in ``doc_ids``), whose
        document date lies in [since, until] (dated bounds exclude undated documents)."""
        sql = """SELECT DISTINCT ce.claim_id FROM claim_entities ce JOIN claims c USING (claim_id)
                 JOIN documents d USING (doc_id) WHERE ce.entity_id IN (SELECT value FROM json_each(?))"""
        params: list[Any] = [json.dumps(list(entity_ids))]
        if doc_ids is not None:
            sql += " AND c.doc_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(doc_ids)))
        clause, values = _date_clause(since, until)
        return [r[0] for r in self.conn.execute(sql + clause, [*params, *values])]

    def document_claims(self, doc_ids: Sequence[str]) -> dict[str, list[str]]:
        """doc id -> its claim ids in text order."""
        return self.grouped_in("SELECT doc_id, claim_id FROM claims WHERE doc_id IN ({ids}) ORDER BY doc_id, seq",
                               doc_ids)

    def mention_spans(self, doc_ids: Sequence[str]) -> dict[str, list[tuple[str, int, int]]]:
        """doc id -> its mentions as (entity id, start, end), in text order."""
        return self.grouped_in("SELECT doc_id, entity_id, start, end FROM mentions WHERE doc_id IN ({ids})"
                               " ORDER BY doc_id, start", doc_ids)

    def documents_info(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Provenance of documents: source, URL, title, outlet, date, snapshot and text hashes,
        syndication group, and the snapshot's content type."""
        return {r["doc_id"]: dict(r) for r in self.rows_in(
            """SELECT d.doc_id, d.source, d.url, d.title, d.site, d.published, d.kind, d.raw_sha256,
                      d.content_sha256, COALESCE(d.group_id, d.doc_id) AS group_id, s.content_type
               FROM documents d LEFT JOIN snapshots s ON s.sha256 = d.raw_sha256
               WHERE d.doc_id IN ({ids})""", doc_ids)}

    def document_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The stored extracted text of documents (claim offsets point into it)."""
        sql = "SELECT doc_id, text FROM documents WHERE doc_id IN ({ids})"
        return {r[0]: r[1] for r in self.rows_in(sql, doc_ids)}

    def claim_entity_ids(self, claim_ids: Sequence[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for cid, eid in self.rows_in("SELECT claim_id, entity_id FROM claim_entities WHERE claim_id IN ({ids})",
                                      claim_ids):
            out.setdefault(cid, set()).add(eid)
        return out

    def keyword_search(self, terms: Sequence[str], limit: int,
                       candidates: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """BM25 over claim texts (FTS5, Porter stemming): claims matching any term, best first, as
        (claim_id, -bm25). ``terms`` must be plain word characters; each is quoted, so no FTS syntax
        (NEAR, *, column filters, quotes) can reach the query."""
        if not terms:
            return []
        conn = self._fts_connection()
        match = " OR ".join(f'"{t}"' for t in terms)
        sql = "SELECT claim_id, bm25(claims_fts) AS rank FROM claims_fts WHERE claims_fts MATCH ?"
        params: list[Any] = [match]
        if candidates is not None:
            sql += " AND claim_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(candidates)))
        sql += " ORDER BY rank LIMIT ?"
        params.append(limit)
        return [(r[0], -float(r[1])) for r in conn.execute(sql, params)]

    def claims_fingerprint(self) -> str:
        """Changes whenever a claim is added, removed or rewritten: the store's id and its claims
        version (kept by triggers, so every writer bumps it). Keys the keyword index."""
        return claims_fingerprint(self.conn)

    def rows_in(self, sql: str, ids: Sequence[str]) -> Iterator[sqlite3.Row]:
        """Run ``sql`` whose ``{ids}`` is an IN list, in chunks under SQLite's variable limit."""
        for chunk in _chunks(ids, 900):
            yield from self.conn.execute(sql.format(ids=",".join("?" * len(chunk))), chunk)  # placeholders only

    def grouped_in(self, sql: str, ids: Sequence[str]) -> dict[str, list[Any]]:
        """``rows_in`` grouped by the first column, in row order: its key -> the rest of each row
        (the value alone when there is one more column, else a tuple)."""
        out: dict[str, list[Any]] = {}
        for r in self.rows_in(sql, ids):
            out.setdefault(r[0], []).append(r[1] if len(r) == 2 else tuple(r[1:]))
        return out

    def has_claims(self, entity_ids: Sequence[str]) -> bool:
        """Whether any stored claim is tagged with one of the entities."""
        return any(True for _ in self.rows_in(
            "SELECT 1 FROM claim_entities WHERE entity_id IN ({ids}) LIMIT 1", entity_ids))

    def claim_docs(self, claim_ids: Sequence[str]) -> dict[str, str]:
        """claim id -> document id."""
        return {r[0]: r[1] for r in self.rows_in("SELECT claim_id, doc_id FROM claims WHERE claim_id IN ({ids})",
                                                  claim_ids)}

    def claim_texts(self, claim_ids: Sequence[str]) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.rows_in("SELECT claim_id, text FROM claims WHERE claim_id IN ({ids})",
                                                    claim_ids)]

    def _fts_connection(self) -> sqlite3.Connection:
        """A second, read-only connection for keyword search, so search can run BM25 in a worker
        thread while the main thread embeds the query (SQLite releases the GIL while it works)."""
        if self._fts_conn is None:
            self._fts_conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0,
                                             check_same_thread=False)
        return self._fts_conn

    def embeddings(self, claim_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        ids: list[str] = []
        blobs: list[bytes] = []
        sql = "SELECT claim_id, embedding FROM claims WHERE claim_id IN ({ids}) AND embedding IS NOT NULL"
        for r in self.rows_in(sql, claim_ids):
            ids.append(r[0])
            blobs.append(r[1])
        if not blobs:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)

    def claim_rows(self, claim_ids: Sequence[str]) -> dict[str, ClaimRow]:
        ents: dict[str, dict[str, list[str]]] = {}
        for r in self.rows_in(
                """SELECT ce.claim_id, e.type, e.canonical FROM claim_entities ce
                   JOIN entities e USING (entity_id) WHERE ce.claim_id IN ({ids}) ORDER BY e.canonical""", claim_ids):
            ents.setdefault(r[0], {}).setdefault(r[1], []).append(r[2])
        return {
            r["claim_id"]: ClaimRow(
                claim_id=r["claim_id"], text=r["text"], doc_id=r["doc_id"], source=r["source"], url=r["url"],
                title=r["title"], published=r["published"], start=r["start"], end=r["end"],
                context=r["context"], entities=ents.get(r["claim_id"], {}), stance=r["stance"],
            )
            for r in self.rows_in(
                """SELECT c.claim_id, c.text, c.doc_id, c.start, c.end, c.context_start, c.context_end, c.stance,
                          d.source, d.url, d.title, d.published,
                          substr(d.text, c.context_start + 1, c.context_end - c.context_start) AS context
                   FROM claims c JOIN documents d USING (doc_id) WHERE c.claim_id IN ({ids})""", claim_ids)
        }

    # -- runs --------------------------------------------------------------------------------

    def record_run(self, run_id: str, started_at: str, finished_at: str, report: dict[str, Any]) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO runs(run_id, started_at, finished_at, summary) VALUES (?,?,?,?)",
                      (run_id, started_at, finished_at, json.dumps(report)))
            c.executemany(
                "INSERT INTO run_sources(run_id, source, status, reason, detail, doc_id) VALUES (?,?,?,?,?,?)",
                [(run_id, s["source"], s["status"], s.get("reason"), s.get("detail"), s.get("doc_id"))
                 for s in report.get("sources", [])],
            )


def claims_fingerprint(conn: sqlite3.Connection) -> str:
    """``Store.claims_fingerprint`` on any connection to a store (a read snapshot's own, say)."""
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('store_id', 'claims_version')").fetchall())
    return f"{rows.get('store_id', 'store')}-{rows.get('claims_version', '0')}"


def _date_clause(since: str | None, until: str | None) -> tuple[str, list[str]]:
    """SQL on ``documents d`` keeping documents published in [since, until]; a bound excludes
    undated documents."""
    clause, values = "", list[str]()
    if since:
        clause, values = clause + " AND d.published >= ?", [*values, since]
    if until:
        clause, values = clause + " AND d.published <= ?", [*values, until]
    return clause, values


def _source_clause(src: str) -> tuple[str, list[str]]:
    """SQL predicate on ``documents d`` for a source filter: path or URL as given, outlet name, or
    URL host ("hrw.org" matches https://www.hrw.org/...), any case."""
    host = src.lower().removeprefix("www.")
    return ("(d.source = ? OR d.url = ? OR d.site = ? COLLATE NOCASE OR d.locator = ?"
            " OR lower(d.url) LIKE ? OR lower(d.url) LIKE ?)",
            [src, src, src, src, f"%://{host}/%", f"%://www.{host}/%"])


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
