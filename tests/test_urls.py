"""URL normalisation (pipeline.urls): one canonical string per article, idempotent, pure."""

from __future__ import annotations

import pytest

from pipeline.urls import BadURLError, host_of, normalize_url, same_host, same_site, site_of, try_normalize_url

CASES = [
    # scheme/host case, default ports, fragments, empty path
    ("HTTPS://WWW.Example.COM:443/News/Story", "https://www.example.com/News/Story"),
    ("http://example.com:80", "http://example.com/"),
    ("http://example.com:8080/a", "http://example.com:8080/a"),
    ("https://example.com:80/a", "https://example.com:80/a"),
    ("https://example.com./a#section-2", "https://example.com/a"),
    ("https://example.com/app#!/story/42", "https://example.com/app"),
    ("  https://example.com/a\n", "https://example.com/a"),
    # path: dot segments, slash runs, escapes; trailing slash kept
    ("https://example.com/a/./b/../c//d", "https://example.com/a/c/d"),
    ("https://example.com/2024/05/story/", "https://example.com/2024/05/story/"),
    ("https://example.com/%7euser/caf%c3%a9", "https://example.com/~user/caf%C3%A9"),
    ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
    ("https://example.com/café", "https://example.com/caf%C3%A9"),
    ("https://example.com/a b", "https://example.com/a%20b"),
    ("https://example.com/story;jsessionid=0A1B2C?id=3", "https://example.com/story?id=3"),
    # tracking parameters
    ("https://www.reuters.com/world/x-2024-05-01/?utm_source=twitter&utm_medium=social&utm_campaign=a",
     "https://www.reuters.com/world/x-2024-05-01/"),
    ("https://example.com/a?fbclid=IwAR0abc&gclid=Cj0K&msclkid=1&igshid=2&mc_cid=3&mc_eid=4",
     "https://example.com/a"),
    ("https://www.theguardian.com/world/2019/x?CMP=share_btn_tw", "https://www.theguardian.com/world/2019/x"),
    ("https://www.bbc.co.uk/news/world-1?at_medium=RSS&at_campaign=KARANGA&ns_source=x",
     "https://www.bbc.co.uk/news/world-1"),
    ("https://www.nytimes.com/2024/01/01/world/x.html?smid=tw-share&sr_share=twitter",
     "https://www.nytimes.com/2024/01/01/world/x.html"),
    ("https://example.com/a?_hsenc=p2A&_hsmi=1&mkt_tok=eyJ&pk_campaign=x&mtm_source=y", "https://example.com/a"),
    ("https://twitter-share.example/a?ref_src=twsrc%5Etfw", "https://twitter-share.example/a"),
    # ref/source/from: dropped only when the value is a referral channel
    ("https://example.com/a?ref=rss", "https://example.com/a"),
    ("https://example.com/a?ref=hn&source=twitter-share&from=newsletter", "https://example.com/a"),
    ("https://github.com/o/r/blob/x.py?ref=main", "https://github.com/o/r/blob/x.py?ref=main"),
    ("https://example.com/search?from=2024-01-01&source=court-records",
     "https://example.com/search?from=2024-01-01&source=court-records"),
    # real parameters kept (courlan's regex would drop gallery/game/global, its unescape breaks &region)
    ("https://example.com/a?region=asia&gallery=3&game=4&global=1",
     "https://example.com/a?gallery=3&game=4&global=1&region=asia"),
    ("https://example.com/article.php?sid=9&storyid=12345", "https://example.com/article.php?sid=9&storyid=12345"),
    # query: sorted by name, repeated names keep their order, valueless keys kept as written
    ("https://example.com/a?b=2&a=1&b=1", "https://example.com/a?a=1&b=2&b=1"),
    ("https://example.com/a?12345", "https://example.com/a?12345"),
    ("https://example.com/a?q=caf%c3%a9&x=a+b", "https://example.com/a?q=caf%C3%A9&x=a+b"),
    ("https://example.com/a?q=café", "https://example.com/a?q=caf%C3%A9"),
    ("https://example.com/a?&&x=1&", "https://example.com/a?x=1"),
    # AMP variants
    ("https://www.example.com/2024/01/story/amp/", "https://www.example.com/2024/01/story/"),
    ("https://www.example.com/2024/01/story/amp", "https://www.example.com/2024/01/story/"),
    ("https://www.bbc.co.uk/news/world-asia-china-12345.amp", "https://www.bbc.co.uk/news/world-asia-china-12345"),
    ("https://example.com/news/story.amp.html", "https://example.com/news/story.html"),
    ("https://example.com/a?amp=1&page=2", "https://example.com/a?page=2"),
    ("https://example.com/a?amp", "https://example.com/a"),
    ("https://example.com/a?amp=0", "https://example.com/a?amp=0"),
    ("https://www.washingtonpost.com/world/2024/05/01/x/?outputType=amp",
     "https://www.washingtonpost.com/world/2024/05/01/x/"),
    ("https://www-example-com.cdn.ampproject.org/c/s/www.example.com/2024/x/?amp_js_v=0.1&usqp=mq331AQ",
     "https://www.example.com/2024/x/"),
    ("https://www.google.com/amp/s/www.example.com/2024/x/amp/", "https://www.example.com/2024/x/"),
    ("https://amp.theguardian.com/world/2019/jan/01/x", "https://www.theguardian.com/world/2019/jan/01/x"),
    ("https://amp.example.com/world/x", "https://amp.example.com/world/x"),  # unknown amp host: kept
    ("https://example.com/amp", "https://example.com/amp"),  # a page called amp, not a variant
    ("https://www.google.com/search?q=amp", "https://www.google.com/search?q=amp"),
    # hosts
    ("https://BÜCHER.de/x", "https://xn--bcher-kva.de/x"),
    ("https://xn--bcher-kva.de/x", "https://xn--bcher-kva.de/x"),
    ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
    ("http://127.0.0.1:8000/a?b=1", "http://127.0.0.1:8000/a?b=1"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_normalize_url_is_idempotent(raw: str, expected: str) -> None:
    assert normalize_url(normalize_url(raw)) == normalize_url(raw)


def test_variants_of_one_article_collapse() -> None:
    variants = [
        "https://www.example.com/2024/05/dna-kits/",
        "HTTPS://WWW.EXAMPLE.COM/2024/05/dna-kits/#comments",
        "https://www.example.com:443/2024/05/dna-kits/?utm_source=rss&utm_medium=feed",
        "https://www.example.com/2024/05/dna-kits/amp/",
        "https://www.example.com/2024/05/dna-kits/?amp=1&fbclid=x",
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/2024/05/dna-kits/amp/",
        "https://www.example.com/2024/05/./dna-kits/",
    ]
    assert {normalize_url(v) for v in variants} == {"https://www.example.com/2024/05/dna-kits/"}


def test_distinct_articles_stay_distinct() -> None:
    urls = ["https://example.com/article.php?storyid=2", "https://example.com/article.php?storyid=3",
            "https://example.com/news/a", "https://example.com/news/a/", "http://example.com/news/a",
            "https://example.com/news/A"]
    assert len({normalize_url(u) for u in urls}) == len(urls)


@pytest.mark.parametrize("bad", [
    "ftp://example.com/a", "javascript:alert(1)", "mailto:press@example.com", "data:text/html,hi",
    "/relative/path", "example.com/a", "", "   ", "http:///a", "https://user:secret@example.com/",
    "https://example.com:99999/", "https://a..b/", "https://exa mple.com/",
])
def test_refuses_non_http_urls(bad: str) -> None:
    with pytest.raises(BadURLError):
        normalize_url(bad)
    assert try_normalize_url(bad) is None


def test_bad_url_error_is_a_value_error() -> None:
    assert issubclass(BadURLError, ValueError)


def test_site_helpers() -> None:
    assert host_of("HTTPS://News.BBC.co.uk:443/x") == "news.bbc.co.uk"
    assert site_of("https://news.bbc.co.uk/x") == "bbc.co.uk"
    assert site_of("https://a.b.github.io/") == "b.github.io"  # public suffix list, not the last two labels
    assert site_of("http://127.0.0.1:8000/x") == "127.0.0.1"
    assert site_of("http://localhost/x") == "localhost"
    assert site_of("javascript:alert(1)") == ""
    assert same_site("https://amp.example.com/a", "https://www.example.com/b")
    assert not same_site("https://example.com/a", "https://example.org/a")
    assert not same_site("https://alice.github.io/", "https://bob.github.io/")
    assert not same_site("mailto:a@b.c", "mailto:a@b.c")
    assert same_host("https://EXAMPLE.com/a", "http://example.com:80/b")
    assert not same_host("https://www.example.com/", "https://example.com/")
