"""The keyword index: FTS5's BM25 ranking of claims, precomputed as an in-memory sparse index (bm25s).

SQLite FTS5 (``claims_fts``, ``Store.keyword_search``) stays the system of record for keyword search
and its always-correct fallback. Its OR-queries are slow where claims share most of their words:
``bm25()`` runs for every matching row, and a keyword search over 100,000 claims took 36-46 ms at the
median and 86-106 ms at p95 (``dualuse bench``, five runs). This index holds every claim's BM25 score
for every word it contains, as a sparse matrix of columns, one per word; a query adds up a few
columns with numpy (3 ms at the median, 4-9 ms at p95, the rest of search included).

The same scores as FTS5, by construction:

* words: read from FTS5's own index (the ``fts5vocab`` instance table), so the tokens, their counts
  and each claim's length are what FTS5's ``porter unicode61`` tokenizer made of it (lower case,
  diacritics removed, Porter stems of three letters and up, no stopwords). Query terms go through
  the same tokenizer (an in-memory FTS5 table). A term FTS5 splits into several tokens
  (``pff_browns``) is a phrase there, which a bag of words cannot answer: that query goes to FTS5.
* scores: FTS5's ``bm25()``: k1 = 1.2, b = 0.75, idf = log((N - n + 0.5) / (n + 0.5)) and 1e-6
  where that is not positive, times tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / mean length)),
  N and the mean length over every row; a term given twice counts twice, as two OR-ed phrases do.
  No bm25s method has that idf (``robertson``, the nearest, clips it to 0, which drops claims that
  match only words in more than half of the claims from the ranking, where FTS5 keeps them last),
  and bm25s's own indexer counts words document by document in Python (3.8 s for 100,000 claims
  given as token lists, against 0.8-1.5 s for this whole build); so the matrix is computed here
  with numpy and handed to bm25s, which saves it, memory-maps it and sums its columns.
  Ties are broken by claim order (FTS5 leaves their order undefined).

Built by writers, never by search: at the end of an ingest (after ``repair_index``), of a crawl run,
and by ``dualuse reindex``. It is written to a temporary folder and renamed to
``<home>/keyword/<fingerprint>/``, where the fingerprint is the store's id and its claims version
(``Store.claims_fingerprint``, bumped by triggers on every claim write), with the SHA-256 of every
file. Search loads it lazily, once per process and per version (memory-mapped), and uses it only
when its fingerprint is the store's current one: a writer killed before rebuilding, a damaged file
or a build that failed only mean FTS5 until the next write or ``dualuse reindex``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.store import FTS_TOKENIZE, Store, claims_fingerprint

log = logging.getLogger("dualuse.keyword")

K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6
"""FTS5's constants (``fts5_aux.c``: ``bm25()``)."""
FORMAT = 1
META = "meta.json"
CLAIMS = "claims.json"
TMP_PREFIX = ".tmp-"
ABANDONED_AFTER_S = 3600.0
"""A temporary folder this old was left by a writer that was killed: removed by the next writer."""
LOADED_MAX = 8
"""Data homes whose index one process keeps loaded (the tests open many)."""


class KeywordIndexError(Exception):
    """The FTS5 index could not be read as expected; the build is abandoned (FTS5 serves search)."""


class KeywordIndex:
    """BM25 scores of one version of the store's claims; rows are claims in FTS5 rowid order."""

    def __init__(self, fingerprint: str, claim_ids: list[str], bm25: Any) -> None:
        self.fingerprint = fingerprint
        self.claim_ids = claim_ids
        self.bm25 = bm25
        self._rows: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.claim_ids)

    @property
    def vocab(self) -> dict[str, int]:
        vocab: dict[str, int] = self.bm25.vocab_dict
        return vocab

    def rank(self, token_ids: Sequence[int], limit: int,
             candidates: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Claims holding any of the tokens, best first, as (claim_id, FTS5 score): only
        ``candidates`` when given (IDF and lengths stay the whole store's, as with FTS5)."""
        if not token_ids or not self.claim_ids or limit <= 0:
            return []
        scores: np.ndarray = self.bm25.get_scores_from_ids(list(token_ids))
        if candidates is None:
            top = _top(scores, limit)
        else:
            if self._rows is None:
                self._rows = {cid: i for i, cid in enumerate(self.claim_ids)}
            rows = self._rows
            wanted = np.unique(np.fromiter((rows[c] for c in candidates if c in rows), dtype=np.int64))
            top = wanted[_top(scores[wanted], limit)]
        return [(self.claim_ids[int(i)], float(scores[i])) for i in top]


def _top(scores: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the ``limit`` highest positive scores, best first, ties in position order."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > limit:
        values = scores[positive]
        cut = np.partition(values, len(values) - limit)[len(values) - limit]  # the limit-th best
        above = positive[values > cut]
        positive = np.concatenate([above, positive[values == cut][: limit - len(above)]])
    return positive[np.lexsort((positive, -scores[positive]))]


# -- building ---------------------------------------------------------------------------------


def build(db_path: Path) -> KeywordIndex:
    """The index of the claims as FTS5 holds them now, read in one snapshot with its fingerprint."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.keyword_terms USING fts5vocab(main, claims_fts, row)")
        conn.execute("CREATE VIRTUAL TABLE temp.keyword_instances USING fts5vocab(main, claims_fts, instance)")
        conn.execute("BEGIN")
        try:
            fingerprint = claims_fingerprint(conn)
            rows = conn.execute("SELECT rowid, claim_id FROM claims_fts ORDER BY rowid").fetchall()
            vocab_rows = conn.execute("SELECT term, cnt FROM temp.keyword_terms").fetchall()
            # every token occurrence's row, term by term in the order above and rowid order within
            # a term; one string from SQLite is ~4x faster than a Python row per occurrence
            instances = conn.execute("SELECT group_concat(doc) FROM temp.keyword_instances").fetchone()[0]
        finally:
            conn.execute("COMMIT")
    finally:
        conn.close()
    rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    counts = np.fromiter((r[1] for r in vocab_rows), dtype=np.int64, count=len(vocab_rows))
    docs = np.fromstring(instances, dtype=np.int64, sep=",") if instances else np.zeros(0, dtype=np.int64)
    data, indices, indptr = bm25_matrix(rowids, counts, docs)
    return _index(fingerprint, [str(r[1]) for r in rows], [str(r[0]) for r in vocab_rows], data, indices, indptr)


def bm25_matrix(rowids: np.ndarray, counts: np.ndarray,
                docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FTS5's BM25 score of every (term, claim) pair as a CSC matrix (claims x terms): ``rowids``
    every row's rowid ascending, ``counts`` each term's occurrences, ``docs`` the rowid of every
    occurrence grouped by term (in ``counts``' order) and ascending within a term."""
    n_rows, n_terms = len(rowids), len(counts)
    if int(counts.sum()) != len(docs):
        raise KeywordIndexError(f"FTS5 lists {len(docs)} token occurrences, its vocabulary {int(counts.sum())}")
    row = np.searchsorted(rowids, docs)
    if len(docs) and (row.max() >= n_rows or np.any(rowids[row] != docs)):
        raise KeywordIndexError("FTS5 lists an occurrence in a row it does not have")
    term = np.repeat(np.arange(n_terms, dtype=np.int64), counts)
    key = term * max(n_rows, 1) + row
    if np.any(key[1:] < key[:-1]):
        raise KeywordIndexError("FTS5 listed occurrences out of term and row order")
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    tf = np.diff(np.r_[first, len(key)]).astype(np.float64)
    pair_term, pair_row = term[first], row[first]
    length = np.bincount(row, minlength=n_rows).astype(np.float64)
    mean_length = len(docs) / n_rows if n_rows else 1.0
    df = np.bincount(pair_term, minlength=n_terms).astype(np.float64)
    idf = np.log((n_rows - df + 0.5) / (df + 0.5))
    idf[idf <= 0] = IDF_FLOOR
    data = idf[pair_term] * (tf * (K1 + 1)) / (tf + K1 * (1 - B + B * length[pair_row] / mean_length))
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_term, minlength=n_terms), out=indptr[1:])
    return data, pair_row.astype(np.int32), indptr


def _index(fingerprint: str, claim_ids: list[str], terms: list[str], data: np.ndarray, indices: np.ndarray,
           indptr: np.ndarray) -> KeywordIndex:
    import bm25s

    bm25 = bm25s.BM25(k1=K1, b=B, method="robertson", dtype="float64", int_dtype="int32")
    bm25.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(claim_ids)}
    bm25.vocab_dict = {t: i for i, t in enumerate(terms)}
    bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
    bm25.nonoccurrence_array = None
    return KeywordIndex(fingerprint, claim_ids, bm25)


def publish(index: KeywordIndex, folder: Path) -> Path:
    """Write the index to a temporary folder beside its place and rename it into place
    (``folder/<fingerprint>``): readers see a whole index or none."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    tmp.mkdir()  # the data home's usual permissions (tempfile.mkdtemp's are owner-only)
    target = folder / index.fingerprint
    try:
        index.bm25.save(str(tmp), show_progress=False)
        (tmp / CLAIMS).write_text(json.dumps(index.claim_ids), encoding="utf-8")
        meta = {"format": FORMAT, "fingerprint": index.fingerprint, "claims": len(index),
                "terms": len(index.vocab), "scoring": f"FTS5 bm25(), k1={K1}, b={B}, idf floor {IDF_FLOOR}",
                "tokenize": FTS_TOKENIZE,
                "sha256": {p.name: _sha256(p) for p in sorted(tmp.iterdir())}}
        (tmp / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if target.exists():  # the same version built before (damaged, or by another writer just now)
            shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prune(folder: Path, keep: str) -> None:
    """Remove every version but ``keep``, and temporary folders of writers killed long ago. A
    process still reading a removed version keeps its memory map (the files live until unmapped)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name == keep:
            continue
        if entry.name.startswith(TMP_PREFIX):
            try:
                if time.time() - entry.stat().st_mtime < ABANDONED_AFTER_S:
                    continue  # another writer may be writing it now
            except OSError:
                continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def refresh(store: Store, folder: Path, *, force: bool = False) -> KeywordIndex | None:
    """For writers: build and publish the index unless the one for the store's current claims is
    there and sound (``force``: always). Returns the index built, or None when it was current."""
    if not force and current(store, folder) is not None:
        return None
    index = build(store.path)
    publish(index, folder)
    prune(folder, keep=store.claims_fingerprint())
    _remember(folder, index)
    return index


# -- reading ----------------------------------------------------------------------------------


def load(folder: Path, fingerprint: str) -> KeywordIndex | None:
    """The persisted index of that version, memory-mapped; None when there is none or it fails
    its checks (every file's SHA-256 and the matrix's shape), with a warning for the latter."""
    path = folder / fingerprint
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("keyword index %s unreadable (%s); keyword search uses FTS5", path, exc)
        return None
    try:
        problem = _check(path, meta, fingerprint)
        if problem is None:
            import bm25s

            bm25 = bm25s.BM25.load(str(path), mmap=True, show_progress=False, verbosity=0)
            claim_ids = json.loads((path / CLAIMS).read_text(encoding="utf-8"))
            scores = bm25.scores
            if not (scores["num_docs"] == len(claim_ids) == meta["claims"]
                    and len(scores["indptr"]) == len(bm25.vocab_dict) + 1 == meta["terms"] + 1
                    and int(scores["indptr"][-1]) == len(scores["data"]) == len(scores["indices"])):
                problem = "its parts do not fit together"
            else:
                return KeywordIndex(fingerprint, [str(c) for c in claim_ids], bm25)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    log.warning("keyword index %s damaged (%s); keyword search uses FTS5 until 'dualuse reindex' or the next "
                "ingest", path, problem)
    return None


def _check(path: Path, meta: Any, fingerprint: str) -> str | None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
        return "written by another version or for other claims"
    files: dict[str, str] = meta.get("sha256") or {}
    for name in ("params.index.json", "vocab.index.json", "data.csc.index.npy", "indices.csc.index.npy",
                 "indptr.csc.index.npy", CLAIMS):
        if name not in files:
            return f"{name} not listed"
    for name, digest in files.items():
        if _sha256(path / name) != digest:
            return f"{name} does not match its checksum"
    return None


_loaded: dict[Path, KeywordIndex] = {}
_failed: dict[Path, tuple[str, int, int, int]] = {}  # folder -> the meta file that failed to load
_lock = threading.Lock()


def _remember(folder: Path, index: KeywordIndex) -> None:
    with _lock:
        _loaded.pop(folder, None)
        _loaded[folder] = index
        _failed.pop(folder, None)
        while len(_loaded) > LOADED_MAX:
            _loaded.pop(next(iter(_loaded)))


def current(store: Store, folder: Path) -> KeywordIndex | None:
    """The index of the store's claims as they are now: the one this process holds, else loaded
    from ``folder`` (once per version); None when there is none for them (FTS5 then)."""
    fingerprint = store.claims_fingerprint()
    with _lock:
        held = _loaded.get(folder)
        if held is not None and held.fingerprint == fingerprint:
            return held
        _loaded.pop(folder, None)  # another version: let its memory go
        try:
            st = (folder / fingerprint / META).stat()
        except OSError:
            return None  # not built for these claims (yet)
        stamp = (fingerprint, st.st_ino, st.st_mtime_ns, st.st_size)
        if _failed.get(folder) == stamp:
            return None  # this copy failed its checks already: no warning per search
        index = load(folder, fingerprint)
        if index is None:
            _failed[folder] = stamp
            return None
    _remember(folder, index)
    return index


def forget() -> None:
    """Drop every index this process holds (the bench times a cold load with it)."""
    with _lock:
        _loaded.clear()
        _failed.clear()


class QueryTokenizer:
    """FTS5's own tokenizer for query terms: terms go into an in-memory FTS5 table with the store's
    ``tokenize`` option and come back from its ``fts5vocab`` instance table. Remembered per term."""

    CACHE_MAX = 100_000

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.execute(f"CREATE VIRTUAL TABLE q USING fts5(t, tokenize='{FTS_TOKENIZE}')")
        self._conn.execute("CREATE VIRTUAL TABLE q_tokens USING fts5vocab(q, instance)")
        self._cache: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def tokens(self, terms: Sequence[str]) -> list[tuple[str, ...]]:
        """The tokens FTS5 makes of each term (none, one, or several: a phrase)."""
        with self._lock:
            todo = [t for t in dict.fromkeys(terms) if t not in self._cache]
            if todo:
                found: list[list[str]] = [[] for _ in todo]
                self._conn.executemany("INSERT INTO q(rowid, t) VALUES (?, ?)", enumerate(todo))
                for doc, token in self._conn.execute("SELECT doc, term FROM q_tokens ORDER BY doc, offset"):
                    found[doc].append(token)
                self._conn.execute("DELETE FROM q")
                if len(self._cache) + len(todo) > self.CACHE_MAX:
                    self._cache.clear()
                self._cache.update((t, tuple(f)) for t, f in zip(todo, found, strict=True))
            return [self._cache[t] for t in terms]


_tokenizer: QueryTokenizer | None = None


def query_tokens(terms: Sequence[str]) -> list[tuple[str, ...]]:
    global _tokenizer
    if _tokenizer is None:
        _tokenizer = QueryTokenizer()
    return _tokenizer.tokens(terms)


def ranking(store: Store, folder: Path, terms: Sequence[str], limit: int,
            candidates: Sequence[str] | None = None) -> list[tuple[str, float]] | None:
    """What ``Store.keyword_search`` would return (claims matching any term, best first, as
    (claim_id, BM25 score)), from the index; None when the index cannot answer (none current for
    the store's claims, or a term FTS5 reads as a phrase): ask FTS5 then."""
    if not terms:
        return []
    index = current(store, folder)
    if index is None:
        return None
    tokens = query_tokens(terms)
    if any(len(t) > 1 for t in tokens):
        return None
    vocab = index.vocab
    return index.rank([vocab[t[0]] for t in tokens if t and t[0] in vocab], limit, candidates)
