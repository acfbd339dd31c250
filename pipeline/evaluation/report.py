"""``dualuse eval``: run the quality measurements and compare them with the pinned floors.

The floors in ``models/quality_floors.json`` are the golden-corpus gate: a change that lowers a
figure below its floor fails ``dualuse eval --check`` (and the gate test) until the floor is
lowered on purpose, in the same commit, with the reason in its message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline.evaluation.devset import require_shared
from pipeline.settings import MODELS_DIR, Settings

FLOORS_PATH = MODELS_DIR / "quality_floors.json"


def load_floors() -> dict[str, dict[str, float]]:
    data: dict[str, dict[str, float]] = json.loads(FLOORS_PATH.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def flatten(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The figures the floors name, as {section: {metric: value}}."""
    flat: dict[str, dict[str, float]] = {}
    if "entities" in result:
        flat["entities"] = {f"{cls}_f1": v["f1"] for cls, v in result["entities"].items()}
    if "alias_clusters" in result:
        flat.setdefault("entities", {})["alias_clusters_matched"] = result["alias_clusters"]["matched"]
    if "retrieval" in result:
        r = result["retrieval"][result["retrieval"]["default_mode"]]
        flat["retrieval"] = {"judged_pool_ndcg@10": r["judged_pool"]["ndcg@10"],
                             "all_claims_ndcg@10": r["all_claims"]["ndcg@10"],
                             "documents_ndcg@10": r["documents"]["ndcg@10"]}
    if "stance" in result:
        flat["stance"] = {"accuracy": result["stance"]["accuracy"]}
    if "dossier" in result:
        companies = [v for k, v in result["dossier"].items() if k != "stance"]
        flat["dossier"] = {"claim_recall_min": min(v["claim_recall"] for v in companies),
                           "claim_precision_min": min(v["claim_precision"] for v in companies),
                           "chain_link_recall_min": min(v["chain_link_recall"] for v in companies),
                           "stored_stance_accuracy": result["dossier"]["stance"]["accuracy"]}
    if "extraction" in result:
        flat["extraction"] = {"f1": result["extraction"]["dualuse"]["f1"]}
    return flat


def below_floors(result: dict[str, Any]) -> list[str]:
    failures = []
    floors = load_floors()
    for section, figures in flatten(result).items():
        for metric, floor in floors.get(section, {}).items():
            value = figures.get(metric)
            if value is not None and value < floor:
                failures.append(f"{section}.{metric} = {value:.4f} < floor {floor:.4f}")
    return failures


WIDE_MEASURES = ("entities", "stance", "retrieval", "dossier", "all")
"""What ``--set devset-wide`` measures (extraction is the benchmark's, on any set)."""


def run_wide(settings: Settings, what: str, set_name: str, leave_kb_out: bool) -> dict[str, Any]:
    """Entities (overall, per topic, optionally leave-KB-out) and stance on the named set; no floors."""
    from pipeline.evaluation.entities import leave_kb_out_tagger, score_set, tag_set
    from pipeline.evaluation.sets import load_set
    from pipeline.evaluation.stance import evaluate_stance
    from pipeline.tag import Tagger

    evalset = load_set(set_name)
    tagger = Tagger(settings)
    result: dict[str, Any] = {"set": set_name, "documents": len(evalset.docs), "topics": len(evalset.topic_names)}
    typer = tagger.typer
    if typer is not None and set_name in typer.meta.get("trained_on", []):
        result["in_sample"] = (f"the span typer was trained on {set_name}: these entity figures are in-sample; "
                               "held-out ones come from 'dualuse train typer --cv-only'")
    if what in ("entities", "all"):
        scored = score_set(evalset, tag_set(tagger, settings, evalset))
        result["entities"] = scored["scores"]
        if "per_topic" in scored:
            result["entities_per_topic"] = {t: v["micro"] for t, v in scored["per_topic"].items()}
        if leave_kb_out:
            lko = leave_kb_out_tagger(settings, evalset, tagger)
            scored = score_set(evalset, tag_set(lko, settings, evalset))
            result["entities_leave_kb_out"] = scored["scores"]
            result["leave_kb_out_removed_entities"] = len(tagger.kb.entities) - len(lko.kb.entities)
            if "per_topic" in scored:
                result["entities_leave_kb_out_per_topic"] = {t: v["micro"] for t, v in scored["per_topic"].items()}
    if what in ("stance", "all"):
        result["stance"] = evaluate_stance(tagger, evalset)
    if what in ("retrieval", "dossier", "all") and not leave_kb_out:
        from pipeline.evaluation.dossier import evaluate_wide_dossiers
        from pipeline.evaluation.retrieval import evaluate_retrieval
        from pipeline.ingest import Pipeline

        models = Pipeline(settings, tagger=tagger)  # one tagger and embedder for both scratch stores
        if what in ("retrieval", "all"):
            result["retrieval"] = evaluate_retrieval(settings, models, evalset=evalset)
        if what in ("dossier", "all") and evalset.dossiers:
            result["dossier"] = evaluate_wide_dossiers(settings, models, evalset)
    return result


def run_eval(settings: Settings, what: str = "all",
             distractors: Sequence[str] = (), set_name: str = "devset",
             leave_kb_out: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Run the evaluations ``what`` names; ``distractors`` go into the retrieval store beside the dev
    documents (their figures are reported, and floors are checked only without them). The floors are
    the five-document set's: another set (or leave-KB-out) is measured and reported, never gated."""
    if set_name != "devset" or leave_kb_out:
        return run_wide(settings, what, set_name, leave_kb_out), []
    shared = require_shared()
    result: dict[str, Any] = {}
    tagger = None
    if what in ("entities", "all"):
        from pipeline.evaluation.entities import evaluate_clusters, evaluate_entities, tag_devset
        from pipeline.tag import Tagger

        tagger = Tagger(settings)
        tagged = tag_devset(tagger, settings)
        result["entities"] = evaluate_entities(tagger, settings, tagged)["scores"]
        clusters = evaluate_clusters(tagger, settings, tagged)
        result["alias_clusters"] = {k: clusters[k] for k in ("clusters", "matched")}
    if what in ("stance", "all"):
        from pipeline.evaluation.stance import evaluate_stance
        from pipeline.tag import Tagger

        tagger = tagger or Tagger(settings)
        result["stance"] = evaluate_stance(tagger)
    models = None
    if what in ("retrieval", "dossier", "all"):
        from pipeline.ingest import Pipeline

        models = Pipeline(settings, tagger=tagger)  # one tagger and embedder for both scratch stores
    if what in ("retrieval", "all"):
        from pipeline.evaluation.retrieval import evaluate_retrieval

        result["retrieval"] = evaluate_retrieval(settings, models, distractors=distractors)
    if what in ("dossier", "all"):
        from pipeline.evaluation.dossier import evaluate_dossiers

        result["dossier"] = evaluate_dossiers(settings, models)
    if what in ("extraction", "all"):
        from pipeline.evaluation.extraction import evaluate_extraction

        result["extraction"] = evaluate_extraction(shared / "article-extraction-benchmark")
    return result, below_floors(result) if not distractors else []
