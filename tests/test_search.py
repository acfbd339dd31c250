"""Search over the shared demo store: provenance, entity and date filters, validation, JSON shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import EmptyStoreError, UsageError
from pipeline.search import SearchQuery, search
from tests.conftest import DEMO_DIR

HIT_KEYS = {"claim_id", "text", "score", "doc_id", "source", "url", "title", "published", "start", "end", "highlights",
            "also_reported_by", "stance",
            "entities"}
ENTITY_KEYS = {"company", "product", "agency", "region"}


def run(demo, text: str, limit: int = 10, **kw):
    return search(SearchQuery(text, limit, **kw), demo.pipe.store, demo.pipe.index, demo.pipe.embedder,
                  demo.settings)


def test_demo_store_ingested(demo_store) -> None:
    summary = demo_store.report.summary()
    assert summary["added"] == (12 if demo_store.with_devset else 7)
    assert summary["failed"] == summary["skipped"] == 0
    assert demo_store.pipe.index.count() == demo_store.pipe.store.claim_count()


def test_unfiltered_hits_with_provenance(demo_store) -> None:
    hits = run(demo_store, "spyware used to hack journalists' phones", limit=5)
    assert len(hits) == 5
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    conn = demo_store.pipe.store.conn
    for h in hits:
        r = h.row
        doc = conn.execute("SELECT text, source, url, title, published FROM documents WHERE doc_id = ?",
                           (r.doc_id,)).fetchone()
        assert doc["text"][r.start:r.end] == r.text  # the claim is quotable from the stored text
        assert r.text in r.context
        assert (r.source, r.url, r.title, r.published) == (doc["source"], doc["url"], doc["title"], doc["published"])
    demo = [h.row for h in hits if "/corpus/demo/" in h.row.source]
    assert demo, "a spyware query should reach the demo notes on spyware"
    assert all(r.url and r.url.startswith("https://") and r.title and r.published for r in demo)
    assert {Path(r.source).name for r in demo} <= {p.name for p in DEMO_DIR.glob("*.md")}


def test_company_filter_narrows(demo_store) -> None:
    query = "police bought DNA equipment through resellers"
    unfiltered = run(demo_store, query, limit=20)
    assert any("Promega" not in h.row.entities.get("company", []) for h in unfiltered)
    hits = run(demo_store, query, limit=20, filters={"company": ("Promega",)})
    assert hits
    for h in hits:
        assert "Promega" in h.row.entities["company"]
    expected = demo_store.pipe.store.filter_claims([["company:promega"]], None, None)
    assert len(hits) == min(20, len(expected))


def test_filter_by_alias_any_case(demo_store) -> None:
    by_name = run(demo_store, "DNA equipment", limit=5, filters={"company": ("Promega",)})
    by_alias = run(demo_store, "DNA equipment", limit=5, filters={"company": ("promega corporation",)})
    assert [h.row.claim_id for h in by_alias] == [h.row.claim_id for h in by_name]


def test_filters_combine_with_and(demo_store) -> None:
    hits = run(demo_store, "DNA sequencers", limit=50,
               filters={"company": ("Thermo Fisher Scientific",), "region": ("Xinjiang",)})
    assert hits
    for h in hits:
        assert "Thermo Fisher Scientific" in h.row.entities["company"]
        assert "Xinjiang" in h.row.entities["region"]


def test_unknown_filter_value_lists_known_names(demo_store) -> None:
    with pytest.raises(UsageError) as info:
        run(demo_store, "DNA", filters={"company": ("Promega Wisconsin",)})
    assert "no company named 'Promega Wisconsin'" in info.value.message
    assert info.value.hint and info.value.hint.startswith("known company names include: ")
    assert "Promega" in info.value.hint.split(": ", 1)[1].split("; ")
    assert info.value.exit_code == 2


def test_unrelated_unknown_filter_value_still_lists_names(demo_store) -> None:
    with pytest.raises(UsageError) as info:
        run(demo_store, "DNA", filters={"agency": ("Zzyzx",)})
    names = (info.value.hint or "").removeprefix("known agency names include: ").split("; ")
    assert len(names) == 5 and all(names)


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"text": "   "}, "empty"),
    ({"text": "DNA", "limit": 0}, "--limit"),
    ({"text": "DNA", "limit": -3}, "--limit"),
    ({"text": "DNA", "limit": 1001}, "--limit"),
    ({"text": "DNA", "since": "2019-13-01"}, "not a date"),
    ({"text": "DNA", "until": "yesterday"}, "not a date"),
    ({"text": "DNA", "since": "2021-01-01", "until": "2020-01-01"}, "after"),
    ({"text": "DNA", "filters": {"vendor": ("Promega",)}}, "unknown filter"),
])
def test_invalid_queries_are_usage_errors(kwargs, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        SearchQuery(**kwargs).validated()
    assert fragment in info.value.one_line()


def test_query_whitespace_collapsed_and_cut() -> None:
    q = SearchQuery("  police \n bought   kits ").validated()
    assert q.text == "police bought kits"
    assert len(SearchQuery("x" * 5000).validated().text) == 2000


def test_empty_store_raises(make_pipeline) -> None:
    pipe = make_pipeline()
    with pytest.raises(EmptyStoreError) as info:
        search(SearchQuery("DNA"), pipe.store, pipe.index, pipe.embedder, pipe.settings)
    assert "empty" in info.value.message
    assert info.value.exit_code == 1


def test_date_range_filter(demo_store) -> None:
    hits = run(demo_store, "surveillance technology sold to police", limit=50,
               since="2020-01-01", until="2021-06-30")
    assert hits
    assert all(h.row.published and "2020-01-01" <= h.row.published <= "2021-06-30" for h in hits)
    published = {h.row.published for h in run(demo_store, "surveillance technology sold to police", limit=50)}
    assert published - {h.row.published for h in hits}  # the filter removed something


def test_date_filter_with_no_match_returns_nothing(demo_store) -> None:
    assert run(demo_store, "DNA", since="1990-01-01", until="1990-12-31") == []


def test_hit_json_shape(demo_store) -> None:
    hits = run(demo_store, "cameras that detect Uyghur faces", limit=3)
    for h in hits:
        data = h.to_json()
        assert set(data) == HIT_KEYS
        assert set(data["entities"]) == ENTITY_KEYS
        assert all(isinstance(v, list) for v in data["entities"].values())
        assert isinstance(data["score"], float) and -1.0 <= data["score"] <= 1.0
        assert isinstance(data["start"], int) and data["end"] > data["start"]


@pytest.mark.parametrize("text", ['"unbalanced quote', "sequencer*", "police NEAR Xinjiang",
                                  "'; DROP TABLE claims; --", "title:Promega OR (", "^ - + : ."])
@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_fts_metacharacters_are_inert(demo_store, text: str, mode: str) -> None:
    before = demo_store.pipe.store.stats()
    hits = run(demo_store, text, mode=mode)
    assert isinstance(hits, list)
    assert demo_store.pipe.store.stats() == before


def test_keyword_terms_are_plain_words() -> None:
    from pipeline.search import keyword_terms

    assert keyword_terms('"DNA" sequencer* NEAR the police; DROP') == ["dna", "sequencer", "near", "police", "drop"]
    assert keyword_terms("the of and") == []


def test_fuse_rewards_agreement() -> None:
    from pipeline.search import fuse

    dense = [("a", 0.9), ("b", 0.8), ("c", 0.7)]
    keyword = [("c", 5.0), ("a", 4.0)]
    fused = fuse([dense, keyword], [1.0, 1.0], k=60)
    assert [cid for cid, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_keyword_mode_finds_exact_terms(demo_store) -> None:
    hits = run(demo_store, "UFED", mode="keyword")
    assert hits and all("UFED" in h.row.text for h in hits)


def test_unknown_mode_is_usage_error() -> None:
    with pytest.raises(UsageError):
        SearchQuery("x", mode="fuzzy").validated()


def test_highlights_round_trip_to_document_text(demo_store) -> None:
    store = demo_store.pipe.store
    hits = run(demo_store, "Cellebrite phone extraction police", mode="keyword")
    assert hits
    for hit in hits:
        doc_text = store.conn.execute("SELECT text FROM documents WHERE doc_id = ?", (hit.row.doc_id,)).fetchone()[0]
        assert doc_text[hit.row.start:hit.row.end] == hit.row.text  # the citation offsets
        for start, end in hit.highlights:
            assert hit.row.start <= start < end <= hit.row.end
            assert doc_text[start:end].lower()[:5] in {"celle", "phone", "extra", "polic"}
    assert any(hit.highlights for hit in hits)


def test_source_filter_by_host_and_path(demo_store) -> None:
    pegasus = next(p for p in DEMO_DIR.glob("*.md") if "pegasus" in p.name)
    by_path = run(demo_store, "spyware journalists", sources=(str(pegasus),))
    assert by_path and {h.row.source for h in by_path} == {str(pegasus)}
    by_host = run(demo_store, "spyware journalists", sources=("forbiddenstories.org",))
    assert by_host and all("forbiddenstories.org" in (h.row.url or "") for h in by_host)


def test_unknown_source_is_usage_error(demo_store) -> None:
    with pytest.raises(UsageError, match="no document from source"):
        run(demo_store, "spyware", sources=("nosuch.example",))


def test_claim_detail_paragraph_contains_claim(demo_store) -> None:
    hit = run(demo_store, "Pegasus spyware journalists", 1)[0]
    detail = demo_store.pipe.store.claim_detail(hit.row.claim_id)
    assert detail is not None
    p0 = detail["paragraph_start"]
    assert detail["paragraph"][detail["start"] - p0:detail["end"] - p0] == hit.row.text
    assert len(detail["snapshot_sha256"]) == 64
    assert demo_store.pipe.store.claim_detail("nope") is None


def test_entity_boost_scales_with_the_claims_own_relevance(demo_store) -> None:
    """An entity match multiplies a claim's score: a weak match about the right company does not jump
    over a strong match that does not name it, and two matched entities count twice."""
    from pipeline.search import boost_entities

    store = demo_store.pipe.store
    cellebrite = store.resolve_entity("company", "Cellebrite")
    nso = store.resolve_entity("company", "NSO Group")
    tagged = store.claim_entity_ids([r[0] for r in store.conn.execute("SELECT claim_id FROM claims")])
    about = [cid for cid, ids in tagged.items() if ids & set(cellebrite) and not ids & set(nso)][:1]
    neither = [cid for cid, ids in tagged.items() if not ids & (set(cellebrite) | set(nso))][:1]
    assert about and neither
    scored = [(neither[0], 0.030), (about[0], 0.010)]
    out = dict(boost_entities(store, scored, [cellebrite], 0.5))
    assert out[about[0]] == pytest.approx(0.015) and out[neither[0]] == pytest.approx(0.030)
    assert [cid for cid, _ in boost_entities(store, scored, [cellebrite], 0.5)] == [neither[0], about[0]]
    # a strong match about the company does go ahead of an equally strong one that does not name it
    assert [cid for cid, _ in boost_entities(store, [(neither[0], 0.03), (about[0], 0.029)], [cellebrite], 0.5)] \
        == [about[0], neither[0]]
    two = next((cid, sorted(ids)[:2]) for cid, ids in tagged.items() if len(ids) >= 2)
    assert dict(boost_entities(store, [(two[0], 0.01)], [[two[1][0]], [two[1][1]]], 0.5))[two[0]] \
        == pytest.approx(0.02)


def test_entity_feedback_lifts_the_dominant_vendors_other_claims(demo_store) -> None:
    from dataclasses import replace

    from pipeline.search import entity_feedback

    store = demo_store.pipe.store
    settings = replace(demo_store.settings, feedback_depth=3, feedback_min=2, feedback_boost=1.0)
    cellebrite = store.resolve_entity("company", "Cellebrite")
    ids = [r[0] for r in store.conn.execute(
        "SELECT claim_id FROM claim_entities WHERE entity_id = ? LIMIT 4", (cellebrite[0],))]
    others = [r[0] for r in store.conn.execute(
        "SELECT claim_id FROM claims WHERE claim_id NOT IN (SELECT claim_id FROM claim_entities WHERE entity_id = ?)"
        " LIMIT 3", (cellebrite[0],))]
    assert len(ids) == 4 and len(others) == 3
    scored = [(ids[0], 0.05), (ids[1], 0.049), (others[0], 0.048), (others[1], 0.047), (others[2], 0.046),
              (ids[2], 0.045), (ids[3], 0.044)]
    out = [cid for cid, _ in entity_feedback(store, scored, settings)]
    # the two Cellebrite claims far down the list move above the unrelated ones
    assert out.index(ids[2]) < out.index(others[0]) and out.index(ids[3]) < out.index(others[0])
    unchanged = entity_feedback(store, scored, replace(settings, feedback_min=3))
    assert [cid for cid, _ in unchanged] == [cid for cid, _ in scored]


def test_100kb_query_is_cut_not_refused(demo_store) -> None:
    query = ("Which vendors sold spyware to police? " * 3000)[:100_000]
    hits = run(demo_store, query, 3)
    assert len(hits) == 3


def test_keyword_ranking_within_a_small_filtered_set(demo_store) -> None:
    from pipeline.search import keyword_within

    store = demo_store.pipe.store
    cellebrite = store.resolve_entity("company", "Cellebrite")
    candidates = store.filter_claims([cellebrite], None, None)
    ranked = keyword_within(store, ["ufed", "police"], 50, candidates)
    assert ranked and {cid for cid, _ in ranked} <= set(candidates)
    texts = dict(store.claim_texts([cid for cid, _ in ranked]))
    assert "UFED" in texts[ranked[0][0]] or "police" in texts[ranked[0][0]].lower()
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert keyword_within(store, [], 10, candidates) == []


def test_a_query_asking_what_the_company_said_prefers_company_statements(demo_store) -> None:
    from dataclasses import replace

    def stances(boost: float) -> list[str | None]:
        settings = replace(demo_store.settings, stance_boost=boost)
        p = demo_store.pipe
        hits = search(SearchQuery("How did the spyware maker respond to the reports about hacked journalists?", 10),
                      p.store, p.index, p.embedder, settings, p.tagger)
        return [h.row.stance for h in hits]

    without, with_boost = stances(0.0), stances(1.0)
    assert with_boost.count("company_statement") > without.count("company_statement")
    assert with_boost[0] == "company_statement"
