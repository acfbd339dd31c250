"""Typed entity quality on a dev set, scored with the shared ``ner_score.py`` semantics, overall and
per topic; with ``leave_kb_out`` the tagger runs on a knowledge base from which every name the set's
gold lists was removed (what new coverage of unlisted vendors looks like to it)."""

from __future__ import annotations

from typing import Any

from pipeline.evaluation.devset import load_scorer, read_jsonl, require_shared
from pipeline.evaluation.sets import EvalSet, load_set
from pipeline.extract import extract
from pipeline.fetch import load_file
from pipeline.records import Mention
from pipeline.settings import Settings
from pipeline.tag import Tagger

CLASS_OF_LABEL = {"company": "companies", "product": "products", "agency": "agencies", "region": "regions"}


Tagged = dict[str, tuple[Mention, ...]]
"""Dev document id (file stem) -> its mentions."""


def tag_set(tagger: Tagger, settings: Settings, evalset: EvalSet) -> Tagged:
    """Extract and tag a set's documents once; every entity measurement reads this."""
    out: Tagged = {}
    for doc_id, path in evalset.docs.items():
        doc = extract(load_file(str(path), settings))
        out[doc_id] = tagger.tag(doc.text).mentions
    return out


def tag_devset(tagger: Tagger, settings: Settings) -> Tagged:
    return tag_set(tagger, settings, load_set("devset"))


def leave_kb_out_tagger(settings: Settings, evalset: EvalSet, base: Tagger | None = None) -> Tagger:
    """A tagger whose knowledge base holds none of the names ``evalset``'s gold lists."""
    kb = (base.kb if base is not None else Tagger(settings).kb).without(evalset.gold_names())
    return Tagger(settings, kb=kb)


def predict(tagged: Tagged) -> list[dict[str, Any]]:
    """One prediction row per dev document: distinct surface strings per class, as the scorer wants."""
    rows = []
    for stem, mentions in tagged.items():
        row: dict[str, Any] = {"id": stem, **{c: [] for c in CLASS_OF_LABEL.values()}}
        for m in mentions:
            cls = CLASS_OF_LABEL.get(m.label)
            if cls and m.text not in row[cls]:
                row[cls].append(m.text)
        rows.append(row)
    return rows


def _rounded(scores: dict[str, tuple[float, float, float]]) -> dict[str, dict[str, float]]:
    return {k: {"p": round(p, 3), "r": round(r, 3), "f1": round(f, 3)} for k, (p, r, f) in scores.items()}


def score_set(evalset: EvalSet, tagged: Tagged) -> dict[str, Any]:
    """Scores overall and per topic (each topic's documents scored alone)."""
    scorer = load_scorer("ner_score")
    preds = {r["id"]: r for r in predict(tagged)}
    gold = {d: evalset.gold_entities[d] for d in tagged}
    out: dict[str, Any] = {"scores": _rounded(scorer.score(gold, preds)), "predictions": list(preds.values())}
    if len(evalset.topic_names) > 1:
        out["per_topic"] = {
            topic: _rounded(scorer.score({d: g for d, g in gold.items() if evalset.topics[d] == topic}, preds))
            for topic in evalset.topic_names
        }
    return out


def evaluate_entities(tagger: Tagger, settings: Settings, tagged: Tagged | None = None,
                      evalset: EvalSet | None = None) -> dict[str, Any]:
    evalset = evalset or load_set("devset")
    return score_set(evalset, tagged if tagged is not None else tag_set(tagger, settings, evalset))


def evaluate_clusters(tagger: Tagger, settings: Settings, tagged: Tagged | None = None) -> dict[str, Any]:
    """Alias clustering against ``aliases.jsonl``: a gold cluster is matched when every mention of
    its aliases in the dev documents gets one and the same canonical id, used by no other cluster."""
    shared = require_shared()
    scorer = load_scorer("ner_score")
    clusters = read_jsonl(shared / "devset" / "aliases.jsonl")
    seen: dict[str, set[str]] = {}  # normalised surface -> entity ids assigned
    for mentions in (tagged if tagged is not None else tag_devset(tagger, settings)).values():
        for m in mentions:
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
