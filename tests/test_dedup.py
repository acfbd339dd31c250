"""Near-duplicate documents (MinHash) and the grouping of copied claims in search results."""

from __future__ import annotations

import pytest

from pipeline import dedup
from pipeline.ingest import ingest
from pipeline.search import SearchQuery, by_document, search

STORY = """Orvel Systems sold Nightjar spyware to the interior ministry of Ruritania in 2021, according to
procurement records reviewed by researchers.

The contract covered licences for two hundred phones and a year of training for ministry officers.

Orvel Systems said in a statement that it sells only to vetted government customers and that it had not
been told of any misuse of its products in Ruritania.

Journalists in the capital said their phones showed traces of the implant after they reported on the
ministry's budget last spring.
"""
OTHER = """Kestrel Dynamics supplied surveillance drones to border police in Elbonia last year, the country's
audit office found after a two-year inquiry into defence spending.

The audit office said the drones had been bought without a tender and that their cameras recorded
villages far from the border for months.

Kestrel Dynamics declined to comment on the findings, and the border police did not answer questions
sent by the newspaper that first reported the purchase.
"""


def test_signature_separates_copies_from_distinct_texts() -> None:
    a = dedup.signature(STORY)
    copy = dedup.signature("WIRE SERVICE\n\n" + STORY + "\n\nShare this article")
    other = dedup.signature(OTHER)
    assert dedup.jaccard(a, copy) >= dedup.THRESHOLD
    assert dedup.jaccard(a, other) < dedup.THRESHOLD
    assert len(dedup.band_keys(a)) == dedup.BANDS


@pytest.fixture
def syndicated(make_pipeline, tmp_path):
    pipe = make_pipeline()
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "original.txt").write_text("Original story\n\n" + STORY)
    (folder / "wire-copy.txt").write_text("Wire copy\n\n" + STORY + "\n\nShare this article")
    (folder / "other.txt").write_text("Other story\n\n" + OTHER)
    report = ingest([str(folder)], pipe.settings, pipeline=pipe)
    assert report.count("added") == 3
    return pipe, folder


def test_copies_share_a_syndication_group(syndicated) -> None:
    pipe, folder = syndicated
    rows = dict(pipe.store.conn.execute("SELECT source, group_id FROM documents").fetchall())
    assert rows[str(folder / "original.txt")] == rows[str(folder / "wire-copy.txt")]
    assert rows[str(folder / "other.txt")] != rows[str(folder / "original.txt")]


def test_copied_claim_is_one_entry_listing_every_source(syndicated) -> None:
    pipe, folder = syndicated
    hits = search(SearchQuery("Nightjar spyware sold to the interior ministry", 5), pipe.store, pipe.index,
                  pipe.embedder, pipe.settings)
    top = hits[0]
    sources = {top.row.source, *(o.source for o in top.also)}
    assert sources == {str(folder / "original.txt"), str(folder / "wire-copy.txt")}
    # nothing dropped: every claim of both copies is still stored and reachable
    assert pipe.store.stats()["documents"] == 3
    assert top.to_json()["also_reported_by"][0]["source"] in sources


def test_document_view_lists_each_source(syndicated) -> None:
    pipe, folder = syndicated
    hits = search(SearchQuery("Nightjar spyware", 20), pipe.store, pipe.index, pipe.embedder, pipe.settings)
    docs = by_document(hits, 3)
    assert {d.claims[0].row.source for d in docs[:2]} == {str(folder / "original.txt"), str(folder / "wire-copy.txt")}
    assert all(len(d.claims) <= 3 for d in docs)
    assert docs[0].to_json()["claims"][0]["doc_id"] == docs[0].doc_id


LONG = "\n\n".join(
    f"Harrow Optics sold thermal camera unit {n} to the provincial police of Ruritania in {2010 + n}, "
    "the procurement register shows." for n in range(1, 9))
SHORT = ("Police in Elbonia bought thermal cameras from Harrow Optics for its border posts in 2019.",
         "The Ruritanian police said the thermal cameras were used at demonstrations.")


@pytest.mark.parametrize("cap", [3, 0])
def test_top_ten_takes_at_most_three_claims_from_one_document(make_pipeline, tmp_path, cap: int) -> None:
    pipe = make_pipeline(per_document_cap=cap)
    (tmp_path / "register.txt").write_text("Procurement register\n\n" + LONG)
    for i, text in enumerate(SHORT):
        (tmp_path / f"short-{i}.txt").write_text(f"Report {i}\n\n{text}\n")
    assert ingest([str(tmp_path)], pipe.settings, pipeline=pipe).count("added") == 3
    hits = search(SearchQuery("thermal cameras sold to police", 10), pipe.store, pipe.index, pipe.embedder,
                  pipe.settings)
    top = [h.row.source.rsplit("/", 1)[-1] for h in hits]
    per_doc = {s: top.count(s) for s in set(top)}
    if cap:
        # the register's claims beyond three follow the other documents' claims, and still fill the top ten
        assert per_doc["register.txt"] == len(top) - 2 and top[:5].count("register.txt") == 3
        assert {"short-0.txt", "short-1.txt"} <= set(top[:5])
    else:
        assert top[:5].count("register.txt") >= 4


def test_the_cap_never_empties_a_one_document_result(make_pipeline, tmp_path) -> None:
    pipe = make_pipeline()
    (tmp_path / "register.txt").write_text("Procurement register\n\n" + LONG)
    assert ingest([str(tmp_path)], pipe.settings, pipeline=pipe).count("added") == 1
    hits = search(SearchQuery("thermal camera sold to police", 10), pipe.store, pipe.index, pipe.embedder,
                  pipe.settings)
    assert len(hits) >= 8  # fewer documents match: the one document fills the top ten
