"""Stance from attribution, on invented sentences (the dev-set measurement is in the quality gate)."""

from __future__ import annotations

import pytest

from pipeline.stance import STANCE_PATH, StanceReader, classify_stance, stance_features


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


# Invented sentences in the ways coverage attributes findings and rulings (none from a dev set).
READER_CASES = [
    ("The Daily Courier reported that Varnex Labs had sold the tool to the interior ministry.", "allegation"),
    ("A report by the Meridian Rights Project concluded that Orvel Systems cameras were installed in detention "
     "centres.", "allegation"),
    ("Rights groups say Varnex Labs sold the spyware to the security services, a report published on Monday found.",
     "allegation"),
    ("The Trade Ministry added Varnex Labs to its export blacklist on Tuesday, citing its role in surveillance.",
     "official_statement"),
    ("The Treasury announced sanctions against Varnex Labs and two of its executives.", "official_statement"),
    ("A spokesperson for the vendor denied that its cameras could identify ethnic groups.", "company_statement"),
    ("Procurement documents show that the border police bought the drones in 2021.", "fact"),
]


@pytest.mark.skipif(not STANCE_PATH.is_file(), reason=f"no trained stance model at {STANCE_PATH}")
@pytest.mark.parametrize(("text", "stance"), READER_CASES)
def test_trained_stance_model(settings_factory, shared_tagger, text: str, stance: str) -> None:
    reader = StanceReader(settings_factory(stance_model="learned"))
    assert reader.model is not None and reader.version.startswith("model")
    assert reader.classify(text, shared_tagger.tag(text).mentions) == stance


KNOWN_MISSES = [  # the model card's known gaps: findings without a speaker, rulings as actions
    ("An investigation by the Daily Courier found that Orvel Systems had shipped cameras to the border police.",
     "allegation"),
    ("The data protection regulator fined Orvel Systems 2 million euros for collecting biometric data unlawfully.",
     "official_statement"),
]


@pytest.mark.skipif(not STANCE_PATH.is_file(), reason=f"no trained stance model at {STANCE_PATH}")
@pytest.mark.xfail(strict=True, reason="known gaps of the stance model (models/stance.md)")
@pytest.mark.parametrize(("text", "stance"), KNOWN_MISSES)
def test_trained_stance_model_known_gaps(settings_factory, shared_tagger, text: str, stance: str) -> None:
    reader = StanceReader(settings_factory(stance_model="learned"))
    assert reader.classify(text, shared_tagger.tag(text).mentions) == stance


def test_rules_setting_reads_with_the_rules(settings_factory, shared_tagger) -> None:
    reader = StanceReader(settings_factory(stance_model="rules"))
    text = READER_CASES[1][0]
    mentions = shared_tagger.tag(text).mentions
    assert reader.model is None and reader.version == "rules2"
    assert reader.classify(text, mentions) == classify_stance(text, mentions)


def test_features_never_spell_out_names(shared_tagger) -> None:
    text = KNOWN_MISSES[0][0]
    features = stance_features(text, shared_tagger.tag(text).mentions)
    assert not any("orvel" in f or "courier" in f for f in features)
    assert "w=found" in features and any(f.startswith("ent=") for f in features)
