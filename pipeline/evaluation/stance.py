"""Stance accuracy on the dev set's 25 labelled claims, with a confusion matrix."""

from __future__ import annotations

from typing import Any

from pipeline.evaluation.devset import read_jsonl, require_shared
from pipeline.stance import STANCES, classify_stance
from pipeline.tag import Tagger


def evaluate_stance(tagger: Tagger) -> dict[str, Any]:
    claims = read_jsonl(require_shared() / "devset" / "claims.jsonl")
    confusion = {gold: dict.fromkeys(STANCES, 0) for gold in STANCES}
    correct = 0
    for c in claims:
        predicted = classify_stance(c["quote"], tagger.tag(c["quote"]).mentions)
        confusion[c["stance"]][predicted] += 1
        correct += predicted == c["stance"]
    return {"claims": len(claims), "accuracy": round(correct / len(claims), 4),
            "confusion_gold_by_predicted": confusion}
