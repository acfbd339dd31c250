"""Extraction quality on the ScrapingHub article-extraction benchmark (``shared/article-extraction-benchmark``).

The benchmark's metric, implemented from its description: tokens are ``\\w+`` runs; each text is a
multiset of 4-token shingles; per page, TP/FP/FN are counted over shingles and normalised to sum to
1; precision and recall are computed from the page-averaged TP/FP/FN, and F1 from them. Bare
trafilatura (``trafilatura.extract(html)`` with its defaults) is measured in the same run.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.errors import SourceError
from pipeline.extract import extract
from pipeline.records import Fetched, SourceKind

TOKEN_RE = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = TOKEN_RE.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(len(tokens) - n + 1, 0)))


def page_counts(truth: str, pred: str) -> tuple[float, float, float]:
    t, p = shingles(truth), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    if total == 0:
        return 1.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


def prf(counts: list[tuple[float, float, float]]) -> dict[str, float]:
    tp = sum(c[0] for c in counts)
    fp = sum(c[1] for c in counts)
    fn = sum(c[2] for c in counts)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def _ours(html: bytes, url: str) -> str:
    raw = Fetched(source=url, locator=url, kind=SourceKind.HTML, body=html, url=url)
    try:
        return extract(raw).text
    except SourceError:
        return ""


def _bare(html: bytes, url: str) -> str:
    import trafilatura

    return trafilatura.extract(html.decode("utf-8", "replace")) or ""


def evaluate_extraction(bench_dir: Path) -> dict[str, Any]:
    truth = json.loads((bench_dir / "ground-truth.json").read_text(encoding="utf-8"))
    systems: dict[str, Callable[[bytes, str], str]] = {"dualuse": _ours, "trafilatura (bare)": _bare}
    counts: dict[str, list[tuple[float, float, float]]] = {name: [] for name in systems}
    for page_id, gold in sorted(truth.items()):
        path = bench_dir / "html" / f"{page_id}.html.gz"
        html = gzip.decompress(path.read_bytes())
        for name, fn in systems.items():
            counts[name].append(page_counts(gold["articleBody"], fn(html, gold.get("url") or "")))
    return {"pages": len(truth), **{name: prf(c) for name, c in counts.items()}}
