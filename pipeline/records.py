"""Typed, frozen domain records passed between stages.

Ids are derived from content (followthemoney's ``make_entity_id``, haystack's Document ids), so every
write downstream is an idempotent upsert:

* a document's id comes from its normalised source (path or URL): the same source is one document,
  and a changed text at the same source replaces it;
* a claim's id comes from its document, its text and its occurrence, so re-ingesting unchanged text
  yields the same claim ids;
* an entity's id comes from its type and canonical name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

ENTITY_TYPES = ("company", "product", "agency", "region")
"""The four types the pipeline is built around; filters and the search JSON use exactly these."""

OTHER_ORG_TYPES = ("ngo", "media", "academic", "other_org")
"""Organisations that are kept and shown but are never companies or agencies."""


def make_id(*parts: str, length: int = 16) -> str:
    """A stable short id from parts (sha256, hex). Parts are joined with an unambiguous separator."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def slug(text: str) -> str:
    """ASCII slug used inside entity ids: 'Thermo Fisher Scientific' -> 'thermo-fisher-scientific'."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def entity_id(etype: str, canonical: str) -> str:
    return f"{etype}:{slug(canonical)}"


class SourceKind(StrEnum):
    HTML = "html"
    PDF = "pdf"
    TEXT = "text"
    XML = "xml"  # feeds and sitemaps (fetched with accept="feed"); not an ingestable document


class SkipReason(StrEnum):
    """Why a source produced no document. Counted and reported, never silent."""

    MISSING = "missing"  # path does not exist
    UNREADABLE = "unreadable"  # permission denied, I/O error
    UNSUPPORTED = "unsupported"  # extension / content type we do not handle
    BINARY = "binary"  # not text, though named like text
    EMPTY = "empty"  # no text at all
    BOILERPLATE = "boilerplate"  # a page whose only text is boilerplate
    NO_TEXT_PDF = "no-text-pdf"  # scanned PDF without a text layer
    TOO_LARGE = "too-large"  # over the byte cap
    BLOCKED = "blocked"  # private/loopback/link-local target without opt-in
    UNREACHABLE = "unreachable"  # DNS failure, refused, timeout
    HTTP_ERROR = "http-error"  # 4xx/5xx
    BAD_URL = "bad-url"  # malformed or non-http(s) URL
    TOO_MANY_REDIRECTS = "too-many-redirects"
    ROBOTS_DISALLOWED = "robots-disallowed"  # robots.txt forbids our user agent this URL
    ROBOTS_UNREACHABLE = "robots-unreachable"  # robots.txt answered 5xx / timed out: host off-limits this run
    NOT_ENGLISH = "not-english"  # detected language the tagger does not cover
    FAILED = "failed"  # an unexpected error in a stage (bug); the batch goes on


@dataclass(frozen=True, slots=True)
class Fetched:
    """Raw bytes of one input, as read from disk or the network (the provenance snapshot)."""

    source: str  # what the user gave, as given (path or URL)
    locator: str  # normalised identity: absolute path or normalised URL
    kind: SourceKind
    body: bytes
    url: str | None = None  # final URL after redirects, for web sources
    content_type: str | None = None
    status: int | None = None
    fetched_at: str = ""  # ISO 8601 UTC
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def doc_id(self) -> str:
        return make_id("doc", self.locator)

    @property
    def sha256(self) -> str:
        return sha256_hex(self.body)


@dataclass(frozen=True, slots=True)
class Document:
    """Extracted main text and metadata of one source."""

    doc_id: str
    source: str
    locator: str
    kind: SourceKind
    text: str
    title: str | None = None
    published: str | None = None  # YYYY-MM-DD
    site: str | None = None
    author: str | None = None
    url: str | None = None
    raw_sha256: str = ""
    lang: str = "en"

    @property
    def content_sha256(self) -> str:
        return sha256_hex(self.text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Mention:
    """One typed entity mention with character offsets into the document text."""

    text: str
    label: str  # company | product | agency | region | ngo | media | academic | other_org
    canonical: str
    start: int
    end: int
    parent: str | None = None  # canonical name of the parent company of a brand or subsidiary (KB)

    @property
    def entity_id(self) -> str:
        return entity_id(self.label, self.canonical)

    @property
    def parent_id(self) -> str | None:
        return entity_id(self.label, self.parent) if self.parent else None


@dataclass(frozen=True, slots=True)
class Claim:
    """A sentence-level unit of evidence, with the context needed to read it alone."""

    claim_id: str
    doc_id: str
    seq: int  # order within the document
    text: str  # the sentence, exactly as in the document text
    start: int  # offsets of `text` in the document text
    end: int
    context_start: int  # offsets of the surrounding context window (same paragraph)
    context_end: int
    mentions: tuple[Mention, ...] = ()  # mentions inside [start, end), document offsets
    stance: str = "fact"  # fact | allegation | company_statement | official_statement (pipeline.stance)

    @staticmethod
    def make_id(doc_id: str, text: str, occurrence: int) -> str:
        return make_id("claim", doc_id, " ".join(text.split()), str(occurrence))


@dataclass(frozen=True, slots=True)
class Processed:
    """Everything one source produced: the document, its mentions, its claims."""

    document: Document
    mentions: tuple[Mention, ...]
    claims: tuple[Claim, ...]
    raw: Fetched | None = None


@dataclass(frozen=True, slots=True)
class SourceResult:
    """Per-source outcome of an ingest run."""

    source: str
    status: str  # added | updated | unchanged | skipped | failed
    doc_id: str | None = None
    reason: str | None = None  # a SkipReason value when skipped/failed
    detail: str | None = None
    claims: int = 0


@dataclass(slots=True)
class IngestReport:
    """Counts and per-source outcomes of one ingest run."""

    results: list[SourceResult] = field(default_factory=list)

    def add(self, result: SourceResult) -> None:
        self.results.append(result)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        """True when no source failed. A skip (empty page, unsupported file in a folder) is handled."""
        return not any(r.status == "failed" for r in self.results)

    def summary(self) -> dict[str, int]:
        keys = ("added", "updated", "unchanged", "skipped", "failed")
        return {k: self.count(k) for k in keys}

    def to_json(self) -> dict[str, object]:
        return {
            **self.summary(),
            "sources": [
                {k: v for k, v in {
                    "source": r.source, "status": r.status, "doc_id": r.doc_id,
                    "reason": r.reason, "detail": r.detail, "claims": r.claims,
                }.items() if v is not None}
                for r in self.results
            ],
        }
