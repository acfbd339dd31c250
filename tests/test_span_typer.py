"""The learned span typer: vendors no list holds are tagged from form and context, its weights
round-trip, the rules remain as a setting, and leave-KB-out removes names from the KB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.kb import KBEntity, KnowledgeBase
from pipeline.span_typer import TYPER_PATH, SpanTyper
from pipeline.tag import Tagger
from tests.helpers import LocalServer, page

# An article about a vendor, product, agency and province that exist in no list (invented here).
UNLISTED = ("Tallis Genomics supplied its GenoPlex 40 kit to the Border Police Directorate in Sorrel Province, "
            "according to procurement documents seen by reporters. Tallis Genomics did not respond to a request "
            "for comment. The directorate has collected DNA samples from residents of Sorrel Province since 2022.")

pytestmark = pytest.mark.skipif(not TYPER_PATH.is_file(), reason=f"no trained span typer at {TYPER_PATH}")


def labels(mentions: Any) -> dict[str, str]:
    return {m.text: m.label for m in mentions}


def test_unlisted_vendor_product_agency_and_region_are_tagged(shared_tagger: Tagger) -> None:
    kb = shared_tagger.kb
    assert all(kb.lookup(n) is None for n in ("Tallis Genomics", "GenoPlex 40", "Sorrel Province"))
    found = labels(shared_tagger.tag(UNLISTED).mentions)
    assert found["Tallis Genomics"] == "company"
    assert found["GenoPlex 40"] == "product"
    assert found["Border Police Directorate"] == "agency"
    assert found["Sorrel Province"] == "region"


def test_the_rules_alone_miss_the_unlisted_vendor(settings_factory: Any) -> None:
    """Why the trained component is there: spaCy calls the firm a PERSON and the rules drop it."""
    rules = Tagger(settings_factory(entity_typer="rules"))
    assert rules.typer is None
    assert "Tallis Genomics" not in labels(rules.tag(UNLISTED).mentions)
    assert "rules5" in rules.version


def test_weights_round_trip(tmp_path: Path, shared_tagger: Tagger) -> None:
    typer = SpanTyper.load(TYPER_PATH)
    candidates = shared_tagger.candidates(UNLISTED, typer.lexicon)
    assert candidates
    copy = tmp_path / "weights.json"
    typer.save(copy)
    again = SpanTyper.load(copy)
    assert again.labels == typer.labels and again.threshold == typer.threshold
    assert np.allclose(again.scores(candidates), typer.scores(candidates), atol=1e-4)
    # features never spell out a name: no candidate feature holds the invented words
    assert not any("tallis" in f.lower() or "genoplex" in f.lower() for c in candidates for f in c.features)


def test_kb_without_drops_every_entity_a_name_denotes() -> None:
    kb = KnowledgeBase()
    kb.add(KBEntity("Acme Corp", "company", aliases=("Acme",)))
    kb.add(KBEntity("Widget", "product"))
    kept = kb.without(["ACME"])
    assert kept.lookup("Acme Corp") is None and kept.lookup("Widget") is not None
    assert kb.lookup("Acme Corp") is not None  # the original is untouched


def test_watch_on_an_unlisted_vendor_alerts_when_crawled(settings_factory: Any, shared_tagger: Tagger,
                                                         shared_embedder: Any, tmp_path: Path) -> None:
    from pipeline.crawl import Crawler, polite_getter
    from pipeline.ingest import Pipeline
    from pipeline.sources import Source, add_source, load_sources
    from pipeline.watch import Watch, add_watch, alerts_json

    html = (f"<!doctype html><html><head><title>DNA kits for the border police</title></head><body><article>"
            f"<h1>DNA kits for the border police</h1><p>{UNLISTED}</p></article></body></html>")
    settings = settings_factory(allow_private=True, crawl_delay=0.0, sources_file=str(tmp_path / "sources.yaml"))
    with LocalServer({"/story": page(html)}) as server:
        add_source(settings.sources_path, Source("local", server.url("/story"), "page"))
        add_watch(settings.watches_path, Watch("tallis", entity="Tallis Genomics"))
        pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
        try:
            report = Crawler(pipe, polite_getter(settings)).run(load_sources(settings.sources_path)).to_json()
            alerts = alerts_json(pipe.store)
        finally:
            pipe.close()
    assert report["new"] == 1 and report["alerts"] >= 1
    assert {a["watch"] for a in alerts} == {"tallis"}
    assert any("Tallis Genomics" in a["text"] for a in alerts)


@pytest.mark.parametrize(("text", "name", "feature"), [
    ("Gorvane, a school surveillance software, flagged the emails.", "Gorvane", "appos=software"),
    ("Tallis Genomics, a Leeds-based DNA firm, sold the kits.", "Tallis Genomics", "appos=firm"),
    ("The tool, called Brisk, scans licence plates.", "Brisk", "called=tool"),
    ("The app named Velto tracks phones.", "Velto", "called=app"),
])
def test_candidates_carry_what_an_apposition_calls_them(shared_tagger: Tagger, text: str, name: str,
                                                          feature: str) -> None:
    cands = [c for c in shared_tagger.candidates(text, frozenset()) if c.text == name]
    assert cands and feature in cands[0].features, [(c.text, sorted(c.features)) for c in cands]


def test_a_plural_and_a_bracketed_acronym_pool_with_the_name() -> None:
    from pipeline.span_typer import Candidate, group_key

    assert group_key("integrated fixed towers") == "integrated fixed tower"
    assert group_key("access") == "access" and group_key("corpus") == "corpus" and group_key("ras") == "ras"
    labels = ("none", "company", "product", "agency", "region", "other")
    typer = SpanTyper(labels, {"long": 0, "short": 1}, np.array([[0, 0, 4, 0, 0, 0], [0, 0, -4, 0, 0, 0]], float),
                      np.zeros(6), {"own_weight": 0.5})
    cands = [Candidate(0, 23, "Integrated Fixed Towers", "integrated fixed towers", {"long": 1.0, "acronym_after": 1.0},
                       None),
             Candidate(25, 28, "IFT", "ift", {"short": 1.0}, None),
             Candidate(40, 62, "Integrated Fixed Tower", "integrated fixed tower", {"short": 1.0}, None)]
    alone = typer.scores(cands)
    pooled = typer.name_probabilities(cands)
    product = labels.index("product")
    assert alone[1][product] < 0.1 and alone[2][product] < 0.1
    assert pooled[1][product] > alone[1][product] + 0.1 and pooled[2][product] > alone[2][product] + 0.1
