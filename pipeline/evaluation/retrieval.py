"""Claim retrieval on the dev set: nDCG@10, Recall@10 and MRR over the 15 graded queries
(shared ``ir_score.py``).

The dev documents are ingested into a scratch home; each gold claim (a quoted sentence) is matched
to the stored claim that overlaps its quote in the same document; rankings are over all stored
claims of the dev set, so a non-gold sentence ranked high costs a place ("all claims", strict), and
over the 25 judged claims alone ("judged pool": non-gold sentences removed from the ranking, which
is how the queries were judged: each against all 25 claims).

With ``distractors`` (``dualuse eval retrieval --distractors PATH``), other documents are ingested into
the same scratch store first, as a stand-in for a real collection: a larger vocabulary for BM25's
statistics and many more claims for every query to get past. They are assumed not relevant (the
extraction benchmark's 181 general news pages are the intended set: none is about the dev set's
story), so a distractor ranked high costs a place in "all claims" and "documents".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError
from pipeline.evaluation.devset import dev_store, load_scorer
from pipeline.evaluation.sets import EvalSet, load_set
from pipeline.ingest import Pipeline, ingest
from pipeline.search import MODES, SearchQuery, by_document, search
from pipeline.settings import Settings

RANK_DEPTH = 50


def _norm(s: str) -> str:
    return " ".join(s.replace("\u00a0", " ").split())


def evaluate_retrieval(settings: Settings, pipeline: Pipeline | None = None,
                       modes: tuple[str, ...] = MODES, distractors: Sequence[str] = (),
                       evalset: EvalSet | None = None) -> dict[str, Any]:
    """Metrics per search mode (dense, keyword, hybrid) on a dev set's queries (the five-document
    set's by default); with ``distractors`` (files, folders or URLs) ingested beside its documents.
    Documents are graded by the set's own document grades where it has them (the wide set), else by
    their best gold claim."""
    evalset = evalset or load_set("devset")
    scorer = load_scorer("ir_score")
    queries = evalset.queries
    qrels = {q["qid"]: q["relevant_claims"] for q in queries}
    out: dict[str, Any] = {"set": evalset.name, "queries": len(qrels), "default_mode": settings.search_mode}
    sources = [str(p) for p in evalset.docs.values()] if evalset.name != "devset" else None
    with dev_store(settings, pipeline, sources) as (scratch, pipe):
        if distractors:
            out["distractors"] = _add_distractors(pipe, scratch, distractors)
        gold_claims = evalset.claims
        gold_of = _match_gold(pipe, gold_claims)
        gold_ids = set(gold_of.values())
        out["gold_claims_matched"] = len(gold_ids)
        doc_of_gold = {g["id"]: g["doc"] for g in gold_claims}
        doc_qrels: dict[str, dict[str, int]] = {}
        for q in queries:
            if q.get("relevant_docs"):
                doc_qrels[q["qid"]] = dict(q["relevant_docs"])
                continue
            for cid, grade in q["relevant_claims"].items():
                d = doc_of_gold[cid]
                doc_qrels.setdefault(q["qid"], {})[d] = max(grade, doc_qrels.get(q["qid"], {}).get(d, 0))
        stem_of = {row[0]: Path(row[1]).stem
                   for row in pipe.store.conn.execute("SELECT doc_id, source FROM documents")}
        for mode in modes:
            run = {}
            doc_run = {}
            most_from_one_doc = {}
            for q in queries:
                hits = search(SearchQuery(q["q"], RANK_DEPTH, mode=mode), pipe.store, pipe.index,
                              pipe.embedder, scratch, pipe.tagger)
                # grouped copies are a view: every claim counts, in the order shown
                shown = [c.claim_id for h in hits for c in (h.row, *h.also)]
                run[q["qid"]] = [gold_of.get(cid, cid) for cid in shown]
                doc_run[q["qid"]] = [stem_of[d.doc_id] for d in by_document(hits, 10)]
                top = Counter(h.row.doc_id for h in hits[:10])
                most_from_one_doc[q["qid"]] = max(top.values(), default=0)
            pooled = {qid: [c for c in ranked if c in gold_ids] for qid, ranked in run.items()}
            out[mode] = {
                "judged_pool": {k: round(v, 4) for k, v in scorer.evaluate(qrels, pooled).items()},
                "all_claims": {k: round(v, 4) for k, v in scorer.evaluate(qrels, run).items()},
                "documents": {k: round(v, 4) for k, v in scorer.evaluate(doc_qrels, doc_run).items()},
                "top10_most_claims_from_one_document": max(most_from_one_doc.values(), default=0),
            }
    return out


def _add_distractors(pipe: Pipeline, scratch: Settings, sources: Sequence[str]) -> dict[str, Any]:
    report = ingest(list(sources), scratch, pipeline=pipe)
    if not report.count("added"):
        raise UsageError(f"no document could be ingested from {', '.join(sources)} as distractors",
                         hint="give a folder of HTML, PDF or text files, "
                              "e.g. ../shared/article-extraction-benchmark/html")
    return {"sources": list(sources), "documents": report.count("added"), "skipped": report.count("skipped"),
            "failed": report.count("failed"), "claims_in_store": pipe.store.claim_count()}


def _match_gold(pipe: Pipeline, gold: list[dict[str, Any]]) -> dict[str, str]:
    """stored claim id -> gold claim id, by the largest overlap of the quote within its document."""
    conn = pipe.store.conn
    out: dict[str, str] = {}
    for g in gold:
        quote = _norm(g["quote"])
        rows = [(cid, text) for cid, text, source in conn.execute(
            "SELECT c.claim_id, c.text, d.source FROM claims c JOIN documents d USING (doc_id) WHERE d.source LIKE ?",
            (f"%{g['doc']}%",),
        ).fetchall() if Path(source).stem == g["doc"]]
        best, best_len = None, 0
        for cid, text in rows:
            t = _norm(text)
            overlap = len(t) if t in quote else len(quote) if quote in t else 0
            if overlap > best_len:
                best, best_len = cid, overlap
        if best is not None:
            out[best] = g["id"]
    return out
