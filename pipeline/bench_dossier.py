"""``dualuse bench``'s dossier figure: build and render one company's dossier over N claims.

The store is generated: documents whose sentences all name one vendor, with products, agencies,
regions and dates drawn from the knowledge base, written through ``Store.save`` with their mention
offsets known by construction (no tagging, zero vectors: the dossier reads neither embeddings nor
the vector index). Timed: ``build_dossier`` plus each output format, in process; and a cold
``dualuse dossier --format html --out`` process, which is what a user waits for.
"""

from __future__ import annotations

import random
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

VENDOR = "Hikvision"
SENTENCES = (
    "{vendor} sold {product} cameras to the {agency} in {region} in {month} {year}, procurement records show.",
    "The {agency} bought {product} systems from {vendor} through a distributor, according to a tender notice.",
    "{vendor} said in a statement that it respects human rights and follows the law in {region}.",
    "Researchers said {vendor} equipment was used by the {agency} to track people in {region}.",
    "Lawmakers asked the {agency} why it still used {vendor} cameras after {year}.",
)
MONTHS = ("January", "March", "May", "July", "September", "November")


def _claims_store(settings: Settings, n_claims: int, per_doc: int = 20) -> None:
    from pipeline.kb import load_kb
    from pipeline.records import Claim, Document, Mention, Processed, SourceKind, make_id, sha256_hex
    from pipeline.stance import classify_stance
    from pipeline.store import Store

    kb = load_kb()
    pools: dict[str, list[str]] = {}
    for ent in kb.entities.values():
        pools.setdefault(ent.etype, []).append(ent.name)
    products = [p.name for p in kb.entities.values() if p.etype == "product" and p.vendor == VENDOR] or ["DeepinView"]
    rng = random.Random(5)
    store = Store(settings.db_path)
    try:
        for d in range(max(1, n_claims // per_doc)):
            doc_id = make_id("doc", f"bench-dossier-{d}")
            text = ""
            mentions: list[Mention] = []
            claims: list[Claim] = []
            for s in range(per_doc):
                fill = {"vendor": VENDOR, "product": rng.choice(products), "agency": rng.choice(pools["agency"]),
                        "region": rng.choice(pools["region"]), "month": rng.choice(MONTHS),
                        "year": str(rng.randrange(2012, 2025))}
                template = rng.choice(SENTENCES)
                start = len(text)
                sentence = template.format(**fill)
                found: list[Mention] = []
                for label, key in (("company", "vendor"), ("product", "product"), ("agency", "agency"),
                                   ("region", "region")):
                    at = sentence.find(fill[key])
                    if at >= 0 and "{" + key + "}" in template:
                        found.append(Mention(fill[key], label, fill[key], start + at, start + at + len(fill[key])))
                text += sentence + " "
                mentions += found
                seen = [c.text for c in claims].count(sentence)  # a repeated sentence is another claim
                claims.append(Claim(Claim.make_id(doc_id, sentence, seen), doc_id, s, sentence, start,
                                    start + len(sentence), start, start + len(sentence), tuple(found),
                                    classify_stance(sentence, found, start)))
            published = f"{rng.randrange(2015, 2025)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}"
            doc = Document(doc_id, f"https://example.org/bench/{d}", f"bench-dossier-{d}", SourceKind.TEXT, text,
                           title=f"Bench report {d}", published=published, site="example.org",
                           url=f"https://example.org/bench/{d}", raw_sha256=sha256_hex(text.encode()))
            store.save(Processed(doc, tuple(mentions), tuple(claims)), np.zeros((len(claims), 384), np.float32),
                       "bench", "2026-01-01T00:00:00+00:00")
    finally:
        store.close()


def bench_dossier(settings: Settings, n_claims: int, log: Callable[[str], None]) -> dict[str, Any]:
    from pipeline.dossier import build_dossier
    from pipeline.dossier_render import render
    from pipeline.kb import load_kb
    from pipeline.store import Store

    with tempfile.TemporaryDirectory(prefix="dualuse-bench-dossier-") as tmp:
        scratch = replace(settings, home=Path(tmp))
        scratch.ensure_home()
        log(f"bench: generating a store with {n_claims} claims about {VENDOR}")
        _claims_store(scratch, n_claims)
        store = Store(scratch.db_path)
        kb = load_kb()
        started = time.perf_counter()
        d = build_dossier(store, kb, VENDOR)
        t_build = time.perf_counter() - started
        timings = {"build": round(t_build, 3)}
        for fmt in ("json", "csv", "md", "html"):
            started = time.perf_counter()
            render(d, fmt)
            timings[fmt] = round(time.perf_counter() - started, 3)
        store.close()
        out = Path(tmp) / "dossier.html"
        cmd = [sys.executable, "-m", "pipeline.cli", "--home", tmp, "dossier", VENDOR, "--out", str(out)]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        cold = time.perf_counter() - started
        log(f"bench: dossier over {len(d.claims)} claims: build {t_build:.2f} s, cold html {cold:.2f} s")
        return {"claims": len(d.claims), "documents": len(d.sources), "chain_rows": len(d.chain),
                "seconds": timings, "build_plus_html_s": round(timings["build"] + timings["html"], 3),
                "cold_cli_html_s": round(cold, 3), "html_bytes": out.stat().st_size}
