"""The two dev sets, read the same way: ``devset`` (five documents on one story, in ``../shared/devset``)
and ``devset-wide`` (60 texts on 20 topics, annotations in ``../shared/devset-wide``).

The wide set's texts are third-party and never stored in the project: they are rebuilt into a
git-ignored folder (``data/devset-wide/`` by default, ``$DUALUSE_DEVSET_WIDE`` to move it) as its
README says, checked there by its ``check.py`` (which also writes ``claims_with_quotes.jsonl``). Every
text is checked again here against its manifest SHA-1; one that does not match is refused by name.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.evaluation.devset import read_jsonl, require_shared
from pipeline.settings import PROJECT_ROOT

SET_NAMES = ("devset", "devset-wide")
DEVSET_TOPIC = "xinjiang_dna"
"""The five-document set is one story: one topic."""
ENTITY_CLASSES = ("companies", "products", "agencies", "regions")


@dataclass(frozen=True)
class EvalSet:
    name: str
    docs: dict[str, Path]  # document id -> its text file
    topics: dict[str, str]  # document id -> topic
    gold_entities: dict[str, dict[str, Any]]  # document id -> {companies, products, agencies, regions, other_orgs}
    claims: list[dict[str, Any]]  # {id, doc, quote, company, other_companies, products, agencies, regions, stance}
    queries: list[dict[str, Any]]  # {qid, q, relevant_claims, relevant_docs?}
    dossiers: list[dict[str, Any]] = field(default_factory=list)  # wide set: {company, aliases, docs, links}

    @property
    def topic_names(self) -> list[str]:
        return sorted(set(self.topics.values()))

    def gold_names(self) -> set[str]:
        """Every name the set's gold lists: entities of all classes and other organisations, the
        claims' entity fields and the dossiers' companies, aliases and links."""
        names: set[str] = set()
        for row in self.gold_entities.values():
            for key in (*ENTITY_CLASSES, "other_orgs"):
                names.update(row.get(key) or [])
        for c in self.claims:
            names.update(n for n in (c.get("company"), *c.get("other_companies", []), *c.get("products", []),
                                     *c.get("agencies", []), *c.get("regions", [])) if n)
        for d in self.dossiers:
            names.update([d["company"], *d.get("aliases", [])])
            for link in d.get("links", []):
                names.update(v for k in ("product", "agency", "region") if (v := link.get(k)))
        return names


def wide_texts_dir() -> Path:
    env = os.environ.get("DUALUSE_DEVSET_WIDE")
    return Path(env) if env else PROJECT_ROOT / "data" / "devset-wide"


def load_set(name: str) -> EvalSet:
    if name == "devset":
        return _devset()
    if name == "devset-wide":
        return _wide()
    raise ConfigError(f"no dev set named '{name}'", hint="choose one of: " + ", ".join(SET_NAMES))


def _devset() -> EvalSet:
    root = require_shared() / "devset"
    docs = {p.stem: p for p in sorted((root / "docs").glob("*.txt"))}
    return EvalSet(
        name="devset", docs=docs, topics=dict.fromkeys(docs, DEVSET_TOPIC),
        gold_entities={r["id"]: r for r in read_jsonl(root / "gold_entities.jsonl")},
        claims=read_jsonl(root / "claims.jsonl"), queries=read_jsonl(root / "queries.jsonl"),
    )


def wide_missing_reason() -> str | None:
    """Why the wide set cannot be scored here (None when it can): for tests that skip on it."""
    try:
        _wide()
    except ConfigError as exc:
        return str(exc)
    return None


def _wide() -> EvalSet:
    root = require_shared() / "devset-wide"
    if not root.is_dir():
        raise ConfigError(f"the wide dev set's annotations are not at {root}",
                          hint="place shared/ beside the checkout or set DUALUSE_SHARED")
    texts = wide_texts_dir()
    rebuild = (f"rebuild the texts into {texts} as {root / 'README.md'} says, then run "
               f"'python3 {root / 'check.py'} {texts}'")
    manifest = read_jsonl(root / "manifest.jsonl")
    quotes = texts / "claims_with_quotes.jsonl"
    if not quotes.is_file():
        raise ConfigError(f"the wide dev set's texts are not rebuilt ({quotes} is missing)", hint=rebuild)
    docs: dict[str, Path] = {}
    for row in manifest:
        path = texts / f"{row['id']}.txt"
        if not path.is_file():
            raise ConfigError(f"wide dev set text {path} is missing", hint=rebuild)
        data = path.read_bytes()
        sha = {hashlib.sha1(data).hexdigest(), hashlib.sha1(data.replace(b"\xc2\xa0", b" ")).hexdigest()}  # noqa: S324 - the manifest's checksum
        if not sha & {row["sha1"], row.get("sha1_nbsp_as_space")}:
            raise ConfigError(f"wide dev set text {path} does not match its manifest SHA-1", hint=rebuild)
        docs[row["id"]] = path
    return EvalSet(
        name="devset-wide", docs=docs, topics={r["id"]: r["topic"] for r in manifest},
        gold_entities={r["id"]: r for r in read_jsonl(root / "gold_entities.jsonl")},
        claims=read_jsonl(quotes), queries=read_jsonl(root / "queries.jsonl"),
        dossiers=read_jsonl(root / "dossiers.jsonl"),
    )
