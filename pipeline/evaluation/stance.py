"""Stance accuracy on a dev set's labelled claims (the five-document set's 25, the wide set's 324),
with a confusion matrix and, for the wide set, accuracy per topic."""

from __future__ import annotations

from typing import Any

from pipeline.evaluation.sets import EvalSet, load_set
from pipeline.stance import STANCES, StanceReader
from pipeline.tag import Tagger


def evaluate_stance(tagger: Tagger, evalset: EvalSet | None = None,
                    reader: StanceReader | None = None) -> dict[str, Any]:
    evalset = evalset or load_set("devset")
    reader = reader or StanceReader(tagger.settings)
    confusion = {gold: dict.fromkeys(STANCES, 0) for gold in STANCES}
    correct = 0
    by_topic: dict[str, list[int]] = {}
    for c in evalset.claims:
        predicted = reader.classify(c["quote"], tagger.tag(c["quote"]).mentions)
        confusion[c["stance"]][predicted] += 1
        hit = int(predicted == c["stance"])
        correct += hit
        by_topic.setdefault(evalset.topics.get(c["doc"], "?"), []).append(hit)
    out: dict[str, Any] = {"claims": len(evalset.claims), "accuracy": round(correct / len(evalset.claims), 4),
                           "confusion_gold_by_predicted": confusion}
    if reader.model is not None and evalset.name in reader.model.meta.get("trained_on", []):
        out["in_sample"] = (f"the stance model was trained on {evalset.name}: this accuracy is in-sample; the "
                            "held-out one comes from 'dualuse train stance --cv-only'")
    if len(by_topic) > 1:
        out["per_topic"] = {t: round(sum(v) / len(v), 4) for t, v in sorted(by_topic.items())}
    return out
