"""RSS 0.9x/2.0, RSS 1.0 (RDF) and Atom feeds → article URLs, with feedparser on fetched bytes.

feedparser is given a ``BytesIO``, never the bytes themselves: given a ``str`` or ``bytes`` it treats
the value as a URL to fetch or a file name to open, so a server answering ``/etc/passwd`` would have
it read a local file (its docs: "Do not pass untrusted strings to this function").

feedparser removes entity declarations from a DOCTYPE before parsing, so entity expansion (billion
laughs) and external entities (XXE) are inert; its strict (expat) parse then fails on the undefined
entity and its lenient parse recovers the items, which we keep and report as ``malformed``.

feedparser builds every item in Python, a few thousand items a second, so a feed longer than
``max_items`` is cut before it is parsed: at the start of item ``max_items + 1``, with the elements
still open there closed (found by a streaming lxml parse of the kept part).
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import feedparser
from lxml import etree

from pipeline.discover.dates import iso_from_struct
from pipeline.discover.problems import Problem, ProblemCode, ProblemLog
from pipeline.urls import BadURLError, normalize_url

ITEM_START_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")
TAG_RE = re.compile(r"<[^>]*>")
HTML_START_RE = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]",
                           re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class FeedItem:
    url: str  # absolute, normalised (pipeline.urls.normalize_url)
    title: str | None = None  # plain text, whitespace collapsed
    published: str | None = None  # ISO 8601 UTC (published, else updated); [:10] is the date
    guid: str | None = None  # RSS guid / Atom id, as given


@dataclass(frozen=True, slots=True)
class FeedResult:
    items: tuple[FeedItem, ...]  # in feed order, one per normalised URL (the first occurrence)
    problems: tuple[Problem, ...] = ()
    title: str | None = None
    format: str | None = None  # feedparser's version: rss20, rss10, atom10, ...

    @property
    def is_feed(self) -> bool:
        return not any(p.code == ProblemCode.NOT_A_FEED for p in self.problems)


def parse_feed(body: bytes, base_url: str, *, max_items: int) -> FeedResult:
    """Items of a feed. Never raises on bad input; see ``FeedResult.problems``.

    ``base_url`` is the feed's own (final) URL: relative links resolve against it (and xml:base).
    """
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    log = ProblemLog()
    if not body.strip():
        return FeedResult((), (Problem(ProblemCode.NOT_A_FEED, "empty body"),))
    if HTML_START_RE.match(body[:4096]):
        return FeedResult((), (Problem(ProblemCode.NOT_A_FEED, "an HTML page, not an RSS, Atom or RDF feed"),))
    body, cut = _cut_items(body, max_items)
    # No content-location: feedparser would resolve RSS guids against it ("g1" → "https://…/g1").
    # application/xml: the XML declaration (else UTF-8) names the encoding, as RFC 7303 says.
    parsed: Any = feedparser.parse(io.BytesIO(body), response_headers={"content-type": "application/xml"},
                                   resolve_relative_uris=False, sanitize_html=False)
    version = str(parsed.get("version") or "")
    entries = parsed.get("entries") or []
    if not version and not entries:
        return FeedResult((), (Problem(ProblemCode.NOT_A_FEED, _not_a_feed_detail(parsed)),))
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        log.add(ProblemCode.MALFORMED,
                f"not well-formed ({_describe(exc)}); kept the {len(entries):,} items the lenient parse recovered")
    elif not version:
        log.add(ProblemCode.MALFORMED, "not a recognised feed format; kept the items found")
    if cut:
        log.add(ProblemCode.TRUNCATED, f"more than {max_items:,} items; kept the first {max_items:,}")
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in entries[:max_items]:
        item = _item(entry, base_url, log)
        if item is not None and item.url not in seen:
            seen.add(item.url)
            items.append(item)
    feed_title = _text(parsed.get("feed", {}).get("title"), parsed.get("feed", {}).get("title_detail"))
    return FeedResult(tuple(items), log.problems(), feed_title, version or None)


def _item(entry: Any, base_url: str, log: ProblemLog) -> FeedItem | None:
    link = entry.get("link")
    guid = entry.get("id") or None
    if link and entry.get("guidislink") and link == guid and not _is_http(str(guid)):
        link = None  # feedparser copies an RSS guid into link (isPermaLink defaults to true): "12345"
    if not link:
        alternates = [x.get("href") for x in entry.get("links", []) if x.get("rel", "alternate") == "alternate"]
        link = next((h for h in alternates if h), None)
    if not link and guid and _is_http(str(guid)):
        link = guid  # an RSS guid that is a URL but was not marked isPermaLink
    title = _text(entry.get("title"), entry.get("title_detail"))
    if not link:
        log.entry(ProblemCode.BAD_URL, "items without a link", title or str(guid or "(untitled)"))
        return None
    try:
        url = normalize_url(urljoin(base_url, str(link).strip()))
    except (BadURLError, ValueError):
        log.entry(ProblemCode.BAD_URL, "items with a link that is not an http(s) URL", str(link))
        return None
    published = iso_from_struct(entry.get("published_parsed") or entry.get("updated_parsed"))
    return FeedItem(url=url, title=title, published=published, guid=str(guid) if guid else None)


def _is_http(text: str) -> bool:
    return text.strip().lower().startswith(("http://", "https://"))


def _text(value: Any, detail: Any) -> str | None:
    if not value:
        return None
    text = str(value)
    if detail and "html" in str(detail.get("type", "")):
        text = html.unescape(TAG_RE.sub(" ", text))
    return " ".join(text.split()) or None


def _describe(exc: object) -> str:
    if exc is None:
        return "unknown error"
    line = getattr(exc, "getLineNumber", None)
    where = f"line {line()}: " if callable(line) else ""
    return f"{where}{getattr(exc, 'getMessage', lambda: str(exc))()}"[:200]


def _not_a_feed_detail(parsed: Any) -> str:
    if parsed.get("bozo"):
        return f"no RSS, Atom or RDF feed could be read ({_describe(parsed.get('bozo_exception'))})"
    return "no RSS, Atom or RDF root element"


def _cut_items(body: bytes, max_items: int) -> tuple[bytes, bool]:
    """``body`` cut before item ``max_items + 1`` with its open elements closed, and whether it was cut."""
    cut_at = None
    for n, match in enumerate(ITEM_START_RE.finditer(body), start=1):
        if n > max_items:
            cut_at = match.start()
            break
    if cut_at is None:
        return body, False
    head = body[:cut_at]
    return head + b"".join(f"</{name}>".encode() for name in reversed(_open_elements(head))), True


def _open_elements(head: bytes) -> list[str]:
    """Qualified names of the elements open at the end of ``head``, outermost first."""
    parser = etree.XMLPullParser(events=("start", "end"), recover=True, resolve_entities=False,
                                 no_network=True, huge_tree=False, load_dtd=False)
    stack: list[str] = []
    view = memoryview(head)
    for offset in range(0, len(head), 1 << 16):
        parser.feed(bytes(view[offset:offset + (1 << 16)]))
        for event, element in parser.read_events():
            if event == "start":
                local = etree.QName(element).localname
                stack.append(f"{element.prefix}:{local}" if element.prefix else local)
            elif stack:
                stack.pop()
                parent = element.getparent()
                if parent is not None:  # keep memory flat: only the open path matters
                    element.clear()
                    while len(parent) > 1:
                        del parent[0]
    return stack
