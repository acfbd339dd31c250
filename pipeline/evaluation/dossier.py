"""Dossiers on the dev set: for Thermo Fisher Scientific and Promega, which gold claims their
dossiers contain (every claim whose ``company`` or ``other_companies`` names the company must be
in, none about only the other company), stance of the stored claims against the 25 gold labels
(with a confusion matrix), and how many of the vendor -> product/agency/region links the gold
claims state appear in the dossier's chain rows (names compared through the dev set's alias
clusters).
"""

from __future__ import annotations

from typing import Any

from pipeline.dossier import build_dossier
from pipeline.evaluation.devset import dev_store, read_jsonl, require_shared
from pipeline.evaluation.retrieval import _match_gold
from pipeline.ingest import Pipeline
from pipeline.kb import load_kb
from pipeline.settings import Settings
from pipeline.stance import STANCES

COMPANIES = ("Thermo Fisher Scientific", "Promega")


def _key(name: str) -> str:
    return " ".join(name.replace("\u00a0", " ").replace("’", "'").split()).casefold()


def evaluate_dossiers(settings: Settings, pipeline: Pipeline | None = None) -> dict[str, Any]:
    devset = require_shared() / "devset"
    gold = read_jsonl(devset / "claims.jsonl")
    cluster: dict[str, str] = {}
    for c in read_jsonl(devset / "aliases.jsonl"):
        for form in (c["canonical"], *c["aliases"], *c.get("other_known_forms", [])):
            cluster[_key(form)] = _key(c["canonical"])

    def canon(name: str) -> str:
        return cluster.get(_key(name), _key(name))

    out: dict[str, Any] = {}
    with dev_store(settings, pipeline) as (_scratch, pipe):
        gold_of = _match_gold(pipe, gold)  # stored claim id -> gold id
        stored_of = {g: c for c, g in gold_of.items()}
        kb = load_kb(settings.kb_extra)
        for company in COMPANIES:
            d = build_dossier(pipe.store, kb, company)
            inside = {gold_of[c.claim_id] for c in d.claims if c.claim_id in gold_of}
            about = {g["id"] for g in gold if company in (g["company"], *g["other_companies"])}
            other = {g["id"] for g in gold if g["id"] not in about and g["company"]}
            links = {(kind, canon(n)) for g in gold if g["id"] in about
                     for kind, names in (("product", g["products"]), ("agency", g["agencies"]),
                                         ("region", g["regions"])) for n in names}
            rows = {(kind, canon(v)) for r in d.chain
                    for kind, v in (("product", r.product), ("agency", r.agency), ("region", r.region)) if v}
            found = links & rows
            out[company] = {
                "claims": len(d.claims), "documents": len(d.sources),
                "gold_claims": len(about), "gold_claims_in": len(about & inside),
                "missing": sorted(about - inside), "about_other_company_in": sorted(other & inside),
                "claim_recall": round(len(about & inside) / len(about), 4) if about else 1.0,
                # of the gold claims about some company that the dossier holds, the share about this one
                "claim_precision": round(len(about & inside) / len((about | other) & inside), 4)
                if (about | other) & inside else 1.0,
                "chain_links_stated": len(links), "chain_links_found": len(found),
                "chain_link_recall": round(len(found) / len(links), 4) if links else 1.0,
                "chain_links_missing": sorted(f"{k}: {n}" for k, n in links - rows),
            }
        confusion = {s: dict.fromkeys(STANCES, 0) for s in STANCES}
        stance_of = dict(pipe.store.conn.execute("SELECT claim_id, stance FROM claims").fetchall())
        correct = 0
        for g in gold:
            predicted = stance_of.get(stored_of.get(g["id"], "")) or "fact"
            confusion[g["stance"]][predicted] += 1
            correct += predicted == g["stance"]
        out["stance"] = {"claims": len(gold), "accuracy": round(correct / len(gold), 4),
                         "confusion_gold_by_predicted": confusion}
    return out
