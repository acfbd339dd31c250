"""Within-document canonical names: short forms mapped onto the one longer name they abbreviate."""

from __future__ import annotations

import pytest

from pipeline.canonical import canonicalise
from pipeline.kb import load_kb
from pipeline.records import Mention


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def m(text: str, label: str, start: int = 0) -> Mention:
    return Mention(text, label, text, start, start + len(text))


def canon(kb, *mentions: Mention) -> dict[str, str]:
    return {x.text: x.canonical for x in canonicalise(list(mentions), kb)}


def test_prefix_short_form_maps_to_full_name(kb) -> None:
    got = canon(kb, m("Zorblax Quantum Instruments", "company"), m("Zorblax Quantum", "company", 60))
    assert got == {"Zorblax Quantum Instruments": "Zorblax Quantum Instruments",
                   "Zorblax Quantum": "Zorblax Quantum Instruments"}


def test_suffix_rule_for_agencies_only(kb) -> None:
    got = canon(kb, m("Korla Municipal Public Security Bureau", "agency"), m("Public Security Bureau", "agency", 80))
    assert got["Public Security Bureau"] == "Korla Municipal Public Security Bureau"
    # companies do not link by suffix: "Quantum Instruments" is not short for another firm
    got = canon(kb, m("Zorblax Quantum Instruments", "company"), m("Quantum Instruments", "company", 80))
    assert got["Quantum Instruments"] == "Quantum Instruments"


def test_ambiguous_short_form_left_alone(kb) -> None:
    got = canon(kb, m("Zorblax Quantum", "company"), m("Zorblax Robotics", "company", 40), m("Zorblax", "company", 80))
    assert got["Zorblax"] == "Zorblax"  # two different firms start with it


def test_types_do_not_mix(kb) -> None:
    got = canon(kb, m("Zorblax Quantum Instruments", "company"), m("Zorblax Quantum", "agency", 60))
    assert got["Zorblax Quantum"] == "Zorblax Quantum"


def test_kb_entity_is_not_remapped(kb) -> None:
    # "Promega" is a KB entity in its own right: a longer unknown name that starts with it must
    # not swallow it.
    got = canon(kb, m("Promega", "company"), m("Promega Zorblax Joint Venture", "company", 40))
    assert got["Promega"] == "Promega"


def test_regions_are_not_linked(kb) -> None:
    got = canon(kb, m("Xinjiang", "region"), m("Xinjiang Uyghur Autonomous Region", "region", 40))
    assert got["Xinjiang"] == "Xinjiang"


def test_tagger_links_thermo_fisher_in_one_document(shared_tagger) -> None:
    text = ("Thermo Fisher Scientific sold equipment to police in Xinjiang. "
            "Later, Thermo Fisher said it had stopped those sales.")
    companies = {(x.text, x.canonical) for x in shared_tagger.tag(text).mentions if x.label == "company"}
    assert companies == {("Thermo Fisher Scientific", "Thermo Fisher Scientific"),
                         ("Thermo Fisher", "Thermo Fisher Scientific")}


def test_tagger_links_unknown_company_short_form(shared_tagger) -> None:
    text = "Zorblax Technologies Co., Ltd. sold cameras to the city. Zorblax Technologies later denied it."
    canonicals = {x.canonical for x in shared_tagger.tag(text).mentions if x.label == "company"}
    assert canonicals == {"Zorblax Technologies"}


def test_tagger_links_agency_suffix(shared_tagger) -> None:
    text = "The Bingtuan Public Security Bureau bought kits. The Public Security Bureau said it needed them."
    agencies = [x for x in shared_tagger.tag(text).mentions if x.label == "agency"]
    assert {x.text for x in agencies} >= {"Bingtuan Public Security Bureau", "Public Security Bureau"}
    assert {x.canonical for x in agencies} == {"Xinjiang Production and Construction Corps Public Security Bureau"}


def test_acronym_from_kb_alias(shared_tagger) -> None:
    text = "The Xinjiang Production and Construction Corps (XPCC) runs farms. The XPCC denied the report."
    xpcc = [x for x in shared_tagger.tag(text).mentions if x.text == "XPCC"]
    assert len(xpcc) == 2
    assert {x.canonical for x in xpcc} == {"Xinjiang Production and Construction Corps"}


@pytest.mark.parametrize(("long", "short", "label"), [
    ("Bureau of Digital Oversight", "BDO", "agency"),
    ("Zorblax Quantum Instruments", "ZQI", "company"),
])
def test_acronym_of_unknown_name_in_same_document(kb, long: str, short: str, label: str) -> None:
    got = canon(kb, m(long, label), m(short, label, 60))
    assert got[short] == long
