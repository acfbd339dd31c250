"""XML sitemaps (urlset, Google News, sitemapindex), gzip-compressed or not, and text sitemaps.

Not a sitemap library (ultimate-sitemap-parser, advertools, trafilatura's sitemaps): they fetch the
sitemap and its children themselves, which would bypass our SSRF block, robots rules, rate limits
and byte caps (``pipeline.fetch`` is the only module that does network I/O). Here we only parse
bytes the fetch stage already has; the crawler fetches the child sitemaps an index lists.

Streaming, so a multi-million-URL sitemap costs what its first ``max_urls`` entries cost: the body
(decompressed on the fly when it starts with the gzip magic) goes in 64 KiB pieces through lxml's
pull parser, each entry is cleared once read, and parsing stops at ``max_urls`` entries or after
``max_bytes`` of (decompressed) input, so a gzip bomb stops at the cap.

The XML parser is hardened (``resolve_entities=False, no_network=True, huge_tree=False``, no DTD
loading) and a sitemap with a DOCTYPE is refused outright: sitemaps have none, and an entity left
unexpanded would silently cut a ``<loc>`` short.
"""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from pipeline.discover.dates import iso_from_w3c
from pipeline.discover.problems import Problem, ProblemCode, ProblemLog
from pipeline.urls import BadURLError, normalize_url

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 16
MAX_LINE = 8192  # longer than any usable URL
MAX_SITEMAP_BYTES = 64 * 1024 * 1024
"""Default cap on the decompressed size: the protocol allows 50 MB uncompressed, plus a margin."""


class SitemapKind(StrEnum):
    URLSET = "urlset"  # pages
    INDEX = "sitemapindex"  # child sitemaps, in ``SitemapResult.sitemaps``
    TEXT = "text"  # one URL per line
    NONE = "none"  # nothing usable (see problems)


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    url: str  # absolute, normalised
    lastmod: str | None = None  # ISO 8601 (UTC when a time is given); [:10] is the date
    published: str | None = None  # Google News <news:publication_date>
    title: str | None = None  # Google News <news:title>


@dataclass(frozen=True, slots=True)
class SitemapResult:
    kind: SitemapKind
    urls: tuple[SitemapEntry, ...] = ()  # pages (urlset, text), first occurrence of each URL
    sitemaps: tuple[SitemapEntry, ...] = ()  # child sitemaps of an index, for the caller to fetch
    problems: tuple[Problem, ...] = ()
    bytes_read: int = 0  # (decompressed) bytes parsed before stopping


class _Stop(Exception):
    """Internal: stop reading the body."""


def parse_sitemap(body: bytes, base_url: str, *, max_urls: int,
                  max_bytes: int = MAX_SITEMAP_BYTES) -> SitemapResult:
    """Entries of a sitemap. Never raises on bad input; see ``SitemapResult.problems``.

    ``max_urls`` bounds the entries returned (pages and child sitemaps together); ``max_bytes`` the
    decompressed bytes read. ``base_url`` is the sitemap's own URL (relative locations resolve
    against it; the protocol wants absolute ones).
    """
    if max_urls < 1:
        raise ValueError("max_urls must be at least 1")
    reader = _Reader(base_url, max_urls, max_bytes)
    chunks = _gunzip(body, reader.log) if body[:2] == GZIP_MAGIC else _pieces(body)
    with contextlib.suppress(_Stop):
        reader.run(chunks)
    return reader.result()


def _pieces(body: bytes) -> Iterator[bytes]:
    view = memoryview(body)
    for offset in range(0, len(body), CHUNK):
        yield bytes(view[offset:offset + CHUNK])


def _gunzip(body: bytes, log: ProblemLog) -> Iterator[bytes]:
    """Decompress gzip members piece by piece, never more than CHUNK bytes of output at a time."""
    data = body
    while data[:2] == GZIP_MAGIC:
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = data
        try:
            while pending and not decomp.eof:
                out = decomp.decompress(pending, CHUNK)
                pending = decomp.unconsumed_tail
                if out:
                    yield out
            while not decomp.eof:  # output held back by max_length, input all consumed
                out = decomp.decompress(b"", CHUNK)
                if not out:
                    break
                yield out
        except zlib.error as exc:
            log.add(ProblemCode.MALFORMED, f"corrupt gzip data ({exc})")
            return
        if not decomp.eof:
            log.add(ProblemCode.MALFORMED, "gzip data ends early (truncated download?)")
            return
        data = decomp.unused_data.lstrip(b"\0")  # multi-member gzip; padding after the last member


class _Reader:
    def __init__(self, base_url: str, max_urls: int, max_bytes: int) -> None:
        self.base_url = base_url
        self.max_urls = max_urls
        self.max_bytes = max_bytes
        self.log = ProblemLog()
        self.kind = SitemapKind.NONE
        self.urls: list[SitemapEntry] = []
        self.sitemaps: list[SitemapEntry] = []
        self.seen: set[str] = set()
        self.bytes_read = 0
        self.text_lines = 0
        self.depth = 0

    def result(self) -> SitemapResult:
        reported = (ProblemCode.UNSAFE_XML, ProblemCode.NOT_A_SITEMAP, ProblemCode.TOO_LARGE, ProblemCode.MALFORMED)
        if self.kind == SitemapKind.NONE and not any(self.log.has(code) for code in reported):
            self.log.add(ProblemCode.NOT_A_SITEMAP, "empty body" if not self.bytes_read else "no sitemap entries")
        return SitemapResult(self.kind, tuple(self.urls), tuple(self.sitemaps), self.log.problems(),
                             self.bytes_read)

    def count(self, chunk: bytes) -> bytes:
        self.bytes_read += len(chunk)
        if self.bytes_read > self.max_bytes:
            self.log.add(ProblemCode.TOO_LARGE, f"over {self.max_bytes:,} bytes (decompressed); stopped there")
            raise _Stop
        return chunk

    def run(self, chunks: Iterator[bytes]) -> None:
        head = b""
        for chunk in chunks:  # sniff: XML starts with '<' after an optional BOM and blank space
            head += self.count(chunk)
            start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if start:
                break
        else:
            return
        if start.startswith(b"<"):
            self._xml(head, chunks)
        else:
            self._text(head, chunks)

    # -- text sitemaps ------------------------------------------------------------------------

    def _text(self, head: bytes, chunks: Iterator[bytes]) -> None:
        self.kind = SitemapKind.TEXT
        rest = b""
        skipping = False  # inside an over-long line: drop bytes up to the next newline
        for chunk in _chain(head, chunks, self.count):
            *lines, rest = (rest + chunk).split(b"\n")
            if lines and skipping:
                lines, skipping = lines[1:], False
            for line in lines:
                self._text_line(line)
            if len(rest) > MAX_LINE and not skipping:
                example = rest[:60].decode("utf-8", "replace")
                self.log.entry(ProblemCode.BAD_URL, f"lines longer than {MAX_LINE:,} bytes", example)
                rest, skipping = b"", True
            elif skipping:
                rest = b""
        if not skipping:
            self._text_line(rest)
        if not self.urls and self.text_lines:
            self.kind = SitemapKind.NONE
            self.log.add(ProblemCode.NOT_A_SITEMAP, "a text body without a single http(s) URL")

    def _text_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").strip().lstrip("\ufeff")
        if line:
            self.text_lines += 1
            self._add(self.urls, line, None, None, None, "lines that are not http(s) URLs", relative=False)

    # -- XML sitemaps -------------------------------------------------------------------------

    def _xml(self, head: bytes, chunks: Iterator[bytes]) -> None:
        # Strict: libxml2's recovery mode silently drops characters (a bare '&' in
        # "?a=1&b=2" gives "?a=1=2"), so a wrong URL would be crawled. On an error we keep the
        # entries read before it and report where it broke.
        #
        # What libxml2 hands back *after* an error depends on its version (lxml 6.2's libxml2
        # closes the open elements, so the <url> being read when the error struck came back with
        # its <loc> cut short). So events are never read once a feed has failed: the body is fed
        # in pieces that end just after an entry's closing tag (_entry_pieces), and only the
        # events of feeds that succeeded are used. An entry whose closing tag was fed without an
        # error was well-formed up to there, whatever the parser would do next; the piece holding
        # the error is dropped whole, and with it the entry it was building. After an error only the
        # root element is still looked at, to tell what the body was (a DOCTYPE: refused).
        parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False, no_network=True,
                                     huge_tree=False, load_dtd=False, remove_comments=True, remove_pis=True)
        error: etree.XMLSyntaxError | None = None
        try:
            for piece in _entry_pieces(_chain(head, chunks, self.count)):
                parser.feed(piece)
                self._events(parser)
            parser.close()
            self._events(parser)
        except etree.XMLSyntaxError as exc:
            error = exc
        if error is None:
            return
        self._events(parser, entries=False)  # the root may still tell what this was (a DOCTYPE: refused)
        message = " ".join(str(error.msg or error).split())[:200]
        if self.kind == SitemapKind.NONE:
            self.log.add(ProblemCode.NOT_A_SITEMAP, f"unreadable XML ({message})")
        else:
            self.log.add(ProblemCode.MALFORMED, f"not well-formed XML ({message}); kept the entries before it")

    def _events(self, parser: Any, *, entries: bool = True) -> None:
        for event, element in parser.read_events():
            if event == "start":
                self.depth += 1
                if self.depth == 1:
                    self._root(element)
                continue
            self.depth -= 1
            if self.depth == 1 and entries:
                self._entry(element)
                element.clear()
                parent = element.getparent()
                while parent is not None and len(parent) > 1:
                    del parent[0]  # drop entries already read: memory stays flat

    def _root(self, root: Any) -> None:
        name = etree.QName(root).localname
        if name not in ("urlset", "sitemapindex"):
            self.log.add(ProblemCode.NOT_A_SITEMAP, f"root element is <{name}>, not <urlset> or <sitemapindex>")
            raise _Stop
        if root.getroottree().docinfo.doctype:
            self.log.add(ProblemCode.UNSAFE_XML, "has a DOCTYPE (sitemaps have none); refused, nothing read")
            raise _Stop
        if name == "urlset":
            self.kind = SitemapKind.URLSET
        else:
            self.kind = SitemapKind.INDEX

    def _entry(self, element: Any) -> None:
        name = etree.QName(element).localname
        if (self.kind, name) not in ((SitemapKind.URLSET, "url"), (SitemapKind.INDEX, "sitemap")):
            return
        fields: dict[str, str] = {}
        for child in element.iter():
            if isinstance(child.tag, str):
                local = etree.QName(child).localname
                if local in ("loc", "lastmod", "publication_date", "title") and local not in fields:
                    fields[local] = "".join(child.itertext()).strip()
        target = self.urls if self.kind == SitemapKind.URLSET else self.sitemaps
        what = "entries without an http(s) <loc>"
        self._add(target, fields.get("loc", ""), iso_from_w3c(fields.get("lastmod")),
                  iso_from_w3c(fields.get("publication_date")), fields.get("title") or None, what)

    # -- shared -------------------------------------------------------------------------------

    def _add(self, target: list[SitemapEntry], loc: str, lastmod: str | None, published: str | None,
             title: str | None, what: str, *, relative: bool = True) -> None:
        # The protocol wants absolute URLs; a root-relative <loc> ("/news/a") is resolved against the
        # sitemap's URL, anything else relative is refused (a text line "not a url" is not a page).
        if relative and loc.startswith("/") and not loc.startswith("//"):
            loc = urljoin(self.base_url, loc)
        try:
            url = normalize_url(loc) if loc else None
        except (BadURLError, ValueError):
            url = None
        if url is None:
            self.log.entry(ProblemCode.BAD_URL, what, loc or "(empty)")
            return
        if url in self.seen:
            return
        if len(self.urls) + len(self.sitemaps) >= self.max_urls:
            self.log.add(ProblemCode.TRUNCATED,
                         f"more than {self.max_urls:,} entries; kept the first {self.max_urls:,}")
            raise _Stop
        self.seen.add(url)
        target.append(SitemapEntry(url, lastmod, published, " ".join(title.split()) if title else None))


ENTRY_END_RE = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:url|sitemap)\s*>")
"""The closing tag of a sitemap entry, with or without a namespace prefix."""
MAX_PIECE = 1 << 20


def _entry_pieces(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The same bytes, re-cut so that each piece ends just after an entry's closing tag (``</url>``,
    ``</sitemap>``); a closing tag split between two chunks ends the piece in the next one. A run
    of over ``MAX_PIECE`` bytes without one is passed on as it is (memory stays bounded)."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        start = 0
        for match in ENTRY_END_RE.finditer(data):
            yield data[start:match.end()]
            start = match.end()
        pending = data[start:]
        if len(pending) > MAX_PIECE:
            yield pending
            pending = b""
    if pending:
        yield pending


def _chain(head: bytes, chunks: Iterator[bytes], count: Any) -> Iterator[bytes]:
    """``head`` (already counted), then the remaining chunks, each counted against the byte cap."""
    yield head
    for chunk in chunks:
        yield count(chunk)
