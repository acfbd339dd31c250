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


def evaluate_clusters(tagger: Tagger, settings: Settings) -> dict[str, Any]:
    """Alias clustering against ``aliases.jsonl``: a gold cluster is matched when every mention of
    its aliases in the dev documents gets one and the same canonical id, used by no other cluster."""
    shared = require_shared()
    scorer = load_scorer("ner_score")
    clusters = read_jsonl(shared / "devset" / "aliases.jsonl")
    seen: dict[str, set[str]] = {}  # normalised surface -> entity ids assigned
    for path in sorted((shared / "devset" / "docs").glob("*.txt")):
        doc = extract(load_file(str(path), settings))
        for m in tagger.tag(doc.text).mentions:
            seen.setdefault(scorer.norm(m.text), set()).add(m.entity_id)
    details: list[dict[str, Any]] = []
    owner: dict[str, str] = {}
    for c in clusters:
        ids: set[str] = set()
        found = [a for a in c["aliases"] if scorer.norm(a) in seen]
        for a in found:
            ids |= seen[scorer.norm(a)]
        details.append({"canonical": c["canonical"], "aliases_found": len(found), "aliases": len(c["aliases"]),
                        "entity_ids": sorted(ids)})
        for i in ids:
            owner.setdefault(i, c["canonical"])
    matched = 0
    for d in details:
        eids: list[str] = d["entity_ids"]
        d["matched"] = (len(eids) == 1 and owner[eids[0]] == d["canonical"]
                        and sum(1 for o in details if eids[0] in o["entity_ids"]) == 1)
        matched += int(d["matched"])
    return {"clusters": len(details), "matched": matched, "details": details}
