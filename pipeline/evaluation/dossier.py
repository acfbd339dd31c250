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
from pipeline.evaluation.sets import EvalSet, load_set
from pipeline.ingest import Pipeline
from pipeline.kb import load_kb
from pipeline.records import entity_id
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


def evaluate_wide_dossiers(settings: Settings, pipeline: Pipeline | None = None,
                           evalset: EvalSet | None = None) -> dict[str, Any]:
    """The wide set's 22 gold dossiers: does each company get a dossier (by its name or any gold
    alias), and how many of its vendor -> product / agency / region links appear in its chain rows
    (a link is found when one row names each of its non-null parts; names compared with
    ``ner_score.norm``, the gold name matching the row's name or a name the coverage used for that
    entity, or either containing the other)."""
    from pipeline.errors import DualuseError
    from pipeline.evaluation.devset import load_scorer

    evalset = evalset or load_set("devset-wide")
    norm = load_scorer("ner_score").norm
    sources = [str(p) for p in evalset.docs.values()]

    def close(g: str, r: str) -> bool:
        return g == r or (len(g) > 3 and len(r) > 3 and (g in r or r in g))

    def same(gold: str | None, row: str | None, kind: str, aliases: dict[str, list[str]]) -> bool:
        """The gold name against the row's canonical name or any name the coverage used for it
        ("FCC" for the Federal Communications Commission)."""
        if gold is None:
            return True
        if row is None:
            return False
        g = norm(gold)
        return any(close(g, norm(n)) for n in (row, *aliases.get(entity_id(kind, row), [])))

    out: dict[str, Any] = {"companies": {}}
    found_total = stated_total = with_dossier = 0
    with dev_store(settings, pipeline, sources) as (_scratch, pipe):
        kb = load_kb(settings.kb_extra)
        for gold in evalset.dossiers:
            dossier = None
            for name in (gold["company"], *gold.get("aliases", [])):
                try:
                    dossier = build_dossier(pipe.store, kb, name)
                    break
                except DualuseError:
                    continue
            links = [link for link in gold["links"] if any(link.get(k) for k in ("product", "agency", "region"))]
            found = 0
            if dossier is not None:
                with_dossier += 1
                aliases = pipe.store.aliases_of(sorted({entity_id(kind, name) for r in dossier.chain
                                                        for kind, name in (("product", r.product),
                                                                           ("agency", r.agency),
                                                                           ("region", r.region)) if name}))
                for link in links:
                    found += any(all(same(link.get(kind), getattr(r, kind), kind, aliases)
                                     for kind in ("product", "agency", "region")) for r in dossier.chain)
            found_total += found
            stated_total += len(links)
            out["companies"][gold["company"]] = {"dossier": dossier is not None, "links": len(links),
                                                 "links_found": found,
                                                 "claims": len(dossier.claims) if dossier else 0}
    out["dossiers"] = f"{with_dossier} of {len(evalset.dossiers)}"
    out["chain_link_recall"] = round(found_total / stated_total, 4) if stated_total else 1.0
    out["chain_links"] = stated_total
    return out
