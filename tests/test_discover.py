"""Feed and sitemap parsing (pipeline.discover): pure, bytes in, typed results and problems out."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.discover import (
    FeedResult,
    ProblemCode,
    SitemapKind,
    SitemapResult,
    parse_feed,
    parse_sitemap,
)

BASE = "https://news.example.org/feeds/world.xml"


def codes(result: FeedResult | SitemapResult) -> set[ProblemCode]:
    return {p.code for p in result.problems}


# ---------------------------------------------------------------------------------------------
# Feeds

RSS20 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>World news</title>
  <link>https://news.example.org/</link>
  <item>
    <title>Police bought DNA sequencers &amp; kits</title>
    <link>https://news.example.org/2024/05/dna-kits/?utm_source=rss&amp;utm_medium=feed</link>
    <guid isPermaLink="false">urn:example:1001</guid>
    <pubDate>Wed, 01 May 2024 09:30:00 +0200</pubDate>
  </item>
  <item>
    <title><![CDATA[Cameras with <em>ethnicity</em> detection]]></title>
    <link>/2024/05/cameras</link>
    <guid>1002</guid>
  </item>
  <item>
    <title>Spyware on journalists</title>
    <guid>https://news.example.org/2024/05/spyware</guid>
    <dc:date>2024-05-03T12:00:00Z</dc:date>
  </item>
  <item>
    <title>Same story, AMP copy</title>
    <link>https://news.example.org/2024/05/dna-kits/amp/</link>
  </item>
  <item>
    <title>Only an id</title>
    <guid>12345</guid>
  </item>
  <item>
    <title>Script link</title>
    <link>javascript:alert(document.cookie)</link>
  </item>
  <item>
    <title>Mail link</title>
    <link>mailto:tips@example.org</link>
  </item>
</channel>
</rss>"""


def test_rss20_items_urls_titles_dates_guids() -> None:
    result = parse_feed(RSS20, BASE, max_items=100)
    assert result.is_feed and result.format == "rss20" and result.title == "World news"
    urls = [item.url for item in result.items]
    assert urls == [
        "https://news.example.org/2024/05/dna-kits/",  # tracking removed; the AMP copy collapsed into it
        "https://news.example.org/2024/05/cameras",  # relative link resolved against the feed's URL
        "https://news.example.org/2024/05/spyware",  # a permalink guid used as the link
    ]
    first, second, third = result.items
    assert first.title == "Police bought DNA sequencers & kits"
    assert first.published == "2024-05-01T07:30:00Z"  # UTC
    assert first.guid == "urn:example:1001"
    assert second.guid == "1002" and second.published is None
    assert third.published is not None and third.published.startswith("2024-05-03")


def test_rss20_unusable_links_are_dropped_and_reported() -> None:
    result = parse_feed(RSS20, BASE, max_items=100)
    bad = [p for p in result.problems if p.code == ProblemCode.BAD_URL]
    assert sum(p.count for p in bad) == 3  # javascript:, mailto: and the guid "12345" without a link
    text = " ".join(p.detail for p in bad)
    assert "javascript:alert" in text and "mailto:" in text and "Only an id" in text
    assert ProblemCode.MALFORMED not in codes(result)  # a well-formed feed is not reported as malformed
    assert all("12345" not in item.url for item in result.items)  # a non-URL guid never becomes a link


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://ngo.example.net/reports/">
  <title type="text">Reports</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2024-04-02T10:00:00Z</updated>
  <entry>
    <title type="html">&lt;b&gt;Surveillance&lt;/b&gt; exports   report</title>
    <link rel="alternate" type="text/html" href="2024/surveillance-exports"/>
    <link rel="enclosure" href="2024/surveillance-exports.pdf"/>
    <id>tag:ngo.example.net,2024:1</id>
    <published>2024-04-01T08:00:00-05:00</published>
    <updated>2024-04-02T08:00:00-05:00</updated>
  </entry>
  <entry>
    <title>Updated only</title>
    <link href="https://ngo.example.net/reports/2024/second"/>
    <id>tag:ngo.example.net,2024:2</id>
    <updated>2024-03-30T00:00:00Z</updated>
  </entry>
</feed>"""


def test_atom_entries_with_xml_base_and_html_titles() -> None:
    result = parse_feed(ATOM, "https://ngo.example.net/feed.atom", max_items=10)
    assert result.format == "atom10" and not result.problems
    assert [i.url for i in result.items] == ["https://ngo.example.net/reports/2024/surveillance-exports",
                                             "https://ngo.example.net/reports/2024/second"]
    assert result.items[0].title == "Surveillance exports report"
    assert result.items[0].published == "2024-04-01T13:00:00Z"
    assert result.items[0].guid == "tag:ngo.example.net,2024:1"
    assert result.items[1].published == "2024-03-30T00:00:00Z"  # updated when nothing is published


RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://old.example.com/">
    <title>Old-style</title><link>https://old.example.com/</link><description>d</description>
    <items><rdf:Seq><rdf:li resource="https://old.example.com/a"/><rdf:li resource="https://old.example.com/b"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://old.example.com/a"><title>A</title><link>https://old.example.com/a</link>
    <dc:date>2023-12-31</dc:date></item>
  <item rdf:about="https://old.example.com/b"><title>B</title><link>https://old.example.com/b?ref=rss</link></item>
</rdf:RDF>"""


def test_rdf_rss10() -> None:
    result = parse_feed(RDF, "https://old.example.com/index.rdf", max_items=10)
    assert result.format == "rss10"
    assert [(i.url, i.title) for i in result.items] == [("https://old.example.com/a", "A"),
                                                        ("https://old.example.com/b", "B")]
    assert result.items[0].published == "2023-12-31T00:00:00Z"


def test_empty_feed_is_not_an_error() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    result = parse_feed(body, BASE, max_items=10)
    assert result.items == () and result.problems == () and result.is_feed and result.title == "Quiet"


@pytest.mark.parametrize("body", [
    b"<!DOCTYPE html><html><head><title>Home</title></head><body><a href='/rss'>RSS</a></body></html>",
    b"\n  <html lang='en'><body><p>News</p></body></html>",
    b'<?xml version="1.0"?><!-- page --><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
    b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
    b"",
    b"   \n",
])
def test_not_a_feed(body: bytes) -> None:
    result = parse_feed(body, BASE, max_items=10)
    assert not result.is_feed
    assert codes(result) == {ProblemCode.NOT_A_FEED}
    assert result.items == ()


def test_malformed_feed_keeps_recovered_items_and_reports() -> None:
    body = b"""<rss version="2.0"><channel><title>Broken</title>
      <item><title>One &nbsp; two</title><link>https://b.example.com/1</link></item>
      <item><title>Unclosed</title><link>https://b.example.com/2</link>
    </channel>"""
    result = parse_feed(body, "https://b.example.com/feed", max_items=10)
    assert ProblemCode.MALFORMED in codes(result)
    assert [i.url for i in result.items] == ["https://b.example.com/1", "https://b.example.com/2"]
    assert result.is_feed


def test_huge_feed_is_truncated_at_max_items() -> None:
    items = b"".join(b"<item><title>Story %d</title><link>https://big.example.com/s/%d</link></item>" % (n, n)
                     for n in range(100_000))
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>' + items + b"</channel></rss>"
    result = parse_feed(body, "https://big.example.com/feed", max_items=250)
    assert len(result.items) == 250
    assert result.items[0].url == "https://big.example.com/s/0"
    assert result.items[-1].url == "https://big.example.com/s/249"
    assert codes(result) == {ProblemCode.TRUNCATED}  # the cut feed is closed properly: not "malformed"
    assert "250" in next(p.detail for p in result.problems)


def test_feed_exactly_at_max_items_is_not_truncated() -> None:
    items = b"".join(b"<entry><id>%d</id><link href='https://e.example.com/%d'/></entry>" % (n, n) for n in range(5))
    body = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>' + items + b"</feed>"
    assert codes(parse_feed(body, BASE, max_items=5)) == set()
    cut = parse_feed(body, BASE, max_items=4)
    assert codes(cut) == {ProblemCode.TRUNCATED} and len(cut.items) == 4


def test_duplicate_items_collapse_to_first() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>First</title><link>https://d.example.com/a?utm_campaign=x</link></item>
      <item><title>Other</title><link>https://d.example.com/b</link></item>
      <item><title>Again</title><link>HTTPS://D.EXAMPLE.COM/a#top</link></item>
      <item><title>Again amp</title><link>https://d.example.com/a?amp=1</link></item>
    </channel></rss>"""
    result = parse_feed(body, "https://d.example.com/feed", max_items=10)
    assert [(i.url, i.title) for i in result.items] == [("https://d.example.com/a", "First"),
                                                        ("https://d.example.com/b", "Other")]


BILLION_LAUGHS_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE %s [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
 <!ENTITY xxe SYSTEM "file://%s">
]>
"""


def test_feed_entities_do_not_expand(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-CANARY")
    body = (BILLION_LAUGHS_DTD % (b"rss", str(secret).encode())) + b"""<rss version="2.0"><channel>
      <title>&lol9;</title>
      <item><title>a &xxe; b &lol9;</title><link>https://x.example.com/a</link></item>
    </channel></rss>"""
    result = parse_feed(body, "https://x.example.com/feed", max_items=10)
    everything = repr(result)
    assert "TOPSECRET-CANARY" not in everything
    assert "lollol" not in everything
    assert len(everything) < 5_000
    assert [i.url for i in result.items] == ["https://x.example.com/a"]


def test_feed_body_is_never_taken_for_a_file_name(tmp_path: Path) -> None:
    # feedparser.parse(bytes) opens a local file when the bytes name one; we must hand it a stream.
    local = tmp_path / "local-feed.xml"
    local.write_bytes(RSS20)
    result = parse_feed(str(local).encode(), BASE, max_items=10)
    assert result.items == () and not result.is_feed


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_items"):
        parse_feed(RSS20, BASE, max_items=0)


# ---------------------------------------------------------------------------------------------
# Sitemaps

SITEMAP = "https://news.example.org/sitemap.xml"

NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc>https://news.example.org/2024/05/dna-kits/?utm_source=sitemap&amp;id=7</loc>
    <lastmod>2024-05-01T10:15:00+02:00</lastmod>
    <news:news>
      <news:publication><news:name>Example News</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2024-05-01T08:00:00Z</news:publication_date>
      <news:title>Police bought   DNA kits</news:title>
    </news:news>
    <image:image><image:loc>https://cdn.example.org/dna.jpg</image:loc></image:image>
  </url>
  <url><loc>https://news.example.org/2024/05/plain</loc><lastmod>2024-05-02</lastmod></url>
  <url><loc>https://news.example.org/2024/05/plain#again</loc></url>
  <url><loc>  /2024/05/relative  </loc></url>
  <url><loc>ftp://news.example.org/file</loc></url>
  <url><lastmod>2024-01-01</lastmod></url>
</urlset>"""


def test_news_sitemap() -> None:
    result = parse_sitemap(NEWS_SITEMAP, SITEMAP, max_urls=100)
    assert result.kind == SitemapKind.URLSET and result.sitemaps == ()
    assert [e.url for e in result.urls] == [
        "https://news.example.org/2024/05/dna-kits/?id=7",
        "https://news.example.org/2024/05/plain",  # its '#again' duplicate collapsed
        "https://news.example.org/2024/05/relative",  # root-relative <loc> resolved
    ]
    news, plain, _ = result.urls
    assert news.lastmod == "2024-05-01T08:15:00Z"
    assert news.published == "2024-05-01T08:00:00Z"
    assert news.title == "Police bought DNA kits"
    assert plain.lastmod == "2024-05-02" and plain.published is None and plain.title is None
    bad = [p for p in result.problems if p.code == ProblemCode.BAD_URL]
    assert codes(result) == {ProblemCode.BAD_URL} and sum(p.count for p in bad) == 2  # ftp: and no <loc>


SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://news.example.org/sitemaps/2024-05.xml.gz</loc><lastmod>2024-05-31</lastmod></sitemap>
  <sitemap><loc>https://news.example.org/sitemaps/news.xml</loc></sitemap>
  <sitemap><loc>https://cdn.other.example/sitemaps/x.xml</loc></sitemap>
</sitemapindex>"""


def test_sitemap_index_lists_children_separately() -> None:
    result = parse_sitemap(SITEMAP_INDEX, SITEMAP, max_urls=100)
    assert result.kind == SitemapKind.INDEX and result.urls == () and not result.problems
    assert [s.url for s in result.sitemaps] == ["https://news.example.org/sitemaps/2024-05.xml.gz",
                                                "https://news.example.org/sitemaps/news.xml",
                                                "https://cdn.other.example/sitemaps/x.xml"]
    assert result.sitemaps[0].lastmod == "2024-05-31"


def test_gzip_sitemap_equals_plain() -> None:
    plain = parse_sitemap(NEWS_SITEMAP, SITEMAP, max_urls=100)
    packed = parse_sitemap(gzip.compress(NEWS_SITEMAP), SITEMAP + ".gz", max_urls=100)
    assert packed.urls == plain.urls and packed.kind == SitemapKind.URLSET
    assert packed.bytes_read == len(NEWS_SITEMAP)  # bytes_read counts decompressed bytes


def test_multi_member_gzip() -> None:
    half = len(NEWS_SITEMAP) // 2
    body = gzip.compress(NEWS_SITEMAP[:half]) + gzip.compress(NEWS_SITEMAP[half:])
    assert parse_sitemap(body, SITEMAP, max_urls=100).urls == parse_sitemap(NEWS_SITEMAP, SITEMAP, max_urls=100).urls


def test_corrupt_and_truncated_gzip_are_malformed() -> None:
    packed = gzip.compress(NEWS_SITEMAP)
    corrupt = packed[:20] + bytes(b ^ 0xFF for b in packed[20:60]) + packed[60:]
    assert ProblemCode.MALFORMED in codes(parse_sitemap(corrupt, SITEMAP, max_urls=100))
    cut = parse_sitemap(packed[: len(packed) // 2], SITEMAP, max_urls=100)
    assert ProblemCode.MALFORMED in codes(cut)
    assert "ends early" in " ".join(p.detail for p in cut.problems)


def test_text_sitemap() -> None:
    body = (b"\xef\xbb\xbfhttps://t.example.com/a\r\n"
            b"https://t.example.com/b?utm_source=x\n\n"
            b"   https://t.example.com/c   \n"
            b"not a url\n"
            b"/relative/is/not/allowed\n"
            b"https://t.example.com/a\n"
            b"https://t.example.com/last-without-newline")
    result = parse_sitemap(body, "https://t.example.com/sitemap.txt", max_urls=100)
    assert result.kind == SitemapKind.TEXT
    assert [e.url for e in result.urls] == ["https://t.example.com/a", "https://t.example.com/b",
                                            "https://t.example.com/c", "https://t.example.com/last-without-newline"]
    bad = [p for p in result.problems if p.code == ProblemCode.BAD_URL]
    assert codes(result) == {ProblemCode.BAD_URL} and sum(p.count for p in bad) == 2


def test_text_sitemap_with_one_endless_line() -> None:
    body = b"https://t.example.com/a\n" + b"x" * 300_000 + b"\nhttps://t.example.com/b\n"
    result = parse_sitemap(body, "https://t.example.com/s.txt", max_urls=10)
    assert [e.url for e in result.urls] == ["https://t.example.com/a", "https://t.example.com/b"]
    assert codes(result) == {ProblemCode.BAD_URL}


def test_text_that_is_no_sitemap() -> None:
    result = parse_sitemap(b"User-agent: *\nDisallow: /private\n", "https://t.example.com/robots.txt", max_urls=10)
    assert result.kind == SitemapKind.NONE and ProblemCode.NOT_A_SITEMAP in codes(result)


@pytest.mark.parametrize("body", [
    b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>",
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
    b"",
    b"<<<>>>",
])
def test_not_a_sitemap(body: bytes) -> None:
    result = parse_sitemap(body, SITEMAP, max_urls=10)
    assert result.kind == SitemapKind.NONE and result.urls == () and result.sitemaps == ()
    assert codes(result) == {ProblemCode.NOT_A_SITEMAP}


def test_empty_urlset_is_fine() -> None:
    result = parse_sitemap(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>', SITEMAP, max_urls=10)
    assert result.kind == SitemapKind.URLSET and result.urls == () and result.problems == ()


def test_malformed_sitemap_keeps_entries_before_the_error() -> None:
    body = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<url><loc>https://m.example.com/1</loc></url>"
            b"<url><loc>https://m.example.com/2</loc></url>"
            b"<url><loc>https://m.example.com/3?a=1&b=2</loc></url>"  # bare '&': not XML
            b"<url><loc>https://m.example.com/4</loc></url></urlset>")
    result = parse_sitemap(body, SITEMAP, max_urls=10)
    assert [e.url for e in result.urls] == ["https://m.example.com/1", "https://m.example.com/2"]
    assert codes(result) == {ProblemCode.MALFORMED}
    assert all("=2" not in e.url for e in result.urls)  # never a silently mangled URL


def test_malformed_sitemap_never_emits_the_entry_being_read() -> None:
    """Whatever libxml2 recovers after an error (lxml 6.2 closes the open elements): the entry the
    error struck is never returned, even when its <loc> was complete, and entries in earlier
    64 KiB pieces and with a namespace prefix are kept."""
    many = b"".join(b"<sm:url><sm:loc>https://m.example.com/p/%d</sm:loc></sm:url>" % n for n in range(3000))
    body = (b'<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">' + many
            + b"<sm:url><sm:loc>https://m.example.com/bad</sm:loc><sm:lastmod>2026-01-01 & later</sm:lastmod>"
              b"</sm:url><sm:url><sm:loc>https://m.example.com/after</sm:loc></sm:url></sm:urlset>")
    assert len(body) > 2 * 65536
    result = parse_sitemap(body, SITEMAP, max_urls=10_000)
    urls = [e.url for e in result.urls]
    assert len(urls) == 3000 and urls[-1] == "https://m.example.com/p/2999"
    assert "https://m.example.com/bad" not in urls and "https://m.example.com/after" not in urls
    assert codes(result) == {ProblemCode.MALFORMED}


def test_sitemap_truncated_at_max_urls() -> None:
    locs = b"".join(b"<url><loc>https://s.example.com/p/%d</loc></url>" % n for n in range(1000))
    result = parse_sitemap(b"<urlset>" + locs + b"</urlset>", SITEMAP, max_urls=100)
    assert len(result.urls) == 100 and result.urls[-1].url == "https://s.example.com/p/99"
    assert codes(result) == {ProblemCode.TRUNCATED}
    exact = parse_sitemap(b"<urlset>" + locs + b"</urlset>", SITEMAP, max_urls=1000)
    assert len(exact.urls) == 1000 and exact.problems == ()


def test_index_children_count_against_max_urls() -> None:
    children = b"".join(b"<sitemap><loc>https://s.example.com/s%d.xml</loc></sitemap>" % n for n in range(50))
    result = parse_sitemap(b"<sitemapindex>" + children + b"</sitemapindex>", SITEMAP, max_urls=20)
    assert len(result.sitemaps) == 20 and codes(result) == {ProblemCode.TRUNCATED}


def _two_million_urls() -> Iterator[bytes]:
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
    for block in range(2_000):
        yield b"".join(b"<url><loc>https://h.example.com/%d</loc></url>\n" % (block * 1_000 + n) for n in range(1_000))
    yield b"</urlset>\n"


def test_two_million_url_sitemap_stops_at_max_urls() -> None:
    # Compressed as it is generated, so the test never holds the ~90 MB document.
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    body = b"".join(packer.compress(piece) for piece in _two_million_urls()) + packer.flush()
    result = parse_sitemap(body, SITEMAP, max_urls=5_000, max_bytes=200 * 1024 * 1024)
    assert len(result.urls) == 5_000
    assert result.urls[-1].url == "https://h.example.com/4999"
    assert codes(result) == {ProblemCode.TRUNCATED}
    assert result.bytes_read < 2_000_000  # stopped near entry 5,000, not after reading ~90 MB


def test_plain_two_million_url_sitemap_stops_at_max_urls() -> None:
    body = b"".join(_two_million_urls())
    result = parse_sitemap(body, SITEMAP, max_urls=1_000, max_bytes=len(body) + 1)
    assert len(result.urls) == 1_000 and codes(result) == {ProblemCode.TRUNCATED}
    assert result.bytes_read < len(body) // 100


def test_gzip_bomb_is_refused() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    bomb = packer.compress(head) + b"".join(packer.compress(b" " * (1 << 20)) for _ in range(64)) + packer.flush()
    assert len(bomb) < 1024 * 1024  # well under a megabyte on the wire, 64 MiB inflated
    result = parse_sitemap(bomb, SITEMAP, max_urls=10, max_bytes=8 * 1024 * 1024)
    assert codes(result) == {ProblemCode.TOO_LARGE}
    assert result.urls == ()
    assert result.bytes_read <= 8 * 1024 * 1024 + 64 * 1024  # stopped at the cap (one piece over at most)


def test_byte_cap_applies_to_plain_bodies_too() -> None:
    body = b"<urlset>" + b"<url><loc>https://c.example.com/x</loc></url>" * 10_000 + b"</urlset>"
    result = parse_sitemap(body, SITEMAP, max_urls=100_000, max_bytes=100_000)
    assert ProblemCode.TOO_LARGE in codes(result)
    assert len(result.urls) == 1  # the same URL 10,000 times is one entry


def test_sitemap_with_entities_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-CANARY")
    body = (BILLION_LAUGHS_DTD % (b"urlset", str(secret).encode())) + (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://e.example.com/&lol9;</loc></url>"
        b"<url><loc>https://e.example.com/&xxe;</loc></url></urlset>")
    result = parse_sitemap(body, SITEMAP, max_urls=10)
    assert codes(result) == {ProblemCode.UNSAFE_XML}
    assert result.urls == () and "TOPSECRET" not in repr(result) and "lollol" not in repr(result)


def test_max_urls_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_urls"):
        parse_sitemap(NEWS_SITEMAP, SITEMAP, max_urls=0)
