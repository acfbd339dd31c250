"""What the crawler remembers between runs, in the canonical store: per source its feed's
ETag/Last-Modified and last outcome; per item (normalised URL) when it was first seen, its last
fetch, status and validators. Items are recorded as ``pending`` as soon as they are discovered (one
transaction), so a crawl killed at any point resumes with exactly the items it had not finished.
"""

from __future__ import annotations

from pipeline.fetch import Validators
from pipeline.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS crawl_sources (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_run_at TEXT,
    last_status TEXT,
    last_detail TEXT
);
CREATE TABLE IF NOT EXISTS crawl_items (
    url TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_fetched TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    doc_id TEXT,
    etag TEXT,
    last_modified TEXT
);
CREATE INDEX IF NOT EXISTS crawl_items_todo ON crawl_items(source, status);
"""
DONE = ("added", "updated", "unchanged", "skipped")
"""Item statuses that need no further fetch (a page source is re-checked every run anyway)."""


class CrawlState:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.conn.executescript(SCHEMA)

    def source_validators(self, name: str) -> Validators:
        row = self.store.conn.execute("SELECT etag, last_modified FROM crawl_sources WHERE name = ?",
                                      (name,)).fetchone()
        return Validators(row[0], row[1]) if row else Validators()

    def record_source(self, name: str, url: str, now: str, status: str, detail: str | None,
                      validators: Validators | None = None) -> None:
        v = validators or Validators()
        self.store.conn.execute(
            """INSERT INTO crawl_sources(name, url, etag, last_modified, last_run_at, last_status, last_detail)
               VALUES (?,?,?,?,?,?,?)
               ON CONFLICT(name) DO UPDATE SET url = excluded.url,
                   etag = COALESCE(excluded.etag, etag),
                   last_modified = COALESCE(excluded.last_modified, last_modified),
                   last_run_at = excluded.last_run_at, last_status = excluded.last_status,
                   last_detail = excluded.last_detail""",
            (name, url, v.etag, v.last_modified, now, status, detail))

    def discover(self, source: str, urls: list[str], now: str) -> None:
        """Record newly seen items as pending (known ones are left as they are)."""
        with self.store.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO crawl_items(url, source, first_seen, status) VALUES (?,?,?,'pending')",
                          [(u, source, now) for u in urls])

    def todo(self, urls: list[str], max_attempts: int) -> list[str]:
        """Of ``urls``, those not yet done: pending, or failed fewer than ``max_attempts`` times."""
        if not urls:
            return []
        status = {r[0]: (r[1], r[2]) for r in self.store.rows_in(
            "SELECT url, status, attempts FROM crawl_items WHERE url IN ({ids})", urls)}
        out = []
        for u in urls:
            st, attempts = status.get(u, ("pending", 0))
            if st == "pending" or (st == "failed" and attempts < max_attempts):
                out.append(u)
        return out

    def item_validators(self, url: str) -> Validators:
        row = self.store.conn.execute("SELECT etag, last_modified FROM crawl_items WHERE url = ?", (url,)).fetchone()
        return Validators(row[0], row[1]) if row else Validators()

    def record_item(self, url: str, source: str, now: str, status: str, reason: str | None, doc_id: str | None,
                    validators: Validators | None = None) -> None:
        v = validators or Validators()
        self.store.conn.execute(
            """INSERT INTO crawl_items(url, source, first_seen, last_fetched, status, reason, attempts, doc_id, etag,
                   last_modified) VALUES (?,?,?,?,?,?,1,?,?,?)
               ON CONFLICT(url) DO UPDATE SET last_fetched = excluded.last_fetched, status = excluded.status,
                   reason = excluded.reason, attempts = attempts + 1, doc_id = COALESCE(excluded.doc_id, doc_id),
                   etag = COALESCE(excluded.etag, etag),
                   last_modified = COALESCE(excluded.last_modified, last_modified)""",
            (url, source, now, now, status, reason, doc_id, v.etag, v.last_modified))

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.store.conn.execute("SELECT status, COUNT(*) FROM crawl_items GROUP BY status")}
