"""pipeline.intent: which speaker's words a query asks for (invented queries, not the dev set's)."""

from __future__ import annotations

import pytest

from pipeline.intent import wanted_stances


@pytest.mark.parametrize(("query", "expected"), [
    ("How did the camera maker respond to the report on ethnicity detection?", {"company_statement"}),
    ("what does the spyware vendor say about its customers in Mexico", {"company_statement"}),
    ("Did Hikvision deny selling to the bureau?", {"company_statement"}),  # a named company speaks
    ("what did the provincial officials say about the DNA collection", {"official_statement"}),
    ("Has the government denied using the cameras in detention camps?", {"official_statement"}),
    ("What did Amnesty researchers allege about the phone hacks?", {"allegation"}),
    ("accusations that the firm's software tracked dissidents", {"allegation"}),
    ("what did the rights group say about the exports", {"allegation"}),
    ("Which police units bought iris scanners in 2020?", set()),  # no verb of saying
    ("spyware used against journalists", set()),
    ("what questions did it say remain open", set()),  # a pronoun: who "it" is is not resolved
    ("the ministry bought the kits, and what did it say", set()),
    # the accused described, hearsay: nobody is asked what they said
    ("drone maker accused of supplying border police in the north", set()),
    ("how the accused scanner vendor won the tender", set()),
    ("analysts from a phone maker said to have helped the police unlock devices", set()),
    ("which vendor was charged with exporting spyware, and what did prosecutors allege", {"allegation"}),
])
def test_wanted_stances(query: str, expected: set[str]) -> None:
    named = ("Hikvision",) if "Hikvision" in query else ()
    assert wanted_stances(query, named) == expected


def test_the_speaker_must_be_in_the_same_clause() -> None:
    # "police" belongs to the first clause; the saying verb's clause starts at "and what"
    assert wanted_stances("Police bought sequencers, and what did it say") == set()
    assert wanted_stances("Police bought sequencers; what did police say") == {"official_statement"}
