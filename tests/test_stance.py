"""Stance from attribution, on invented sentences (the dev-set measurement is in the quality gate)."""

from __future__ import annotations

import pytest

from pipeline.stance import classify_stance


@pytest.mark.parametrize(("text", "stance"), [
    ("Orvel Systems said in a statement that it had never sold Nightjar to the ministry.", "company_statement"),
    ("A spokesperson for the vendor denied that its cameras could identify ethnic groups.", "company_statement"),
    ("The Ruritanian interior ministry denied that journalists had been targeted.", "official_statement"),
    ("Senator Jane Doe said no American firm should sell spyware to the ministry.", "official_statement"),
    ("Researchers at the Citizen Lab said the phones showed traces of the implant.", "allegation"),
    ("The drones recorded villages far from the border, according to a report by Privacy Watchers.", "allegation"),
    ("Procurement documents show that the border police bought the drones in 2021.", "fact"),
    ("According to the contracts, the deal was worth $2 million.", "fact"),
    ("Orvel Systems sold licences for two hundred phones to the ministry in 2021.", "fact"),
    ("In a statement to the Herald, the provincial government denied the purchase.", "official_statement"),
])
def test_stance_from_attribution(shared_tagger, text: str, stance: str) -> None:
    assert classify_stance(text, shared_tagger.tag(text).mentions) == stance


def test_stance_without_mentions_uses_words() -> None:
    assert classify_stance("The company said it would review its sales.") == "company_statement"
    assert classify_stance("What about sales to police elsewhere in the country?") == "allegation"
    assert classify_stance("The firm halted sales in 2019.") == "fact"
