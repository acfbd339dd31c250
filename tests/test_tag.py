"""Tagger on invented sentences: typing, cleaning of mention text, offsets, odd inputs."""

from __future__ import annotations

import itertools

import pytest

from pipeline.tag import MAX_CHUNK, paragraph_spans


def mentions(tagger, text: str) -> list:
    result = tagger.tag(text)
    for m in result.mentions:
        assert text[m.start:m.end] == m.text, m
    return list(result.mentions)


def labelled(tagger, text: str) -> dict[str, tuple[str, str]]:
    """mention text -> (label, canonical)"""
    return {m.text: (m.label, m.canonical) for m in mentions(tagger, text)}


def test_known_company_region_agency_product(shared_tagger) -> None:
    text = "Promega sold the PowerPlex 21 System to the Bingtuan and to police in the U.S. last year."
    got = labelled(shared_tagger, text)
    assert got["Promega"] == ("company", "Promega")
    assert got["PowerPlex 21 System"][0] == "product"
    assert got["Bingtuan"] == ("agency", "Xinjiang Production and Construction Corps")
    assert got["U.S."] == ("region", "United States")


def test_unknown_company_typed_by_form(shared_tagger) -> None:
    got = labelled(shared_tagger, "Zorblax Technologies Co., Ltd. sold cameras to the city last year.")
    assert got["Zorblax Technologies Co., Ltd."] == ("company", "Zorblax Technologies")


def test_unknown_agency_typed_by_head_noun(shared_tagger) -> None:
    got = labelled(shared_tagger, "Kestrel Dynamics said the Ministry of Digital Affairs had bought drones.")
    assert got["Ministry of Digital Affairs"] == ("agency", "Ministry of Digital Affairs")
    assert got["Kestrel Dynamics"] == ("company", "Kestrel Dynamics")


def test_ngo_and_media_are_not_companies(shared_tagger) -> None:
    text = "Human Rights Watch said the equipment was sold to the Chinese police, The New York Times reported."
    ms = mentions(shared_tagger, text)
    by_text = {m.text: m for m in ms}
    assert by_text["Human Rights Watch"].label == "ngo"
    assert by_text["New York Times"].label == "media"  # leading "The" is not part of the mention
    assert by_text["New York Times"].canonical == "The New York Times"
    assert by_text["Chinese police"].label == "agency"
    assert not [m for m in ms if m.label == "company"]


def test_demonyms_are_not_entities(shared_tagger) -> None:
    ms = mentions(shared_tagger, "Uyghurs in Xinjiang said Chinese officials collected their DNA.")
    texts = {m.text for m in ms}
    assert "Uyghurs" not in texts and "Chinese" not in texts
    assert ("Xinjiang", "region") in {(m.text, m.label) for m in ms}


def test_possessive_and_leading_the_stripped(shared_tagger) -> None:
    text = "The Thermo Fisher Scientific's sequencers were shipped to Promega's customers."
    got = labelled(shared_tagger, text)
    assert got["Thermo Fisher Scientific"] == ("company", "Thermo Fisher Scientific")
    assert got["Promega"] == ("company", "Promega")
    assert not any(t.startswith("The ") or t.endswith(("'s", "\u2019s")) for t in got)


def test_curly_possessive_stripped(shared_tagger) -> None:
    got = labelled(shared_tagger, "Promega\u2019s kits were sold to police in Xinjiang.")
    assert got["Promega"] == ("company", "Promega")


def test_no_break_space_inside_name_still_canonicalises(shared_tagger) -> None:
    text = "Thermo\u00a0Fisher Scientific said it would stop sales in Xinjiang."
    [company] = [m for m in mentions(shared_tagger, text) if m.label == "company"]
    assert company.text == "Thermo\u00a0Fisher Scientific"  # the evidence keeps its characters
    assert company.canonical == "Thermo Fisher Scientific"


def test_sentences_and_paragraphs(shared_tagger) -> None:
    text = "Promega sold kits to police. The police used them.\n\nA second paragraph is here."
    result = shared_tagger.tag(text)
    assert [text[s:e] for s, e in result.sentences] == [
        "Promega sold kits to police.", "The police used them.", "A second paragraph is here."]
    assert [text[s:e] for s, e in result.paragraphs] == [
        "Promega sold kits to police. The police used them.", "A second paragraph is here."]


def test_empty_and_blank_text(shared_tagger) -> None:
    for text in ("", "   \n\n  "):
        result = shared_tagger.tag(text)
        assert (result.mentions, result.sentences, result.paragraphs) == ((), (), ())


def test_non_latin_text_does_not_crash(shared_tagger) -> None:
    chinese = "\u4e2d\u56fd\u516c\u5b89\u90e8\u8d2d\u4e70\u4e86DNA\u6d4b\u5e8f\u4eea\u3002"
    russian = "\u041f\u043e\u043b\u0438\u0446\u0438\u044f \u043a\u0443\u043f\u0438\u043b\u0430 " \
              "\u043e\u0431\u043e\u0440\u0443\u0434\u043e\u0432\u0430\u043d\u0438\u0435. \U0001F600"
    text = chinese + "\n\n" + russian
    result = shared_tagger.tag(text)
    assert len(result.paragraphs) == 2
    for m in result.mentions:
        assert text[m.start:m.end] == m.text


def test_long_text_offsets_valid(shared_tagger) -> None:
    # ~300 KB: many paragraphs plus one paragraph far longer than MAX_CHUNK (cut before spaCy).
    # (2 MB behaves the same but takes over a minute on a 2-core machine.)
    para = ("Thermo Fisher Scientific sold DNA sequencers to police in Xinjiang, according to Human Rights "
            "Watch. Promega\u2019s kits reached the Bingtuan through resellers in Urumqi. ")
    giant = para * (3 * MAX_CHUNK // len(para))
    text = "\n\n".join([para.strip()] * 1200 + [giant.strip()])
    assert len(text) > 250_000
    result = shared_tagger.tag(text)
    assert len(result.paragraphs) >= 1200 + 3
    assert all(e - s <= MAX_CHUNK for s, e in result.paragraphs)
    for m in result.mentions:
        assert text[m.start:m.end] == m.text
    for s, e in result.sentences:
        assert 0 <= s < e <= len(text) and text[s:e] == text[s:e].strip()
    companies = {m.canonical for m in result.mentions if m.label == "company"}
    assert companies == {"Thermo Fisher Scientific", "Promega"}
    tail = [m for m in result.mentions if m.start > len(text) - len(giant)]
    assert {m.canonical for m in tail} >= {"Thermo Fisher Scientific", "Promega", "Xinjiang"}


def test_paragraph_spans_cut_long_lines_at_sentence_ends() -> None:
    sentence = "This sentence is exactly long enough to matter here. "
    text = sentence * (2 * MAX_CHUNK // len(sentence) + 5)
    spans = paragraph_spans(text)
    assert len(spans) >= 3
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # contiguous, nothing lost
    assert all(text[s:e].startswith("This sentence") for s, e in spans)


@pytest.mark.parametrize("text", ["Promega", "Thermo Fisher Scientific.", "\u00a0Promega\u00a0sold kits."])
def test_tiny_inputs(shared_tagger, text: str) -> None:
    ms = mentions(shared_tagger, text)
    assert all(m.label == "company" for m in ms)
    assert len(ms) == 1


def test_product_named_before_generic_noun(shared_tagger) -> None:
    got = labelled(shared_tagger, "Researchers said the Nightjar spyware was sold by Orvel Systems Ltd. to Oman.")
    assert got["Nightjar"] == ("product", "Nightjar")
    assert got["Orvel Systems Ltd."] == ("company", "Orvel Systems")
    assert "Nightjar spyware" not in got


def test_headline_case_words_are_not_products(shared_tagger) -> None:
    got = labelled(shared_tagger, "Vendor to Stop Sales of Genetic Sequencers to Police in Ruritania")
    assert not [t for t, (label, _) in got.items() if label == "product"]


@pytest.mark.parametrize(("text", "expected"), [
    ("Protesters searched on Google for the names of the officers.", ("product", "Google Search")),
    ("Google said it would review the contract with the ministry.", ("company", "Google")),
])
def test_name_shared_by_company_and_platform_decided_by_context(shared_tagger, text, expected) -> None:
    assert labelled(shared_tagger, text)["Google"] == expected


def test_clause_word_splits_two_names(shared_tagger) -> None:
    got = labelled(shared_tagger, "Activists posted on Twitter that X Corp. had suspended their accounts.")
    assert got["Twitter"][0] == "product"
    assert got["X Corp."] == ("company", "X Corp.")


def test_place_plus_generic_plural_is_not_an_organisation(shared_tagger) -> None:
    got = labelled(shared_tagger, "The company kept doing business in Xinjiang Customers or dealers there.")
    assert "Xinjiang Customers" not in got


def test_brand_mention_keeps_its_name_and_records_parent(shared_tagger) -> None:
    found = [m for m in mentions(shared_tagger, "Police used an Applied Biosystems analyzer.") if m.label == "company"]
    assert [(m.canonical, m.parent) for m in found] == [("Applied Biosystems", "Thermo Fisher Scientific")]


@pytest.mark.parametrize(("text", "surface", "canonical"), [
    ("The Ruritania Police Department bought scanners.", "Ruritania Police Department", "Ruritania police"),
    ("Police in Guangdong Province bought scanners.", "Guangdong Province", "Guangdong"),
])
def test_conventional_forms_share_one_canonical(shared_tagger, text, surface, canonical) -> None:
    assert labelled(shared_tagger, text)[surface][1] == canonical
