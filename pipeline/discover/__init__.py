"""Discovery: what a fetched feed or sitemap says is there to crawl. Pure parsing, no I/O.

The crawl orchestration fetches (through ``pipeline.fetch``) and hands the bytes here:

* ``parse_feed`` for RSS/Atom/RDF feeds → ``FeedResult`` (article URLs, titles, dates, guids);
* ``parse_sitemap`` for XML (urlset, Google News, sitemapindex; gzip or not) and text sitemaps →
  ``SitemapResult`` (page URLs, and for an index the child sitemaps the caller fetches in turn).

Nothing raises on bad input: each result carries typed ``Problem``s (``ProblemCode``) to report per
source. Every URL returned is absolute, ``http(s)`` and normalised by ``pipeline.urls.normalize_url``.
"""

from pipeline.discover.feeds import FeedItem, FeedResult, parse_feed
from pipeline.discover.problems import Problem, ProblemCode
from pipeline.discover.sitemaps import MAX_SITEMAP_BYTES, SitemapEntry, SitemapKind, SitemapResult, parse_sitemap

__all__ = [
    "MAX_SITEMAP_BYTES",
    "FeedItem",
    "FeedResult",
    "Problem",
    "ProblemCode",
    "SitemapEntry",
    "SitemapKind",
    "SitemapResult",
    "parse_feed",
    "parse_sitemap",
]
