"""What the web process reads with: one store connection, a vector index kept fresh against writers
in other processes, and the models, behind one lock.

One writer, fresh reads. The CLI (``dualuse ingest``, ``crawl``) writes the SQLite store and the
chromadb index from its own process. SQLite readers see every commit; chromadb's PersistentClient
does not: it loads its HNSW index once per process and later queries miss what another process
added. So before every request the web process checks the store cheaply (``PRAGMA data_version``,
which changes only when another connection committed, then the claims' count and largest rowid)
and, when claims changed since the index was opened:

* few new claims (at most ``REOPEN_AFTER``): they are scored exactly from the store's embeddings
  (the system of record) and merged with the index's answer, so dense search sees them at once;
* more (new and removed claims together): the chromadb client for the path is dropped from
  chromadb's per-process cache and opened again, which loads the index as it is on disk now.

Claims the stale index returns that the store no longer has are dropped by search itself (it reads
every hit's row from the store).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.index import VectorIndex
from pipeline.settings import Settings
from pipeline.store import Store

if TYPE_CHECKING:
    from pipeline.embed import Embedder
    from pipeline.ingest import Pipeline
    from pipeline.kb import KnowledgeBase
    from pipeline.tag import Tagger

REOPEN_AFTER = 2000
"""New claims scored exactly beside a stale index before it is reopened instead."""

Stamp = tuple[int, int]  # (claims count, largest claims rowid)


def claims_stamp(store: Store) -> Stamp:
    row = store.conn.execute("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM claims").fetchone()
    return int(row[0]), int(row[1])


class FreshIndex(VectorIndex):
    """A ``VectorIndex`` that answers for claims written by other processes since it was opened."""

    def __init__(self, path: Path, reopen_after: int = REOPEN_AFTER) -> None:
        super().__init__(path)
        self.reopen_after = reopen_after
        self.opened: Stamp | None = None  # the store's claims when the index was (re)opened
        self.unindexed: list[str] = []  # claims the store had but the index did not, at opening
        self.delta: list[str] = []  # claims scored exactly beside the index
        self.reopens = 0
        self._data_version: int | None = None
        self._store: Store | None = None

    def refresh(self, store: Store) -> None:
        """Bring what ``query`` sees up to the store's current claims (cheap when nothing changed)."""
        version = int(store.conn.execute("PRAGMA data_version").fetchone()[0])
        if self.opened is not None and version == self._data_version:
            return
        self._data_version = version
        stamp = claims_stamp(store)
        if self.opened is None:
            self._reopen(store, stamp, drop_cache=False)
            return
        if stamp == self.opened:
            return
        count, rowid = self.opened
        added = [r[0] for r in store.conn.execute("SELECT claim_id FROM claims WHERE rowid > ?", (rowid,))]
        removed = count + len(added) - stamp[0]  # claims there at opening that are gone now
        pending = [r[0] for r in store.conn.execute("SELECT claim_id FROM claims WHERE indexed = 0")]
        delta = list(dict.fromkeys([*self.unindexed, *added, *pending]))
        if len(delta) + max(removed, 0) > self.reopen_after:
            self._reopen(store, stamp, drop_cache=True)
        else:
            self.delta = delta

    def _reopen(self, store: Store, stamp: Stamp, *, drop_cache: bool) -> None:
        # The stamp is taken before the index loads: a claim committed in between is scored exactly
        # as well as found by the index, and query() keeps one score per claim.
        self.opened = stamp
        self.unindexed = [r[0] for r in store.conn.execute("SELECT claim_id FROM claims WHERE indexed = 0")]
        self.delta = list(self.unindexed)
        if drop_cache:
            drop_cached_client(self.path)
            self.reopens += 1
        self._client = None
        self._collection = None
        self._store = store

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        found = dict(super().query(vector, n)) if n > 0 else {}
        if self.delta and self._store is not None:
            ids, matrix = self._store.embeddings(self.delta)
            if ids:
                found.update(zip(ids, (float(s) for s in matrix @ vector), strict=True))
        return sorted(found.items(), key=lambda item: -item[1])[:n]


def drop_cached_client(path: Path) -> None:
    """Forget chromadb's per-process client for ``path`` so the next one loads from disk. Clients
    already made keep working on the system they hold; it is not stopped."""
    from chromadb.api.shared_system_client import SharedSystemClient

    cache: dict[str, Any] = SharedSystemClient._identifier_to_system
    for key in [k for k in cache if Path(k) == path]:
        cache.pop(key, None)


class Engine:
    """The web process's components for one data home. Every request holds ``lock`` while it reads:
    the store connection, the index and the models are used by one request at a time."""

    def __init__(self, settings: Settings, *, pipeline: Pipeline | None = None) -> None:
        self.settings = settings
        settings.ensure_home()
        self._pipeline = pipeline
        self._tagger: Tagger | None = pipeline.tagger if pipeline is not None else None
        self._embedder: Embedder | None = pipeline.embedder if pipeline is not None else None
        self._kb: KnowledgeBase | None = None
        self.store = Store(settings.db_path)
        self.index = FreshIndex(settings.chroma_path)
        self.lock = threading.RLock()
        from pipeline.web.jobs import Jobs

        self.jobs = Jobs(settings, self._make_pipeline)

    def _make_pipeline(self) -> Pipeline:
        """The add-coverage worker's components: models of its own (spaCy pipelines are not shared
        between threads), or the injected pipeline's (tests, which load the models once)."""
        from pipeline.ingest import Pipeline

        if self._pipeline is not None:
            return Pipeline(self.settings, tagger=self._pipeline.tagger, embedder=self._pipeline.embedder)
        return Pipeline(self.settings)

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            from pipeline.tag import Tagger

            self._tagger = Tagger(self.settings)
        return self._tagger

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from pipeline.embed import Embedder

            self._embedder = Embedder(self.settings)
        return self._embedder

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            from pipeline.kb import load_kb

            self._kb = load_kb(self.settings.kb_extra)
        return self._kb

    def warm_up(self) -> None:
        self.tagger.warm_up()
        self.embedder.warm_up()

    @contextmanager
    def reading(self) -> Iterator[Engine]:
        with self.lock:
            self.index.refresh(self.store)
            yield self

    def close(self) -> None:
        self.jobs.close()
        with self.lock:
            self.store.close()
