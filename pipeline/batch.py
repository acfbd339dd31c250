"""Batch search: how much evidence the store holds for each name on a list (Datashare's batch search).

Input is a CSV of names: a column headed ``name`` (or the first column), optionally a ``type``
column (company, product, agency or region) to say which kind of entity a name is; a file with no
header is one name per row. Each name is matched like the CLI's filters: canonical name or any alias
seen in the store or known to the knowledge base, any case; brands and subsidiaries roll up into their
parent. Every row comes back, matched or not, in the input's order (duplicates once).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.csv_safe import csv_text
from pipeline.errors import UsageError
from pipeline.kb import KnowledgeBase
from pipeline.records import ENTITY_TYPES, entity_id
from pipeline.store import Store
from pipeline.text_decode import decode_text

MAX_NAMES = 1000
MAX_NAME_CHARS = 200
MAX_BYTES = 1_000_000
COLUMNS = ("name", "type", "status", "matched_type", "canonical", "claims", "documents", "independent_sources",
           "first_published", "last_published", "note")
STATUSES = ("found", "no evidence", "ambiguous", "not found")


@dataclass(frozen=True)
class BatchName:
    name: str
    type: str | None = None


@dataclass(frozen=True)
class BatchRow:
    """One input name and the evidence for it. ``status``: found (claims in the store), no evidence
    (a known entity with no claims), ambiguous (several entities; ``note`` lists them), not found
    (``note`` lists the closest known names)."""

    name: str
    type: str | None
    status: str
    matched_type: str | None = None
    canonical: str | None = None
    claims: int = 0
    documents: int = 0
    independent_sources: int = 0
    first_published: str | None = None
    last_published: str | None = None
    note: str | None = None
    candidates: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = list(self.candidates)
        return data


def read_names(data: bytes | str, label: str = "the CSV") -> list[BatchName]:
    """Names from CSV bytes (UTF-8, BOM allowed) or text. Raises UsageError naming ``label``."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise UsageError(f"{label} is {len(data):,} bytes, over the {MAX_BYTES:,}-byte limit",
                             hint=f"split it; at most {MAX_NAMES} names per batch")
        decoded = decode_text(data, ("utf-8",))
        if decoded is None:
            what = "not a text file" if b"\x00" in data[:4096] else "not UTF-8 or UTF-16 text"
            raise UsageError(f"{label} is {what}", hint="save it as CSV UTF-8, one name per row")
        text = decoded
    else:
        text = data
    try:
        rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise UsageError(f"{label} is not valid CSV: {exc}", hint="one name per row, or a 'name' column") from None
    if not rows:
        raise UsageError(f"{label} holds no names", hint="one name per row, or a column headed 'name'")
    header = [c.lower() for c in rows[0]]
    name_col, type_col, first_row = 0, None, 1
    if "name" in header:
        name_col = header.index("name")
        type_col = header.index("type") if "type" in header else None
        rows, first_row = rows[1:], 2
    names: dict[tuple[str, str | None], BatchName] = {}
    for number, row in enumerate(rows, start=first_row):
        name = " ".join(row[name_col].split()) if name_col < len(row) else ""
        if not name:
            continue
        if len(name) > MAX_NAME_CHARS:
            raise UsageError(f"{label}, row {number}: a name of {len(name)} characters",
                             hint=f"names are at most {MAX_NAME_CHARS} characters")
        etype = row[type_col].lower() if type_col is not None and type_col < len(row) and row[type_col] else None
        if etype is not None and etype not in ENTITY_TYPES:
            raise UsageError(f"{label}, row {number}: unknown type '{row[type_col or 0]}'",
                             hint="valid: " + ", ".join(ENTITY_TYPES) + ", or leave it empty")
        names.setdefault((name.lower(), etype), BatchName(name, etype))
    if not names:
        raise UsageError(f"{label} holds no names", hint="one name per row, or a column headed 'name'")
    if len(names) > MAX_NAMES:
        raise UsageError(f"{label} holds {len(names):,} names, over the limit of {MAX_NAMES}", hint="split it")
    return list(names.values())


def _matches(store: Store, kb: KnowledgeBase, item: BatchName) -> dict[str, tuple[str, str]]:
    """entity id -> (type, canonical) of what the name denotes, in the store."""
    found = {eid: (etype, canonical) for eid, etype, canonical in store.match_names(item.name)}
    for etype in ([item.type] if item.type else ENTITY_TYPES):
        known = kb.lookup(item.name, etype)
        if known is not None:
            eid = entity_id(etype, known.name)
            if eid in store.entity_names([eid]):
                found.setdefault(eid, (etype, known.name))
    return {eid: v for eid, v in found.items() if v[0] in ENTITY_TYPES and (not item.type or v[0] == item.type)}


def evidence(store: Store, kb: KnowledgeBase, names: list[BatchName]) -> list[BatchRow]:
    """One row per name, in order."""
    out: list[BatchRow] = []
    for item in names:
        found = _matches(store, kb, item)
        roots = store.family_roots(list(found))
        if len(roots) > 1:
            labels = tuple(sorted(f"{found[e][1]} ({found[e][0]})" for e in roots))
            out.append(BatchRow(item.name, item.type, "ambiguous", note="names " + "; ".join(labels),
                                candidates=labels))
            continue
        if not roots:
            known = next((k for t in ([item.type] if item.type else ENTITY_TYPES)
                          if (k := kb.lookup(item.name, t)) is not None), None)
            if known is not None:
                out.append(BatchRow(item.name, item.type, "no evidence", known.etype, known.name,
                                    note="known to the knowledge base; no coverage ingested names it"))
                continue
            near = tuple(dict.fromkeys(n for t in ([item.type] if item.type else ENTITY_TYPES)
                                       for n in store.closest_entities(t, item.name, 2)
                                       if _shares_word(n, item.name)))[:5]
            out.append(BatchRow(item.name, item.type, "not found",
                                note=("closest: " + "; ".join(near)) if near else None, candidates=near))
            continue
        eid = roots[0]
        etype, canonical = found[eid]
        counts = store.evidence_counts(store.with_descendants([eid]))
        out.append(BatchRow(item.name, item.type, "found" if counts["claims"] else "no evidence", etype, canonical,
                            **counts))
    return out


def _shares_word(a: str, b: str) -> bool:
    words = {w.lower() for w in b.split() if len(w) > 2}
    return any(w.lower() in words for w in a.split())


def to_csv(rows: list[BatchRow]) -> str:
    return csv_text(COLUMNS, [[getattr(r, c) if getattr(r, c) is not None else "" for c in COLUMNS] for r in rows])


def to_json(rows: list[BatchRow]) -> str:
    return json.dumps([r.to_json() for r in rows], ensure_ascii=False)
