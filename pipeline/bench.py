"""``dualuse bench``: throughput per stage, search latency at a given index size, peak memory, and
the wall time of cold CLI processes. Prints JSON; never used in timed test assertions.

The stage corpus is generated (news-like paragraphs naming vendors, products, agencies and places
drawn from the knowledge base), so the figures are reproducible anywhere. The latency index holds
``n_claims`` distinct, actually embedded sentences: real news text (the article bodies of the shared
extraction benchmark, when ``../shared`` is present) topped up with generated sentences, each stored
with its own embedding (no mixing or perturbation) in a scratch home through the same store and
index code the pipeline uses. Queries are held-out sentences of both kinds, never indexed. The
embeddings are cached (``$DUALUSE_BENCH_CACHE``, default a folder in the temp dir) under a key of
the model and the texts, so repeated runs embed once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.settings import Settings

TEMPLATES = (
    "{company} sold {product} systems to the {agency} in {region} in {year}, according to procurement records.",
    "The {agency} bought equipment from {company} through a local distributor, documents show.",
    "{company} said in a statement that it does not sell {product} to police in {region}.",
    "Researchers found that {product}, made by {company}, was used to monitor journalists in {region}.",
    "Lawmakers asked the {agency} to explain why {company} continued to supply customers in {region}.",
    "A spokesperson for {company} declined to comment on the contract with the {agency}.",
    "The deal, worth about ${amount} million, included training for officers of the {agency} in {region}.",
    "Human rights groups said the {agency} used {product} to profile minorities in {region}.",
)


def _pick(rng: random.Random, items: list[str]) -> str:
    return items[rng.randrange(len(items))]


def generate_docs(n: int, seed: int = 7, paragraphs: int = 6) -> list[str]:
    from pipeline.kb import load_kb

    kb = load_kb()
    by_type: dict[str, list[str]] = {}
    for ent in kb.entities.values():
        by_type.setdefault(ent.etype, []).append(ent.name)
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        paras = []
        for _p in range(paragraphs):
            sents = [
                _pick(rng, list(TEMPLATES)).format(
                    company=_pick(rng, by_type["company"]), product=_pick(rng, by_type["product"]),
                    agency=_pick(rng, by_type["agency"]), region=_pick(rng, by_type["region"]),
                    year=rng.randrange(2010, 2025), amount=rng.randrange(1, 90),
                )
                for _s in range(4)
            ]
            paras.append(" ".join(sents))
        docs.append("\n\n".join(paras))
    return docs


def _rate(n_docs: int, words: int, seconds: float) -> dict[str, float]:
    return {"seconds": round(seconds, 3), "docs_per_s": round(n_docs / seconds, 2),
            "words_per_s": round(words / seconds, 1)}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def percentiles(times_ms: list[float]) -> dict[str, float]:
    """p50 and p95 (nearest rank) of latencies in milliseconds."""
    times = sorted(times_ms)
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_stages(settings: Settings, n_docs: int, log: Callable[[str], None]) -> dict[str, Any]:
    from pipeline.claims import cut_claims
    from pipeline.extract import extract
    from pipeline.ingest import Pipeline, ingest
    from pipeline.records import Fetched, SourceKind
    from pipeline.tag import Tagger, resolve_spacy_package

    texts = generate_docs(n_docs)
    words = sum(len(t.split()) for t in texts)
    html = [
        f"<html><head><title>Bench {i}</title></head><body><article><h1>Bench {i}</h1>"
        + "".join(f"<p>{p}</p>" for p in t.split("\n\n")) + "</article></body></html>"
        for i, t in enumerate(texts)
    ]
    raws = [Fetched(source=f"bench-{i}.html", locator=f"bench-{i}", kind=SourceKind.HTML, body=h.encode())
            for i, h in enumerate(html)]
    log(f"bench: {n_docs} generated documents, {words} words")
    docs, t_extract = _timed(lambda: [extract(r) for r in raws])

    tagger = Tagger(settings)
    tagger.warm_up()
    tagged, t_tag = _timed(lambda: [tagger.tag(d.text) for d in docs])

    import spacy

    bare = spacy.load(resolve_spacy_package(settings.spacy_model))
    _, t_bare = _timed(lambda: [d.ents for d in bare.pipe((d.text for d in docs), batch_size=16)])

    claims = [cut_claims(d, t) for d, t in zip(docs, tagged, strict=True)]
    claim_texts = [c.text for cs in claims for c in cs]
    pipe = Pipeline(settings, tagger=tagger)
    pipe.embedder.warm_up()
    _, t_embed = _timed(lambda: pipe.embedder.embed(claim_texts))

    with tempfile.TemporaryDirectory(prefix="dualuse-bench-") as tmp:
        scratch = replace(settings, home=Path(tmp))
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for i, h in enumerate(html):
            (folder / f"doc{i:05d}.html").write_text(h, encoding="utf-8")
        e2e_pipe = Pipeline(scratch, tagger=tagger, embedder=pipe.embedder)
        report, t_e2e = _timed(lambda: ingest([str(folder)], scratch, pipeline=e2e_pipe))
        # index stage alone: rebuild the vector index from the stored claims
        from pipeline.index import rebuild

        n_indexed, t_index = _timed(lambda: rebuild(e2e_pipe.store, e2e_pipe.index))
        e2e_pipe.close()
    return {
        "documents": n_docs, "words": words, "claims": len(claim_texts),
        "extract": _rate(n_docs, words, t_extract),
        "tag": _rate(n_docs, words, t_tag),
        "tag_bare_en_core_web_sm": _rate(n_docs, words, t_bare),
        "tag_speed_ratio_vs_bare": round(t_bare / t_tag, 3),
        "embed": _rate(n_docs, words, t_embed) | {"claims_per_s": round(len(claim_texts) / t_embed, 1)},
        "index": {"seconds": round(t_index, 3), "claims_per_s": round(n_indexed / t_index, 1)},
        "end_to_end": _rate(n_docs, words, t_e2e) | {"added": report.count("added")},
    }


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


def news_sentences() -> list[str]:
    """Distinct sentences of the real article bodies in the shared extraction benchmark (empty
    without ``../shared``), in a fixed order."""
    from pipeline.evaluation.devset import shared_dir

    shared = shared_dir()
    path = shared / "article-extraction-benchmark" / "ground-truth.json" if shared else None
    if path is None or not path.is_file():
        return []
    bodies = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, None] = {}
    for key in sorted(bodies):
        for para in str(bodies[key].get("articleBody", "")).split("\n"):
            for sent in _SENTENCE_END.split(para.strip()):
                sent = " ".join(sent.split())
                if 30 <= len(sent) <= 400:
                    out[sent] = None
    return list(out)


def generated_sentences(n: int, seed: int, exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """``n`` distinct generated sentences (``generate_docs``), none of them in ``exclude``."""
    out: dict[str, None] = {}
    batch = 0
    while len(out) < n:
        for doc in generate_docs(max(1, (n - len(out)) // 20 + 10), seed=seed * 1000 + batch):
            for sent in _SENTENCE_END.split(doc.replace("\n\n", " ")):
                if sent not in exclude:
                    out[sent] = None
        batch += 1
    return list(out)[:n]


def bench_corpus(n_claims: int, n_queries: int) -> tuple[list[str], list[str]]:
    """(texts to index, queries): ``n_claims`` distinct sentences, real news first, topped up with
    generated ones; queries are held-out sentences, half news (when there are any) and half generated."""
    news = news_sentences()
    rng = random.Random(13)
    rng.shuffle(news)
    news_queries = news[: n_queries // 2] if len(news) > 10 * n_queries else []
    news = news[len(news_queries):][:n_claims]
    gen_queries = generated_sentences(n_queries - len(news_queries), seed=97)
    generated = generated_sentences(n_claims - len(news), seed=11, exclude=set(gen_queries) | set(news))
    queries = news_queries + gen_queries
    rng.shuffle(queries)
    return news + generated, queries


def cached_embeddings(embedder: Any, texts: list[str], log: Callable[[str], None]) -> np.ndarray:
    """Embeddings of ``texts``, from the bench cache when the model and the texts are the same."""
    key = hashlib.sha256("\n".join([embedder.name, *texts]).encode()).hexdigest()[:16]
    folder = Path(os.environ.get("DUALUSE_BENCH_CACHE") or Path(tempfile.gettempdir()) / "dualuse-bench-cache")
    path = folder / f"embeddings-{len(texts)}-{key}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape[0] == len(texts):
            log(f"bench: {len(texts)} embeddings from {path}")
            return np.asarray(cached, dtype=np.float32)
    log(f"bench: embedding {len(texts)} sentences (cached in {folder} for the next run)")
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    log(f"bench: embedded {len(texts)} sentences in {time.perf_counter() - started:.1f} s")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return np.asarray(vectors, dtype=np.float32)


SELECTIVE_VENDOR = "Bench Selective Vendor"
"""A company tagged on 0.1% of the bench's claims (the selective-filter case)."""


def build_search_home(scratch: Settings, texts: list[str], vectors: np.ndarray) -> tuple[Any, Any]:
    """A data home holding ``texts`` as claims (50 per document, dated 2010-2024) with their
    embeddings, FTS rows, vector index and keyword index (as an ingest leaves them); 0.1% of claims
    name ``SELECTIVE_VENDOR``. Returns the open (Store, VectorIndex)."""
    from pipeline import keyword
    from pipeline.index import VectorIndex, sync
    from pipeline.store import Store

    store = Store(scratch.db_path)
    index = VectorIndex(scratch.chroma_path)
    selective = "company:bench-selective-vendor"
    with store.transaction() as c:
        c.execute("INSERT INTO entities(entity_id, type, canonical) VALUES (?, 'company', ?)",
                  (selective, SELECTIVE_VENDOR))
        per_doc = 50
        for d in range(0, len(texts), per_doc):
            doc_id = f"bench{d:08d}"
            c.execute(
                """INSERT INTO documents(doc_id, source, locator, kind, text, content_sha256, raw_sha256,
                       pipeline_version, ingested_at, updated_at, published)
                   VALUES (?, ?, ?, 'text', '', '', '', 'bench', '', '', ?)""",
                (doc_id, f"bench/{doc_id}.txt", doc_id, f"20{10 + d % 15:02d}-01-01"),
            )
            for k, (text, vec) in enumerate(zip(texts[d:d + per_doc], vectors[d:d + per_doc], strict=True)):
                cid = f"{doc_id}-{k:03d}"
                c.execute(
                    """INSERT INTO claims(claim_id, doc_id, seq, text, start, end, context_start, context_end,
                           embedding, indexed) VALUES (?, ?, ?, ?, 0, 0, 0, 0, ?, 0)""",
                    (cid, doc_id, k, text, vec.tobytes()),
                )
                c.execute("INSERT INTO claims_fts(claim_id, text) VALUES (?, ?)", (cid, text))
                if (d + k) % 1000 == 0:  # 0.1% of claims name the selective vendor
                    c.execute("INSERT INTO claim_entities(claim_id, entity_id) VALUES (?, ?)", (cid, selective))
    sync(store, index)
    if scratch.keyword_index:
        keyword.refresh(store, scratch.keyword_path)
    return store, index


def bench_search(settings: Settings, n_claims: int, n_queries: int, log: Callable[[str], None]) -> dict[str, Any]:
    from pipeline import keyword
    from pipeline.embed import Embedder
    from pipeline.search import SearchQuery, search
    from pipeline.tag import Tagger

    embedder = Embedder(settings)
    texts, queries = bench_corpus(n_claims, n_queries)
    n_news = len(news_sentences())
    started = time.perf_counter()
    vectors = cached_embeddings(embedder, texts, log)
    embed_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="dualuse-bench-search-") as tmp:
        scratch = replace(settings, home=Path(tmp))
        log(f"bench: building a {len(texts)}-claim index")
        t0 = time.perf_counter()
        store, index = build_search_home(scratch, texts, vectors)
        build_s = time.perf_counter() - t0
        # the keyword index built again, timed alone (a writer's cost at the end of an ingest at
        # this size); then loaded as a reading process loads it (memory-mapped from the data home)
        built, keyword_build_s = _timed(lambda: keyword.refresh(store, scratch.keyword_path, force=True))
        assert built is not None
        folder = scratch.keyword_path / built.fingerprint
        keyword_disk_mb = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        keyword_terms = len(built.vocab)
        del built
        keyword.forget()
        embedder.embed_query("warm up")
        tagger = Tagger(settings)
        tagger.warm_up()
        rss_before = current_rss_mb()
        loaded, keyword_load_s = _timed(lambda: keyword.current(store, scratch.keyword_path))
        assert loaded is not None
        rss_loaded = current_rss_mb()
        t0 = time.perf_counter()
        search(SearchQuery("warm up the keyword index", 10), store, index, embedder, scratch, tagger)
        first_search_s = time.perf_counter() - t0
        fts5 = replace(scratch, keyword_index=False)  # the path a stale keyword index takes

        def latencies(filters: dict[str, tuple[str, ...]], mode: str = "", how: Settings = scratch) -> dict[str, float]:
            times = []
            for q in queries:
                t = time.perf_counter()
                search(SearchQuery(q, 10, filters, mode=mode), store, index, embedder, how, tagger)
                times.append((time.perf_counter() - t) * 1000)
            return percentiles(times)

        keyword_only = latencies({}, "keyword")
        rss_queried = current_rss_mb()
        unfiltered = latencies({})
        filtered = latencies({"company": (SELECTIVE_VENDOR,)})
        dense_only = latencies({}, "dense")
        keyword_only_fts5 = latencies({}, "keyword", fts5)
        unfiltered_fts5 = latencies({}, "", fts5)
        recall = _recall_at_10(texts, vectors, index, embedder, queries)
        store.close()
    return {"claims": len(texts), "news_sentences": min(n_news, len(texts)),
            "embed_or_load_seconds": round(embed_s, 1), "build_seconds": round(build_s, 1),
            "keyword_index": {"build_seconds": round(keyword_build_s, 2), "load_seconds": round(keyword_load_s, 3),
                              "disk_mb": round(keyword_disk_mb, 1), "terms": keyword_terms,
                              "rss_added_mb_by_load": round(rss_loaded - rss_before, 1),
                              "rss_added_mb_after_keyword_queries": round(rss_queried - rss_before, 1)},
            "first_search_seconds": round(first_search_s, 2), "queries": len(queries),
            "mode": scratch.search_mode, "unfiltered": unfiltered, "selective_company_filter": filtered,
            "unfiltered_dense_only": dense_only, "unfiltered_keyword_only": keyword_only,
            "unfiltered_keyword_only_fts5": keyword_only_fts5, "unfiltered_fts5": unfiltered_fts5,
            "hnsw_recall@10_vs_exact": recall}


def _recall_at_10(texts: list[str], vectors: np.ndarray, index: Any, embedder: Any, queries: list[str]) -> float:
    """Share of the exact top 10 (numpy, cosine over every indexed vector) that the HNSW index returns."""
    ids = [f"bench{d - d % 50:08d}-{d % 50:03d}" for d in range(len(texts))]
    hits = 0
    for q in queries:
        v = embedder.embed_query(q)
        exact = {ids[i] for i in np.argsort(-(vectors @ v))[:10]}
        approx = {cid for cid, _ in index.query(v, 10)}
        hits += len(exact & approx)
    return round(hits / (10 * len(queries)), 4)


def bench_cold(settings: Settings, log: Callable[[str], None]) -> dict[str, float]:
    """Wall time of fresh processes: a search on a small store, and an ingest of one small file."""
    demo = Path(__file__).resolve().parent.parent / "corpus" / "demo"
    note = sorted(demo.glob("*.md"))[0]
    with tempfile.TemporaryDirectory(prefix="dualuse-bench-cold-") as tmp:
        cmd = [sys.executable, "-m", "pipeline.cli", "--home", tmp]
        log("bench: cold ingest (first run creates Prefect's database)")
        t = time.perf_counter()
        subprocess.run([*cmd, "ingest", str(note)], check=True, capture_output=True)
        first = time.perf_counter() - t
        second_note = sorted(demo.glob("*.md"))[1]
        t = time.perf_counter()
        subprocess.run([*cmd, "ingest", str(second_note)], check=True, capture_output=True)
        again = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([*cmd, "ingest", "--no-prefect", str(sorted(demo.glob("*.md"))[2])], check=True,
                       capture_output=True)
        no_prefect = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([*cmd, "search", "DNA sequencers sold to police", "--json"], check=True, capture_output=True)
        search_s = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([*cmd, "--help"], check=True, capture_output=True)
        help_s = time.perf_counter() - t
    return {"ingest_one_file_first_run_s": round(first, 2), "ingest_one_file_s": round(again, 2),
            "ingest_one_file_no_prefect_s": round(no_prefect, 2), "search_s": round(search_s, 2),
            "help_s": round(help_s, 2)}


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def bench_memory(settings: Settings, n_docs: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Tag ``n_docs`` distinct generated documents in one process; RSS at ten checkpoints. Each
    document names different entities (new strings for spaCy's vocabulary), the case memory_zone is for."""
    from pipeline.tag import Tagger

    tagger = Tagger(settings)
    tagger.warm_up()
    texts = generate_docs(200, seed=5, paragraphs=2)
    rng = random.Random(9)
    step = max(n_docs // 10, 1)
    samples = []
    for i in range(n_docs):
        # a fresh made-up name per document keeps the vocabulary growing unless it is released
        name = "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(4)).title()
        tagger.tag(texts[i % len(texts)] + f" {name} Technologies Ltd. sold scanners to police.")
        if (i + 1) % step == 0:
            samples.append({"documents": i + 1, "rss_mb": current_rss_mb()})
            log(f"bench: memory {samples[-1]}")
    first, last = samples[0]["rss_mb"], samples[-1]["rss_mb"]
    return {"documents": n_docs, "samples": samples, "growth_mb_after_first_checkpoint": round(last - first, 1)}


def run_bench(settings: Settings, *, n_claims: int, n_docs: int, n_queries: int, cold: bool,
              log: Callable[[str], None], memory_docs: int = 0, dossier_claims: int = 0,
              parts: tuple[str, ...] = ("stages", "search", "dossier"),
              crawl: tuple[int, int, float] = (10, 100, 1.0)) -> dict[str, Any]:
    result: dict[str, Any] = {"machine": _machine()}
    if memory_docs:
        result["tag_memory"] = bench_memory(settings, memory_docs, log)
    if "stages" in parts and n_docs:
        result["stages"] = bench_stages(settings, n_docs, log)
    if "search" in parts:
        result["search"] = bench_search(settings, n_claims, n_queries, log)
    if "web" in parts:
        from pipeline.bench_web import bench_web

        result["web"] = bench_web(settings, n_claims, n_queries, log)
    if "crawl" in parts:
        from pipeline.bench_crawl import bench_crawl

        result["crawl"] = bench_crawl(settings, log, hosts=crawl[0], pages=crawl[1], delay=crawl[2])
    if "dossier" in parts and dossier_claims:
        from pipeline.bench_dossier import bench_dossier

        result["dossier"] = bench_dossier(settings, dossier_claims, log)
    if cold:
        result["cold_process"] = bench_cold(settings, log)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _machine() -> dict[str, Any]:
    import os
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
