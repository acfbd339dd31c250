"""Companies a query describes by place and business ("the Israeli phone-cracking company")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.describe import described_companies, descriptions, matching_profiles
from pipeline.kb import load_kb
from pipeline.search import SearchQuery, search


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def test_kb_carries_headquarters_and_demonyms(kb) -> None:
    assert kb.by_name("company", "Thermo Fisher Scientific").hq == ("Waltham", "Massachusetts")
    assert "Israeli" in kb.by_name("region", "Israel").demonyms
    assert kb.is_nonentity("Israeli")  # a demonym is still never tagged as an entity


@pytest.mark.parametrize(("query", "place", "word", "one"), [
    ("the Wisconsin DNA-testing company", "Wisconsin", "dna", True),
    ("the Madison-based DNA firm", "Madison", "dna", True),
    ("Israeli spyware makers", "Israel", "spyware", False),
    ("a camera maker from China", "China", "camera", True),
    ("a biotech firm based in Mass.", "Massachusetts", "biotech", True),
])
def test_descriptions(kb, query: str, place: str, word: str, one: bool) -> None:
    [desc] = descriptions(query, kb)
    assert desc.place == place
    assert word in desc.words
    assert desc.one_company is one


@pytest.mark.parametrize("query", [
    "Chinese police bought DNA sequencers",  # who bought, not who sold
    "DNA sequencers used by security forces in China",  # where, not whose
    "lab equipment sold to the police",  # no place
])
def test_places_that_do_not_describe_a_company(kb, query: str) -> None:
    assert not [d for d in descriptions(query, kb) if d.words & {"dna", "sequencer", "lab"}]


def test_profiles_match_place_and_business(kb) -> None:
    names = {p.name for p in matching_profiles(descriptions("the Massachusetts lab-equipment maker", kb), kb)}
    assert "Thermo Fisher Scientific" in names
    assert "Promega" not in names
    israeli = {p.name for p in matching_profiles(descriptions("the Israeli phone-cracking company", kb), kb)}
    assert "Cellebrite" in israeli
    assert "NSO Group" not in israeli  # Israeli, but spyware, not phone forensics
    # brands and subsidiaries go with their parent
    us_dna = {p.name for p in matching_profiles(descriptions("US-made DNA sequencers", kb), kb)}
    assert "Thermo Fisher Scientific" in us_dna
    assert "Applied Biosystems" not in us_dna
    # "American firms" is a class, not one company: without a business it matches nothing
    assert matching_profiles(descriptions("American firms", kb), kb) == []


def test_described_companies_in_the_store(demo_store) -> None:
    store, kb = demo_store.pipe.store, demo_store.pipe.tagger.kb
    [(name, ids)] = described_companies("the Israeli phone-cracking company", store, kb, max_matches=2)
    assert name == "Cellebrite"
    assert {"company:cellebrite", "product:ufed"} <= set(ids)  # its product's claims count too
    spyware = described_companies("the Israeli spyware maker", store, kb, max_matches=2)
    assert {n for n, _ in spyware} == {"NSO Group", "Candiru"}
    assert described_companies("the Israeli spyware maker", store, kb, max_matches=1) == []  # too many
    assert described_companies("the Chinese company", store, kb, max_matches=2) == []
    assert described_companies("the Israeli phone-cracking company", store, kb, max_matches=2,
                               exclude={"Cellebrite"}) == []  # already named by the query


def test_search_boosts_described_company(demo_store) -> None:
    pipe = demo_store.pipe
    base = replace(demo_store.settings, feedback_boost=0.0)
    query = SearchQuery("what did the Israeli phone-cracking company sell to police", 40)

    def scores(settings):
        return {h.row.claim_id: (h.score, h.row) for h in
                search(query, pipe.store, pipe.index, pipe.embedder, settings, pipe.tagger)}

    off = scores(replace(base, describe_boost=0.0))
    on = scores(replace(base, describe_boost=0.5))
    tagged = [cid for cid, (_, row) in on.items()
              if "Cellebrite" in row.entities.get("company", []) or "UFED" in row.entities.get("product", [])]
    assert tagged
    for cid, (score, _row) in on.items():
        if cid in off:
            expected = off[cid][0] * (1.5 if cid in tagged else 1.0)
            assert score == pytest.approx(expected, abs=1e-4)
