"""The vector index: claim embeddings in a chromadb PersistentClient collection (cosine space).

Derived data: rebuilt from the canonical store by ``rebuild`` (``dualuse reindex``), kept in step by
``sync`` (pending claims in, tombstoned claims out). We always pass our own embeddings and
``embedding_function=None``, so chromadb never loads (or downloads) its default model.

chromadb's PersistentClient is not safe for several writer processes and a second process sees
stale vectors, so the CLI opens it per command and only the process that writes the store writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import StoreError
from pipeline.settings import apply_offline_env
from pipeline.store import Store

COLLECTION = "claims"
EF_SEARCH = 1000
"""HNSW candidate list at query time. chromadb's default (100) found 0.78-0.83 of the exact top 10
on the bench's 100,000 real sentence embeddings (6,000 news sentences among templated ones: news
queries only 0.67); 250 gave 0.90, 500 0.95, 1000 0.974 (news 0.95) at an HNSW query p50 of ~13 ms.
Mutable on an existing collection (the build-time graph settings are not)."""


class VectorIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._client: Any = None
        self._collection: Any = None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            apply_offline_env()
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            if not self.path.exists():
                # chromadb caches one client per path for the process; if the folder was removed
                # (to rebuild it), that cached client points at deleted files.
                from chromadb.api.client import SharedSystemClient  # type: ignore[attr-defined]  # not re-exported

                SharedSystemClient.clear_system_cache()
            try:
                self._client = chromadb.PersistentClient(
                    path=str(self.path),
                    settings=ChromaSettings(anonymized_telemetry=False, allow_reset=True),
                )
                self._collection = self._open()
            except Exception as exc:
                raise StoreError(f"cannot open the vector index at {self.path}: {exc}",
                                 hint="run 'dualuse reindex' to rebuild it from the store") from exc
        return self._collection

    def _open(self) -> Any:
        collection = self._client.get_or_create_collection(
            COLLECTION, embedding_function=None, configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}},
        )
        hnsw = (collection.configuration or {}).get("hnsw") or {}
        if hnsw.get("ef_search") != EF_SEARCH:  # an index created before; applies from its next load
            collection.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})
        return collection

    def count(self) -> int:
        return int(self.collection.count())

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        if ids:
            self.collection.upsert(ids=ids, embeddings=vectors, metadatas=metadatas)

    def delete(self, ids: list[str]) -> None:
        if ids:
            self.collection.delete(ids=ids)

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Nearest claims by cosine similarity (1 - cosine distance), best first."""
        n = min(n, self.count())
        if n <= 0:
            return []
        result = self.collection.query(query_embeddings=[vector], n_results=n, include=["distances"])
        return [(cid, 1.0 - float(d)) for cid, d in zip(result["ids"][0], result["distances"][0], strict=True)]

    def reset(self) -> None:
        _ = self.collection
        self._client.delete_collection(COLLECTION)
        self._collection = self._open()


def sync(store: Store, index: VectorIndex) -> int:
    """Bring the index in step with the store; returns the number of claims written."""
    dead = store.tombstones()
    if dead:
        index.delete(dead)
        store.clear_tombstones(dead)
    written = 0
    for batch in store.pending():
        ids = [cid for cid, _, _ in batch]
        vectors = np.frombuffer(b"".join(blob for _, blob, _ in batch), dtype=np.float32).reshape(len(batch), -1)
        index.upsert(ids, vectors, [meta for _, _, meta in batch])
        store.mark_indexed(ids)
        written += len(ids)
    return written


def rebuild(store: Store, index: VectorIndex) -> int:
    index.reset()
    store.mark_all_unindexed()
    return sync(store, index)
