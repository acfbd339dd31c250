"""Plain-text rendering for the CLI (the JSON shapes live with their records)."""

from __future__ import annotations

import shutil
import textwrap

from pipeline.records import ENTITY_TYPES
from pipeline.search import Hit


def hits_text(query: str, hits: list[Hit]) -> str:
    if not hits:
        return f"No claims match '{query}' with these filters."
    width = min(shutil.get_terminal_size((100, 20)).columns, 110)
    out = []
    for n, hit in enumerate(hits, 1):
        r = hit.row
        out.append(textwrap.fill(r.text, width=width, initial_indent=f"{n:>2}. ", subsequent_indent="    "))
        where = r.url or r.source
        meta = " · ".join(x for x in (r.title, r.published or "undated", where) if x)
        out.append(textwrap.fill(meta, width=width, initial_indent="    — ", subsequent_indent="      "))
        ents = "; ".join(f"{t}: {', '.join(r.entities[t])}" for t in ENTITY_TYPES if r.entities.get(t))
        if ents:
            out.append(textwrap.fill(ents, width=width, initial_indent="    ", subsequent_indent="    "))
        out.append(f"    score {hit.score:.3f} · claim {r.claim_id} · chars {r.start}-{r.end}")
        out.append("")
    return "\n".join(out).rstrip()
