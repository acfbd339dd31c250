"""Claims: one sentence each, exact offsets, paragraph-bounded context, stable unique ids."""

from __future__ import annotations

import pytest

from pipeline.claims import cut_claims
from pipeline.extract import extract
from pipeline.records import Fetched, SourceKind

TEXT = (
    "Promega sold DNA kits to police in Xinjiang, records show. Thermo Fisher Scientific sold "
    "sequencers to the same bureau. A third sentence names nobody at all.\n\n"
    "Lawmakers asked both firms to explain their sales. Ok.\n\n"
    "The vendor declined to comment on it. Hearings are planned for next year.\n\n"
    "Police bought more kits in 2021. The vendor declined to comment on it.\n"
)


def document(text: str = TEXT, source: str = "claims.txt"):
    return extract(Fetched(source=source, locator=f"/abs/{source}", kind=SourceKind.TEXT, body=text.encode()))


@pytest.fixture(scope="module")
def doc_and_claims(shared_tagger):
    doc = document()
    tagged = shared_tagger.tag(doc.text)
    return doc, tagged, cut_claims(doc, tagged, context_sentences=1)


def test_claims_are_sentences_with_exact_offsets(doc_and_claims) -> None:
    doc, _, claims = doc_and_claims
    assert [c.text for c in claims] == [
        "Promega sold DNA kits to police in Xinjiang, records show.",
        "Thermo Fisher Scientific sold sequencers to the same bureau.",
        "A third sentence names nobody at all.",
        "Lawmakers asked both firms to explain their sales.",  # "Ok." is too short to be a claim
        "The vendor declined to comment on it.",
        "Hearings are planned for next year.",
        "Police bought more kits in 2021.",
        "The vendor declined to comment on it.",
    ]
    for i, c in enumerate(claims):
        assert doc.text[c.start:c.end] == c.text
        assert c.seq == i
        assert c.doc_id == doc.doc_id


def test_context_stays_within_the_paragraph(doc_and_claims) -> None:
    doc, tagged, claims = doc_and_claims
    first, second, third, fourth = claims[:4]
    assert doc.text[second.context_start:second.context_end] == (
        f"{first.text} {second.text} {third.text}")
    assert (first.context_start, first.context_end) == (first.start, second.end)
    # the first claim of the second paragraph does not reach back into the first paragraph
    assert fourth.context_start == fourth.start
    for c in claims:
        [para] = [(s, e) for s, e in tagged.paragraphs if s <= c.start < e]
        assert para[0] <= c.context_start <= c.start < c.end <= c.context_end <= para[1]


def test_wider_context_window(shared_tagger) -> None:
    doc = document()
    claims = cut_claims(doc, shared_tagger.tag(doc.text), context_sentences=2)
    assert (claims[0].context_start, claims[0].context_end) == (claims[0].start, claims[2].end)


def test_mentions_inside_the_sentence_only(doc_and_claims) -> None:
    _, tagged, claims = doc_and_claims
    assert {m.canonical for m in claims[0].mentions} >= {"Promega", "Xinjiang"}
    assert "Thermo Fisher Scientific" not in {m.canonical for m in claims[0].mentions}
    assert {m.canonical for m in claims[1].mentions if m.label == "company"} == {"Thermo Fisher Scientific"}
    assert claims[2].mentions == ()
    for c in claims:
        assert all(c.start <= m.start and m.end <= c.end for m in c.mentions)
    inside = {m for c in claims for m in c.mentions}
    assert inside <= set(tagged.mentions)


def test_ids_stable_across_runs_and_unique_for_repeats(shared_tagger, doc_and_claims) -> None:
    _, _, claims = doc_and_claims
    doc = document()
    again = cut_claims(doc, shared_tagger.tag(doc.text))
    assert [c.claim_id for c in again] == [c.claim_id for c in claims]
    ids = [c.claim_id for c in claims]
    assert claims[4].text == claims[7].text
    assert len(set(ids)) == len(ids)  # the repeated sentence gets two ids
    # the same text at another source is another document, so other claim ids
    other = document(source="elsewhere.txt")
    assert not set(ids) & {c.claim_id for c in cut_claims(other, shared_tagger.tag(other.text))}


def test_claim_id_ignores_whitespace_differences(shared_tagger) -> None:
    tail = "\n\nMore text follows in this paragraph here."
    a = document("Promega sold DNA kits to police in Xinjiang, records show." + tail)
    b = document("Promega  sold DNA kits to police in   Xinjiang, records show." + tail)
    ca = cut_claims(a, shared_tagger.tag(a.text))
    cb = cut_claims(b, shared_tagger.tag(b.text))
    assert ca[0].claim_id == cb[0].claim_id


def test_claims_carry_stance(shared_tagger) -> None:
    from pipeline.claims import cut_claims
    from pipeline.records import Document, SourceKind

    text = ("Orvel Systems sold licences for two hundred phones to the ministry in 2021.\n\n"
            "Orvel Systems said in a statement that it sells only to vetted government customers.\n\n"
            "Researchers at the Citizen Lab said the phones of three journalists were infected.")
    doc = Document(doc_id="d", source="s", locator="s", kind=SourceKind.TEXT, text=text)
    claims = cut_claims(doc, shared_tagger.tag(text))
    assert [c.stance for c in claims] == ["fact", "company_statement", "allegation"]
