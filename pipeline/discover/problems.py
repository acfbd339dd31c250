"""Typed problems a parse of a feed or sitemap can report, per source, without raising.

Parsing never raises on bad input: whatever could be read is returned with a tuple of ``Problem``s
so the crawler can report each source's state ("truncated at 500 items", "not a feed") and carry on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ProblemCode(StrEnum):
    NOT_A_FEED = "not-a-feed"  # no RSS/Atom/RDF root: an HTML page, JSON, an empty body
    NOT_A_SITEMAP = "not-a-sitemap"  # neither urlset, sitemapindex nor a text list of URLs
    MALFORMED = "malformed"  # not well-formed; what the lenient parse recovered is kept
    TRUNCATED = "truncated"  # more entries than max_items / max_urls: the first ones are kept
    TOO_LARGE = "too-large"  # the (decompressed) body passed the byte cap: parsing stopped there
    BAD_URL = "bad-url"  # an entry's link is missing, not http(s), or unusable: the entry is dropped
    UNSAFE_XML = "unsafe-xml"  # a DOCTYPE in a sitemap (entity tricks): refused, nothing parsed


@dataclass(frozen=True, slots=True)
class Problem:
    code: ProblemCode
    detail: str  # one line for a person: what happened, with an example where there are many
    count: int = 1  # how many entries it concerns (BAD_URL: dropped entries)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(slots=True)
class ProblemLog:
    """Collects problems; repeated per-entry problems become one ``Problem`` with a count."""

    _single: list[Problem] = field(default_factory=list)
    _counts: dict[tuple[ProblemCode, str], int] = field(default_factory=dict)
    _examples: dict[tuple[ProblemCode, str], list[str]] = field(default_factory=dict)

    def add(self, code: ProblemCode, detail: str) -> None:
        self._single.append(Problem(code, detail))

    def entry(self, code: ProblemCode, what: str, example: str) -> None:
        """One more entry with the problem ``what`` (e.g. 'items without a usable http(s) link')."""
        key = (code, what)
        self._counts[key] = self._counts.get(key, 0) + 1
        examples = self._examples.setdefault(key, [])
        if len(examples) < 3:
            examples.append(example[:200])

    def has(self, code: ProblemCode) -> bool:
        return any(p.code == code for p in self._single) or any(k[0] == code for k in self._counts)

    def problems(self) -> tuple[Problem, ...]:
        grouped = []
        for (code, what), count in self._counts.items():
            examples = ", ".join(repr(e) for e in self._examples[(code, what)])
            grouped.append(Problem(code, f"{what}: {count:,} dropped (e.g. {examples})", count))
        return (*self._single, *grouped)
