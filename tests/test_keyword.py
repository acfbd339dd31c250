"""The keyword index (pipeline/keyword.py): FTS5's ranking exactly, never stale, safe to lose."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import keyword
from pipeline.settings import PROJECT_ROOT
from pipeline.store import FTS_TOKENIZE, SCHEMA, Store

# Written for these tests: repeated words (tf > 1), long and short claims, one stem in several forms,
# words in more than half of the claims (FTS5 floors their idf), two-letter words (no stemming),
# diacritics, digits.
TEXTS = [
    "Police bought DNA sequencers from the vendor in 2019.",
    "The police said the sequencing kits were used on residents.",
    "Police police police: the word repeats in this claim about police.",
    "A spokesperson for the vendor declined to comment on the police contract.",
    "Researchers said the spyware was used on journalists in the region.",
    "The Röntgen scanners reached the border police, records show.",
    "Police in the province bought 40 sequencers and 3 scanners through a reseller, procurement "
    "records show, in a deal that lawmakers in two countries have asked the police to explain.",
    "US police used the kits.",
    "The bureau said it is reviewing how the police used the sequencer.",
    "Lawmakers asked the vendor about its due-diligence checks.",
    "Police officers were trained by the vendor.",
    "The police, the vendor said, never paid.",
]
QUERIES = [
    ["police"],  # in more than half of the claims: idf floored, every match still ranked
    ["sequencers"],
    ["sequencers", "sequencing"],  # one stem twice: FTS5 counts each OR-ed phrase
    ["police", "bought", "dna", "sequencers"],
    ["rontgen", "scanners"],
    ["röntgen"],
    ["us", "kits"],
    ["2019", "40"],
    ["spyware", "journalists", "nothing"],
    ["unknownword"],
]


def add_claims(path: Path, texts: list[str], doc: str = "d") -> list[str]:
    """Claims written straight to the store (as the bench does), through whatever connection."""
    store = Store(path)
    ids = []
    with store.transaction() as c:
        c.execute("""INSERT OR IGNORE INTO documents(doc_id, source, locator, kind, text, content_sha256,
                     raw_sha256, pipeline_version, ingested_at, updated_at) VALUES (?, ?, ?, 'text', '', '', '',
                     'test', '', '')""", (doc, f"{doc}.txt", doc))
        first = c.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
        for i, text in enumerate(texts, first):
            cid = f"{doc}-{i:03d}"
            c.execute("""INSERT INTO claims(claim_id, doc_id, seq, text, start, end, context_start, context_end)
                         VALUES (?, ?, ?, ?, 0, 0, 0, 0)""", (cid, doc, i, text))
            c.execute("INSERT INTO claims_fts(claim_id, text) VALUES (?, ?)", (cid, text))
            ids.append(cid)
    store.close()
    return ids


@pytest.fixture
def small(tmp_path: Path):
    path = tmp_path / "store.sqlite"
    add_claims(path, TEXTS)
    store = Store(path)
    folder = tmp_path / "keyword"
    yield store, folder
    store.close()


def fts5_ranking(store: Store, terms: list[str], limit: int = 1000,
                 candidates: list[str] | None = None) -> list[tuple[str, float]]:
    """FTS5's ranking, its ties put in claim order (FTS5 leaves their order undefined)."""
    order = {r[0]: r[1] for r in store.conn.execute("SELECT claim_id, rowid FROM claims_fts")}
    found = store.keyword_search(terms, limit, candidates)
    return sorted(found, key=lambda item: (-round(item[1], 12), order[item[0]]))


def test_tokenizer_is_the_stores() -> None:
    assert f"tokenize='{FTS_TOKENIZE}'" in SCHEMA


def test_ranking_equals_fts5(small) -> None:
    store, folder = small
    assert keyword.refresh(store, folder) is not None
    checked = 0
    for terms in QUERIES:
        expected = fts5_ranking(store, terms)
        got = keyword.ranking(store, folder, terms, 1000)
        assert got is not None, terms
        assert [cid for cid, _ in got] == [cid for cid, _ in expected], terms
        for (_, mine), (_, theirs) in zip(got, expected, strict=True):
            assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-15), terms
        checked += len(expected)
    assert checked > 30
    # the floored-idf query ranks every claim that says "police", as FTS5 does, by how often
    police = keyword.ranking(store, folder, ["police"], 1000)
    assert police is not None and len(police) == sum("police" in t.lower() for t in TEXTS) > len(TEXTS) / 2
    assert police[0][0] == "d-002"
    top2 = keyword.ranking(store, folder, ["sequencers"], 2) or []
    assert [cid for cid, _ in top2] == [cid for cid, _ in fts5_ranking(store, ["sequencers"])[:2]]


def test_candidates_keep_the_whole_stores_statistics(small) -> None:
    store, folder = small
    keyword.refresh(store, folder)
    candidates = ["d-001", "d-003", "d-006", "d-008", "d-011", "missing-claim"]
    for terms in QUERIES:
        got = keyword.ranking(store, folder, terms, 1000, candidates)
        expected = fts5_ranking(store, terms, candidates=candidates)
        assert got is not None
        assert [cid for cid, _ in got] == [cid for cid, _ in expected], terms
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-9)
    assert keyword.ranking(store, folder, ["police"], 10, []) == []


def test_terms_fts5_reads_as_phrases_go_to_fts5(small) -> None:
    store, folder = small
    keyword.refresh(store, folder)
    assert keyword.query_tokens(["pff_browns", "_", "naïve", "sequencers"]) == [
        ("pff", "brown"), (), ("naiv",), ("sequenc",)]
    assert keyword.ranking(store, folder, ["police", "due_diligence"], 10) is None
    assert keyword.ranking(store, folder, [], 10) == []


def test_stale_index_is_not_used_until_rebuilt(small, tmp_path: Path) -> None:
    store, folder = small
    keyword.refresh(store, folder)
    assert keyword.ranking(store, folder, ["zeppelin"], 10) == []
    [new] = add_claims(store.path, ["A zeppelin carried the police sequencers."], doc="e")  # another connection
    assert keyword.current(store, folder) is None
    assert keyword.ranking(store, folder, ["zeppelin"], 10) is None  # the caller asks FTS5
    assert [cid for cid, _ in store.keyword_search(["zeppelin"], 10)] == [new]
    assert keyword.refresh(store, folder) is not None
    assert [cid for cid, _ in keyword.ranking(store, folder, ["zeppelin"], 10) or []] == [new]
    assert keyword.refresh(store, folder) is None  # current: nothing to do
    assert sorted(p.name for p in folder.iterdir()) == [store.claims_fingerprint()]  # older version pruned


def test_published_atomically_and_abandoned_temporaries_pruned(small) -> None:
    store, folder = small
    keyword.refresh(store, folder)
    recent = folder / f"{keyword.TMP_PREFIX}writing-now"
    abandoned = folder / f"{keyword.TMP_PREFIX}killed-writer"
    for d in (recent, abandoned):
        d.mkdir()
        (d / "data.csc.index.npy").write_bytes(b"partial")
    old = time.time() - 2 * keyword.ABANDONED_AFTER_S
    os.utime(abandoned, (old, old))
    keyword.refresh(store, folder, force=True)
    assert sorted(p.name for p in folder.iterdir()) == sorted([store.claims_fingerprint(), recent.name])
    meta = json.loads((folder / store.claims_fingerprint() / keyword.META).read_text())
    assert meta["fingerprint"] == store.claims_fingerprint() and meta["claims"] == len(TEXTS)
    umask = os.umask(0)
    os.umask(umask)
    assert (folder / store.claims_fingerprint()).stat().st_mode & 0o777 == 0o777 & ~umask  # not owner-only


@pytest.mark.parametrize("damage", ["truncate-data", "flip-indices", "drop-claims", "bad-meta", "empty-meta"])
def test_damaged_index_falls_back_to_fts5_and_a_rebuild_repairs_it(small, damage: str, caplog) -> None:
    store, folder = small
    keyword.refresh(store, folder)
    path = folder / store.claims_fingerprint()
    if damage == "truncate-data":
        data = path / "data.csc.index.npy"
        data.write_bytes(data.read_bytes()[:100])
    elif damage == "flip-indices":
        raw = bytearray((path / "indices.csc.index.npy").read_bytes())
        raw[-1] ^= 0x01
        (path / "indices.csc.index.npy").write_bytes(bytes(raw))
    elif damage == "drop-claims":
        (path / keyword.CLAIMS).unlink()
    elif damage == "bad-meta":
        (path / keyword.META).write_text("{not json")
    else:
        (path / keyword.META).write_text("[]")
    keyword.forget()  # as a process that did not build it
    with caplog.at_level(logging.WARNING, logger="dualuse.keyword"):
        assert keyword.ranking(store, folder, ["police"], 5) is None
        assert keyword.ranking(store, folder, ["police"], 5) is None
    warnings = [r for r in caplog.records if r.name == "dualuse.keyword"]
    assert len(warnings) == 1 and "FTS5" in warnings[0].getMessage()  # once, not per search
    assert keyword.refresh(store, folder) is not None  # a writer finds it unsound and rebuilds
    keyword.forget()
    repaired = keyword.ranking(store, folder, ["police"], 5) or []
    assert [cid for cid, _ in repaired] == [cid for cid, _ in fts5_ranking(store, ["police"])[:5]]


def test_another_process_picks_up_a_new_index(small) -> None:
    """A long-running reader (the web app) sees the index another process builds after writing."""
    store, folder = small
    keyword.refresh(store, folder)
    first = keyword.current(store, folder)
    assert first is not None
    code = ("import sys; from pathlib import Path; from pipeline import keyword; from pipeline.store import Store; "
            "from tests.test_keyword import add_claims; p = Path(sys.argv[1]); "
            "add_claims(p, ['The airship was sold to the police.'], doc='f'); s = Store(p); "
            "keyword.refresh(s, Path(sys.argv[2])); s.close()")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    subprocess.run([sys.executable, "-c", code, str(store.path), str(folder)], check=True, env=env, cwd=PROJECT_ROOT)
    second = keyword.current(store, folder)
    assert second is not None and second is not first and second.fingerprint == store.claims_fingerprint()
    assert [cid for cid, _ in keyword.ranking(store, folder, ["airship"], 5) or []] == ["f-012"]
    assert keyword.current(store, folder) is second  # loaded once per version


def test_empty_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty.sqlite")
    folder = tmp_path / "keyword"
    index = keyword.refresh(store, folder)
    assert index is not None and len(index) == 0
    keyword.forget()
    assert keyword.ranking(store, folder, ["police"], 5) == []
    store.close()


# -- search and the writers (real models, real ingest) ----------------------------------------

INGESTED = [
    "Promega sold DNA kits to police in Xinjiang last spring, procurement records show.",
    "Thermo Fisher Scientific said it stopped selling sequencers to the bureau.",
    "Police in the region bought forty sequencers through a local reseller.",
]


def keyword_search(pipe, text: str, settings=None, limit: int = 20, **kw):
    from pipeline.search import SearchQuery, search

    return search(SearchQuery(text, limit, mode="keyword", **kw), pipe.store, pipe.index, pipe.embedder,
                  settings or pipe.settings)


def ids_and_scores(hits) -> list[tuple[str, float]]:
    return [(h.row.claim_id, round(h.score, 9)) for h in hits]


def test_ingest_builds_it_and_search_ranks_exactly_as_fts5(make_pipeline, tmp_path: Path) -> None:
    from dataclasses import replace

    from pipeline.ingest import ingest
    from tests.helpers import article_text

    pipe = make_pipeline()
    for i, line in enumerate(INGESTED):
        (tmp_path / f"{i}.txt").write_text(article_text(line), encoding="utf-8")
    assert ingest([str(tmp_path)], pipe.settings, pipeline=pipe).ok
    fingerprint = pipe.store.claims_fingerprint()
    assert sorted(p.name for p in pipe.settings.keyword_path.iterdir()) == [fingerprint]
    index = keyword.current(pipe.store, pipe.settings.keyword_path)
    assert index is not None and len(index) == pipe.store.claim_count()
    fts5_only = replace(pipe.settings, keyword_index=False)
    for query in ("police bought DNA sequencers", "sequencers sequencing", "vendor's export-control rules"):
        with_index = keyword_search(pipe, query)
        assert with_index and ids_and_scores(with_index) == ids_and_scores(keyword_search(pipe, query, fts5_only))
    assert ingest([str(tmp_path)], pipe.settings, pipeline=pipe).count("unchanged") == 3
    assert keyword.current(pipe.store, pipe.settings.keyword_path) is index  # nothing changed: not rebuilt
    # the index answers, not FTS5: with FTS5's table emptied behind its back (claims untouched) the
    # index still finds what FTS5 no longer can
    pipe.store.conn.execute("DELETE FROM claims_fts")
    assert keyword_search(pipe, "sequencers") and not keyword_search(pipe, "sequencers", fts5_only)


def test_stale_index_uses_fts5_and_finds_the_new_claim(make_pipeline, tmp_path: Path) -> None:
    from pipeline.ingest import Pipeline, ingest
    from tests.helpers import article_text

    pipe = make_pipeline()
    (tmp_path / "a.txt").write_text(article_text(INGESTED[0]), encoding="utf-8")
    assert ingest([str(tmp_path / "a.txt")], pipe.settings, pipeline=pipe).ok
    assert keyword.current(pipe.store, pipe.settings.keyword_path) is not None
    # a writer that stored a document and was killed before rebuilding the keyword index
    (tmp_path / "b.txt").write_text(article_text("A zeppelin delivered the sequencers to the bureau."),
                                    encoding="utf-8")
    other = Pipeline(pipe.settings, tagger=pipe.tagger, embedder=pipe.embedder)
    assert other.ingest_one(str(tmp_path / "b.txt")).status == "added"
    other.close()
    assert keyword.current(pipe.store, pipe.settings.keyword_path) is None
    stale = keyword_search(pipe, "zeppelin")
    assert [h.row.text for h in stale] == ["A zeppelin delivered the sequencers to the bureau."]
    pipe.refresh_keyword_index()
    assert keyword.current(pipe.store, pipe.settings.keyword_path) is not None
    assert ids_and_scores(keyword_search(pipe, "zeppelin")) == ids_and_scores(stale)


@pytest.mark.parametrize("query", ['"', '"police', "*", "police*", "NEAR(police DNA)", "police NEAR sequencers",
                                   "'; DROP TABLE claims; --", "text:police", "^police", "police OR", "AND",
                                   "- police", "(police", "{text}: DNA"])
def test_fts_syntax_in_queries_is_inert_on_both_paths(demo_store, query: str) -> None:
    from dataclasses import replace

    pipe = demo_store.pipe
    assert keyword.current(pipe.store, demo_store.settings.keyword_path) is not None
    claims = pipe.store.claim_count()
    fresh = keyword_search(pipe, query)
    fts5 = keyword_search(pipe, query, replace(demo_store.settings, keyword_index=False))
    assert ids_and_scores(fresh) == ids_and_scores(fts5)
    from pipeline.search import SearchQuery, search

    search(SearchQuery(query, 10), pipe.store, pipe.index, pipe.embedder, demo_store.settings, pipe.tagger)
    assert pipe.store.claim_count() == claims


def test_filtered_search_ranks_candidates_with_the_whole_stores_statistics(demo_store) -> None:
    from pipeline.search import keyword_terms

    store = demo_store.pipe.store
    candidates = store.filter_claims([store.resolve_entity("company", "Cellebrite")], None, None)
    terms = keyword_terms("police bought phone extraction devices")
    ranked = keyword.ranking(store, demo_store.settings.keyword_path, terms, 50, candidates)
    assert ranked and {cid for cid, _ in ranked} <= set(candidates)
    expected = fts5_ranking(store, terms, 50, candidates)
    assert [cid for cid, _ in ranked] == [cid for cid, _ in expected]
    assert [s for _, s in ranked] == pytest.approx([s for _, s in expected], rel=1e-9)
    hits = keyword_search(demo_store.pipe, "police bought phone extraction devices",
                          filters={"company": ("Cellebrite",)})
    assert [h.row.claim_id for h in hits] == [cid for cid, _ in ranked][: len(hits)]


def test_reindex_repairs_a_damaged_index(make_pipeline, tmp_path: Path) -> None:
    from pipeline.ingest import ingest
    from tests.helpers import article_text, cli

    pipe = make_pipeline()
    (tmp_path / "a.txt").write_text(article_text(INGESTED[2]), encoding="utf-8")
    assert ingest([str(tmp_path / "a.txt")], pipe.settings, pipeline=pipe).ok
    data = pipe.settings.keyword_path / pipe.store.claims_fingerprint() / "data.csc.index.npy"
    data.write_bytes(data.read_bytes()[:64])
    keyword.forget()
    assert keyword.current(pipe.store, pipe.settings.keyword_path) is None
    assert [h.row.text for h in keyword_search(pipe, "reseller")] == [INGESTED[2]]  # FTS5, no traceback
    result = cli("--home", pipe.settings.home, "reindex")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"reindexed {pipe.store.claim_count()} claims"
    keyword.forget()
    assert keyword.current(pipe.store, pipe.settings.keyword_path) is not None
    assert [h.row.text for h in keyword_search(pipe, "reseller")] == [INGESTED[2]]
