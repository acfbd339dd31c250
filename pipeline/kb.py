"""The entity knowledge base: known companies, products, agencies, regions and other
organisations, with aliases, and the terms that are never entities (demonyms, group names).

Loaded from every ``models/kb/*.yaml`` plus the user's own files (``Settings.kb_extra``). Entries
with the same type and canonical name are merged, so a user file can add aliases to a shipped
entity. The KB only helps: the tagger types unknown names from their form and context.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError
from pipeline.records import make_id
from pipeline.settings import MODELS_DIR

KB_DIR = MODELS_DIR / "kb"

FILE_TYPES = {"company", "product", "agency", "region", "other_org", "nonentity"}
ORG_KIND_LABEL = {"ngo": "ngo", "media": "media", "publisher": "media", "academic": "academic"}

LEGAL_SUFFIX_RE = re.compile(
    r"(,?\s+(inc|incorporated|corp|corporation|co|company|ltd|limited|llc|l\.l\.c|plc|gmbh|ag|s\.?a|"
    r"n\.?v|b\.?v|s\.?p\.?a|pty|k\.?k|oy|ab|as|se|sarl|s\.?a\.?s)\.?)+$",
    re.IGNORECASE,
)
QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def clean_surface(text: str) -> str:
    """The displayable form of a mention: one-spaced, straight quotes, no leading 'the', no
    possessive, no trailing punctuation."""
    s = unicodedata.normalize("NFKC", text).translate(QUOTES)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"^the\s+", "", s, flags=re.IGNORECASE)
    s = re.sub(r"'s?$", "", s)
    return s.strip(" ,;:")


def strip_legal_suffix(name: str) -> str:
    stripped = LEGAL_SUFFIX_RE.sub("", name).strip(" ,")
    return stripped or name


def norm_key(text: str) -> str:
    """Lookup key: cleaned, legal suffix removed, case-folded, punctuation-light."""
    s = strip_legal_suffix(clean_surface(text)).casefold()
    return re.sub(r"[\s\-]+", " ", s).strip(". ")


@dataclass(frozen=True, slots=True)
class KBEntity:
    name: str
    etype: str  # company | product | agency | region | ngo | media | academic | other_org
    aliases: tuple[str, ...] = ()
    country: str | None = None
    parent: str | None = None  # parent company / agency
    vendor: str | None = None  # for products
    kind: str | None = None  # sector / agency kind / region kind
    source: str | None = None
    hq: tuple[str, ...] = ()  # company: region canonical names of its headquarters (city, state)
    demonyms: tuple[str, ...] = ()  # region: "Israeli", "Israelis" (never tagged; used to read queries)

    @property
    def surface_forms(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass
class KnowledgeBase:
    entities: dict[tuple[str, str], KBEntity] = field(default_factory=dict)
    nonentities: set[str] = field(default_factory=set)
    _index: dict[str, list[KBEntity]] = field(default_factory=dict)
    _version: str = ""
    files: list[str] = field(default_factory=list)

    # -- building -------------------------------------------------------------------------

    def add(self, ent: KBEntity) -> None:
        key = (ent.etype, ent.name)
        old = self.entities.get(key)
        if old is not None:
            merged = tuple(dict.fromkeys((*old.aliases, *ent.aliases)))
            ent = KBEntity(
                name=old.name, etype=old.etype, aliases=merged,
                country=ent.country or old.country, parent=ent.parent or old.parent,
                vendor=ent.vendor or old.vendor, kind=ent.kind or old.kind,
                source="; ".join(s for s in (old.source, ent.source) if s) or None,
                hq=ent.hq or old.hq, demonyms=tuple(dict.fromkeys((*old.demonyms, *ent.demonyms))),
            )
        self.entities[key] = ent
        self.changed()

    def add_nonentities(self, terms: Iterable[str]) -> None:
        self.nonentities.update(norm_key(t) for t in terms)
        self.changed()

    def changed(self) -> None:
        """Drop what is derived from the entries (alias index, version hash)."""
        self._index.clear()
        self._version = ""

    @property
    def index(self) -> dict[str, list[KBEntity]]:
        if not self._index:
            for ent in self.entities.values():
                for form in ent.surface_forms:
                    bucket = self._index.setdefault(norm_key(form), [])
                    if ent not in bucket:
                        bucket.append(ent)
        return self._index

    def without(self, names: Iterable[str]) -> KnowledgeBase:
        """A copy holding no entity any of whose names or aliases is one of ``names`` (compared by
        lookup key). Evaluation's leave-KB-out mode: the tagger on names no list holds."""
        drop = {norm_key(n) for n in names}
        kept = KnowledgeBase(nonentities=set(self.nonentities), files=list(self.files))
        for ent in self.entities.values():
            if not any(norm_key(f) in drop for f in ent.surface_forms):
                kept.entities[(ent.etype, ent.name)] = ent
        return kept

    # -- lookups --------------------------------------------------------------------------

    def lookup(self, text: str, etype: str | None = None) -> KBEntity | None:
        """The entity a surface form names; ``None`` when unknown or ambiguous across types."""
        candidates = self.index.get(norm_key(text), [])
        if etype is not None:
            candidates = [c for c in candidates if c.etype == etype]
        if len(candidates) == 1:
            return candidates[0]
        if candidates and len({c.etype for c in candidates}) == 1:
            return candidates[0]
        return None

    def candidates(self, text: str) -> list[KBEntity]:
        """Every entity a surface form may name (several when a name is shared across types)."""
        return list(self.index.get(norm_key(text), []))

    def is_nonentity(self, text: str) -> bool:
        return norm_key(text) in self.nonentities

    def by_name(self, etype: str, name: str) -> KBEntity | None:
        return self.entities.get((etype, name))

    @property
    def version(self) -> str:
        """Content hash of the loaded KB: stored documents tagged with another KB are re-tagged.
        Computed once (it is asked for every ingested document) and again only after a change."""
        if self._version:
            return self._version
        parts = sorted(
            f"{e.etype}|{e.name}|{'|'.join(sorted(e.aliases))}|{e.parent}|{e.vendor}"
            for e in self.entities.values()
        )
        parts.extend(sorted(self.nonentities))
        self._version = make_id("kb", *parts, length=12)
        return self._version


def _entry(etype: str, raw: dict[str, Any], path: Path) -> KBEntity:
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}: an entry has no 'name'", hint="every KB entry needs a name")
    label = etype
    if etype == "other_org":
        label = ORG_KIND_LABEL.get(str(raw.get("kind") or ""), "other_org")
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list):
        raise ConfigError(f"{path}: aliases of '{name}' must be a list")
    lists = {}
    for key in ("hq", "demonyms"):
        value = raw.get(key) or []
        if not isinstance(value, list):
            raise ConfigError(f"{path}: {key} of '{name}' must be a list")
        lists[key] = tuple(str(v).strip() for v in value if str(v).strip())
    return KBEntity(
        name=name.strip(), etype=label,
        aliases=tuple(str(a).strip() for a in aliases if str(a).strip()),
        country=raw.get("country"), parent=raw.get("parent"), vendor=raw.get("vendor"),
        kind=raw.get("kind") or raw.get("sector") or raw.get("category"), source=raw.get("source"),
        hq=lists["hq"], demonyms=lists["demonyms"],
    )


def load_file(kb: KnowledgeBase, path: Path) -> None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"knowledge-base file {path} not found",
                          hint="fix DUALUSE_KB_EXTRA or create the file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict) or data.get("type") not in FILE_TYPES:
        raise ConfigError(
            f"{path}: expected a mapping with 'type' one of {', '.join(sorted(FILE_TYPES))}",
            hint="see models/kb/README.md",
        )
    etype = data["type"]
    if etype == "nonentity":
        kb.add_nonentities(str(t) for t in data.get("terms") or [])
    else:
        for raw in data.get("entries") or []:
            if isinstance(raw, dict):
                kb.add(_entry(etype, raw, path))
    kb.files.append(str(path))


def load_kb(extra: Iterable[str] = (), kb_dir: Path = KB_DIR) -> KnowledgeBase:
    kb = KnowledgeBase()
    for path in sorted(kb_dir.glob("*.yaml")):
        load_file(kb, path)
    for p in extra:
        load_file(kb, Path(p).expanduser())
    return kb
