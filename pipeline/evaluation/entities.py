"""Typed entity quality on the dev set, scored with the shared ``ner_score.py`` semantics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.evaluation.devset import load_scorer, read_jsonl, require_shared
from pipeline.extract import extract
from pipeline.fetch import load_file
from pipeline.settings import Settings
from pipeline.tag import Tagger

CLASS_OF_LABEL = {"company": "companies", "product": "products", "agency": "agencies", "region": "regions"}


def predict(tagger: Tagger, settings: Settings, docs_dir: Path) -> list[dict[str, Any]]:
    """One prediction row per dev document: distinct surface strings per class, as the scorer wants."""
    rows = []
    for path in sorted(docs_dir.glob("*.txt")):
        doc = extract(load_file(str(path), settings))
        result = tagger.tag(doc.text)
        row: dict[str, Any] = {"id": path.stem, **{c: [] for c in CLASS_OF_LABEL.values()}}
        for m in result.mentions:
            cls = CLASS_OF_LABEL.get(m.label)
            if cls and m.text not in row[cls]:
                row[cls].append(m.text)
        rows.append(row)
    return rows


def evaluate_entities(tagger: Tagger, settings: Settings) -> dict[str, Any]:
    shared = require_shared()
    scorer = load_scorer("ner_score")
    gold = {r["id"]: r for r in read_jsonl(shared / "devset" / "gold_entities.jsonl")}
    preds = predict(tagger, settings, shared / "devset" / "docs")
    scores = scorer.score(gold, {r["id"]: r for r in preds})
    return {
        "scores": {k: {"p": round(p, 3), "r": round(r, 3), "f1": round(f, 3)} for k, (p, r, f) in scores.items()},
        "predictions": preds,
    }
