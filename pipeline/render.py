"""Plain-text rendering for the CLI (the JSON shapes live with their records)."""

from __future__ import annotations

import re
import shutil
import textwrap
from typing import Any

import click

from pipeline.records import ENTITY_TYPES
from pipeline.search import DocumentHit, Hit


def claim_text(detail: dict[str, Any], *, bold: bool = False) -> str:
    """``dualuse show``: the paragraph with the claim marked, then provenance."""
    width = min(shutil.get_terminal_size((100, 20)).columns, 110)
    para, p0 = detail["paragraph"], detail["paragraph_start"]
    s, e = detail["start"] - p0, detail["end"] - p0
    marked = para[:s] + (click.style(para[s:e], bold=True) if bold else f"»{para[s:e]}«") + para[e:]
    lines = [textwrap.fill(marked, width=width), ""]
    for key in ("title", "site", "published", "url", "source", "stance"):
        if detail.get(key):
            lines.append(f"{key:<10} {detail[key]}")
    lines.append(f"{'claim':<10} {detail['claim_id']}  chars {detail['start']}-{detail['end']}"
                 f" of document {detail['doc_id']}")
    lines.append(f"{'snapshot':<10} sha256 {detail['snapshot_sha256']}")
    ents = "; ".join(f"{t}: {', '.join(v)}" for t, v in sorted(detail["entities"].items()))
    if ents:
        lines.append(f"{'entities':<10} {ents}")
    return "\n".join(lines)


def hits_text(query: str, hits: list[Hit], *, bold: bool = False) -> str:
    if not hits:
        return f"No claims match '{query}' with these filters."
    width = min(shutil.get_terminal_size((100, 20)).columns, 110)
    out = []
    for n, hit in enumerate(hits, 1):
        r = hit.row
        body = textwrap.fill(r.text, width=width, initial_indent=f"{n:>2}. ", subsequent_indent="    ")
        if bold and hit.highlights:  # wrap first, then embolden words (styles would skew the widths)
            words = {r.text[s - r.start:e - r.start] for s, e in hit.highlights}
            body = re.sub(r"\w+", lambda m, w=words: click.style(m.group(0), bold=True)  # type: ignore[misc]
                          if m.group(0) in w else m.group(0), body)
        out.append(body)
        where = r.url or r.source
        meta = " · ".join(x for x in (r.title, r.published or "undated", where) if x)
        out.append(textwrap.fill(meta, width=width, initial_indent="    — ", subsequent_indent="      "))
        ents = "; ".join(f"{t}: {', '.join(r.entities[t])}" for t in ENTITY_TYPES if r.entities.get(t))
        if ents:
            out.append(textwrap.fill(ents, width=width, initial_indent="    ", subsequent_indent="    "))
        if hit.also:
            others = "; ".join(f"{o.url or o.source} ({o.published or 'undated'})" for o in hit.also)
            out.append(textwrap.fill(f"also reported by {len(hit.also)} more source(s): {others}", width=width,
                                     initial_indent="    ", subsequent_indent="      "))
        stance = f"{r.stance.replace('_', ' ')} · " if r.stance else ""
        out.append(f"    {stance}score {hit.score:.3f} · claim {r.claim_id} · chars {r.start}-{r.end}")
        out.append("")
    return "\n".join(out).rstrip()


def documents_text(query: str, docs: list[DocumentHit], *, bold: bool = False) -> str:
    if not docs:
        return f"No documents match '{query}' with these filters."
    width = min(shutil.get_terminal_size((100, 20)).columns, 110)
    out = []
    for n, d in enumerate(docs, 1):
        first = d.claims[0].row
        head = f"{n:>2}. {first.title or first.source} · {first.published or 'undated'} · {first.url or first.source}"
        out.append(click.style(head, bold=True) if bold else head)
        for hit in d.claims:
            out.append(textwrap.fill(hit.row.text, width=width, initial_indent="    - ", subsequent_indent="      "))
            out.append(f"      claim {hit.row.claim_id} · score {hit.score:.3f}")
        out.append("")
    return "\n".join(out).rstrip()
