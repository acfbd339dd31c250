"""Polite fetching against real HTTP servers: robots.txt, per-host pacing measured on the server side,
Retry-After, retries, conditional requests, redirect hops.

Each server records when every request arrived (its own clock readings), so pacing is checked where
it matters: at the host. Distinct hosts are distinct loopback addresses (127.0.0.2, 127.0.0.3, ...).
Intervals are kept at 0.05-0.3 s so the file runs in seconds. Those checks are lower bounds, which a
slow machine only widens (the limiter counts each interval from the end of the previous answer).
Upper bounds ("waited the 0.2 s cap, not 30 s") and back-off sizes are checked on a ``FakeClock``,
which records every wait exactly: a loaded CI machine cannot fail them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

import pytest

from pipeline.errors import FetchError
from pipeline.fetch import Fetcher, NotModified, Validators
from pipeline.politeness import (
    TURN_ALLOWANCE,
    HostLimiter,
    PoliteFetcher,
    RobotsCache,
    agent_token,
    host_key,
    parse_retry_after,
    robots_url,
)
from pipeline.records import Fetched, SkipReason
from pipeline.settings import Settings
from tests.helpers import FakeClock, Handler, LocalServer, article_html, page, redirect, send

SLACK = 0.05
"""How much earlier than the configured interval a request may arrive at the server: the client
stamps a start, then connects, and on a loaded 2-core machine one request's trip to the server can
take tens of milliseconds longer than the next one's. Every interval tested is at least 3x this."""

ROBOTS_404 = None  # a route table without /robots.txt answers it 404: no rules


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.fixture
def polite(settings_factory):
    """``polite(**overrides)``: (settings, PoliteFetcher) on loopback with fast pacing by default."""

    def make(**overrides: object) -> tuple[Settings, PoliteFetcher]:
        values: dict[str, object] = {"crawl_delay": 0.0, "retry_backoff": 0.05, "fetch_timeout": 5.0}
        values.update(overrides)
        settings = settings_factory(allow_private=True, **values)
        return settings, PoliteFetcher(settings)

    return make


ROBOTS = "text/plain"


def robots(text: str) -> Handler:
    return page(text, ROBOTS)


def html() -> Handler:
    return page(article_html())


def flaky_then(statuses: list[tuple[int, dict[str, str]]], then: Handler) -> Handler:
    """Answers the listed (status, headers) in order, then behaves like ``then``."""
    left = list(statuses)
    lock = threading.Lock()

    def handle(h: BaseHTTPRequestHandler) -> None:
        with lock:
            step = left.pop(0) if left else None
        if step is None:
            then(h)
        else:
            send(h, step[0], b"busy", "text/plain", step[1])

    return handle


# ---------------------------------------------------------------------------------------------
# Small pure parts


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(days=1), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("", now) is None
    assert parse_retry_after(None, now) is None


def test_agent_token_and_host_key() -> None:
    assert agent_token("dualuse/0.1 (+https://github.com/dualuse/dualuse; research crawler)") == "dualuse"
    assert host_key("HTTPS://News.Example/a?b") == ("https", "news.example", 443)
    assert host_key("http://news.example:8080/") == ("http", "news.example", 8080)
    assert robots_url(("https", "news.example", 443)) == "https://news.example/robots.txt"
    assert robots_url(("http", "::1", 8080)) == "http://[::1]:8080/robots.txt"
    with pytest.raises(FetchError) as info:
        host_key("ftp://news.example/x")
    assert info.value.reason == "bad-url"


def test_limiter_interval_bounds(settings_factory) -> None:
    limiter = HostLimiter(settings_factory(crawl_delay=1.0, crawl_delay_max=60.0))
    assert limiter.interval(None) == 1.0
    assert limiter.interval(0.2) == 1.0  # robots.txt cannot make us faster than our own default
    assert limiter.interval(5.0) == 5.0
    assert limiter.interval(3600.0) == 60.0  # a huge Crawl-delay is capped
    assert HostLimiter(settings_factory(crawl_delay=2.0, crawl_delay_max=0.5)).interval(10.0) == 2.0


def test_limiter_counts_an_unheld_request_from_its_end(settings_factory) -> None:
    """A ``turn`` (robots.txt, a redirect hop) is assumed short until ``finished`` says when it ended;
    the next request waits the interval from that end, however long the first one took."""
    clock = FakeClock()
    limiter = HostLimiter(settings_factory(crawl_delay=0.2), clock=clock)
    key = host_key("http://news.example/")
    limiter.turn(key, 0.2)
    clock.advance(0.3)  # the request took longer than the interval
    limiter.finished(key)
    ended = clock.now
    with limiter.slot(key, 0.2):
        started = clock.now
    assert started - ended == pytest.approx(0.2)
    assert clock.waits == [pytest.approx(0.2)]


def test_limiter_waits_exactly_the_interval_and_retry_after_pauses(settings_factory) -> None:
    clock = FakeClock()
    limiter = HostLimiter(settings_factory(crawl_delay=0.5, retry_after_max=10.0), clock=clock)
    key = host_key("http://news.example/")
    with limiter.slot(key, 0.5):
        clock.advance(0.1)  # the answer took 0.1 s
    with limiter.slot(key, 0.5):
        pass
    assert clock.waits == [pytest.approx(0.5)]  # counted from the end of the answer
    assert limiter.defer(key, 3600.0) == 10.0  # capped at retry_after_max
    with limiter.slot(key, 0.5):
        pass
    assert clock.waits[1:] == [pytest.approx(10.0)]
    other = host_key("http://other.example/")
    with limiter.slot(other, 0.5):  # another host is not held up by the pause
        pass
    assert len(clock.waits) == 2


def test_first_page_waits_the_interval_after_a_slow_robots_answer(polite) -> None:
    answered: list[float] = []

    def slow_robots(h: BaseHTTPRequestHandler) -> None:
        time.sleep(0.3)
        send(h, 200, b"User-agent: *\nAllow: /\n", "text/plain")
        answered.append(time.monotonic())

    _, fetcher = polite(crawl_delay=0.2)
    with LocalServer({"/robots.txt": slow_robots, "/a": html()}) as srv:
        fetcher.fetch(srv.url("/a"))
        [page] = [a for a in srv.log if a.path == "/a"]
    assert page.at - answered[0] >= 0.2 - SLACK, page.at - answered[0]


# ---------------------------------------------------------------------------------------------
# robots.txt


def test_robots_group_for_our_token(polite) -> None:
    text = "User-agent: *\nDisallow: /\n\nUser-agent: dualuse\nDisallow: /private\n"
    _, fetcher = polite()
    with LocalServer({"/robots.txt": robots(text), "/public": html(), "/private": html()}) as srv:
        fetched = fetcher.fetch(srv.url("/public"))
        with pytest.raises(FetchError) as info:
            fetcher.fetch(srv.url("/private"))
        assert isinstance(fetched, Fetched) and fetched.status == 200
        assert srv.hits["/private"] == 0  # refused before any request
        assert srv.hits["/robots.txt"] == 1  # cached for the second URL
        assert srv.log[0].headers["user-agent"].startswith("dualuse/")
    assert info.value.reason == SkipReason.ROBOTS_DISALLOWED
    assert "robots.txt" in info.value.detail


def test_robots_star_group_applies_to_us(polite) -> None:
    _, fetcher = polite()
    with LocalServer({"/robots.txt": robots("User-agent: *\nDisallow: /\n"), "/a": html()}) as srv:
        with pytest.raises(FetchError) as info:
            fetcher.fetch(srv.url("/a"))
        assert srv.hits["/a"] == 0
    assert info.value.reason == "robots-disallowed"


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_robots_4xx_allows_all(polite, status: int) -> None:
    _, fetcher = polite()
    with LocalServer({"/robots.txt": page("nope", "text/plain", status=status), "/a": html(), "/b": html()}) as srv:
        assert isinstance(fetcher.fetch(srv.url("/a")), Fetched)
        assert isinstance(fetcher.fetch(srv.url("/b")), Fetched)
        assert srv.hits["/robots.txt"] == 1
    assert fetcher.robots.rules(srv.url("/a")).status == "unavailable"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_robots_5xx_disallows_host_for_the_run(polite, status: int) -> None:
    _, fetcher = polite(fetch_retries=2)
    with LocalServer({"/robots.txt": page("down", "text/plain", status=status), "/a": html()}) as srv:
        for path in ("/a", "/b"):
            with pytest.raises(FetchError) as info:
                fetcher.fetch(srv.url(path))
            assert info.value.reason == SkipReason.ROBOTS_UNREACHABLE
            assert f"HTTP {status}" in info.value.detail
            assert "off-limits for this run" in info.value.detail
        assert srv.hits["/a"] == 0
        assert srv.hits["/robots.txt"] == 1  # not asked again in this run
    assert PoliteFetcher(fetcher.settings).robots.rules(srv.url("/a")).status == "unreachable"


def test_robots_timeout_disallows_host(polite) -> None:
    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.5)
        send(h, 200, "User-agent: *\nAllow: /\n", ROBOTS)

    _, fetcher = polite(fetch_timeout=0.5)
    with LocalServer({"/robots.txt": slow, "/a": html()}) as srv:
        with pytest.raises(FetchError) as info:
            fetcher.fetch(srv.url("/a"))
        assert srv.hits["/a"] == 0
    assert info.value.reason == "robots-unreachable"
    assert "0.5s" in info.value.detail


def test_robots_html_page_means_no_rules(polite) -> None:
    _, fetcher = polite()
    with LocalServer({"/robots.txt": page("<html><body>Disallow: /</body></html>"), "/a": html()}) as srv:
        assert isinstance(fetcher.fetch(srv.url("/a")), Fetched)


def test_robots_refetched_after_ttl(settings_factory) -> None:
    clock = FakeClock()
    settings = settings_factory(allow_private=True, crawl_delay=0.0, robots_ttl=60.0)
    cache = RobotsCache(settings, clock=clock)
    with LocalServer({"/robots.txt": robots("User-agent: *\nDisallow: /x\n")}) as srv:
        assert not cache.rules(srv.url("/x")).allowed(srv.url("/x"))
        clock.advance(59)
        cache.rules(srv.url("/y"))
        assert srv.hits["/robots.txt"] == 1
        clock.advance(2)
        srv.routes["/robots.txt"] = robots("User-agent: *\nAllow: /\n")
        assert cache.rules(srv.url("/x")).allowed(srv.url("/x"))
        assert srv.hits["/robots.txt"] == 2


def test_robots_fetch_goes_through_private_network_block(settings_factory) -> None:
    settings = settings_factory(allow_private=False, crawl_delay=0.0)
    with LocalServer({"/robots.txt": robots("User-agent: *\nAllow: /\n"), "/a": html()}) as srv:
        with pytest.raises(FetchError) as info:
            PoliteFetcher(settings).fetch(srv.url("/a"))
        assert srv.log == []  # neither robots.txt nor the page was requested
    assert info.value.reason == "blocked"


def test_robots_exposes_crawl_delay_and_sitemaps(polite) -> None:
    text = "User-agent: *\nCrawl-delay: 4\n\nUser-agent: dualuse\nRequest-rate: 1/7\nSitemap: http://x.example/s.xml\n"
    _, fetcher = polite()
    with LocalServer({"/robots.txt": robots(text)}) as srv:
        rules = fetcher.robots.rules(srv.url("/a"))
    assert rules.crawl_delay == 7.0  # our own group: Request-rate 1 per 7 s
    assert rules.sitemaps == ["http://x.example/s.xml"]


def test_robots_matched_on_product_token_not_whole_user_agent(polite) -> None:
    # "github" is a word of our User-Agent header (the contact URL) but not our product token.
    text = "User-agent: github\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    _, fetcher = polite()
    with LocalServer({"/robots.txt": robots(text), "/a": html()}) as srv:
        assert isinstance(fetcher.fetch(srv.url("/a")), Fetched)
        assert "github.com" in srv.log[0].headers["user-agent"]


# ---------------------------------------------------------------------------------------------
# Per-host pacing, measured at the servers


def test_crawl_delay_honoured(polite) -> None:
    _, fetcher = polite(crawl_delay=0.05)
    with LocalServer({"/robots.txt": robots("User-agent: *\nCrawl-delay: 0.3\n"),
                     **{f"/p{i}": html() for i in range(3)}}) as srv:
        for i in range(3):
            fetcher.fetch(srv.url(f"/p{i}"))
        page_gaps = gaps(srv.times("/p"))
    assert len(page_gaps) == 2
    assert min(page_gaps) >= 0.3 - SLACK, page_gaps


def test_crawl_delay_capped(settings_factory) -> None:
    clock = FakeClock()
    settings = settings_factory(allow_private=True, crawl_delay=0.05, crawl_delay_max=0.2, fetch_timeout=5.0)
    fetcher = PoliteFetcher(settings, clock=clock)
    with LocalServer({"/robots.txt": robots("User-agent: *\nCrawl-delay: 30\n"),
                     **{f"/p{i}": html() for i in range(3)}}) as srv:
        for i in range(3):
            fetcher.fetch(srv.url(f"/p{i}"))
        assert srv.hits["/robots.txt"] == 1 and len(srv.times("/p")) == 3
    # robots.txt, then three pages: each page waits the 0.2 s cap, not the 30 s asked (the first
    # counted from robots.txt's turn, which is assumed to last TURN_ALLOWANCE)
    assert clock.waits == [pytest.approx(0.2 + TURN_ALLOWANCE), pytest.approx(0.2), pytest.approx(0.2)]


@pytest.fixture
def two_hosts() -> Iterator[tuple[LocalServer, LocalServer]]:
    # Pages take 0.2 s to serve, longer than the 0.15 s interval: only the one-at-a-time rule keeps a
    # second request from starting while the first is still being answered.
    routes = {f"/p{i}": html() for i in range(4)}
    with LocalServer(routes, host="127.0.0.2", hold=0.2) as a, LocalServer(routes, host="127.0.0.3", hold=0.2) as b:
        yield a, b


def test_per_host_interval_and_concurrency_while_hosts_run_in_parallel(polite, two_hosts) -> None:
    interval = 0.15
    _, fetcher = polite(crawl_delay=interval)
    a, b = two_hosts
    urls = [srv.url(f"/p{i}") for i in range(4) for srv in (a, b)]
    with ThreadPoolExecutor(max_workers=4) as pool:  # more workers than hosts: they must queue per host
        results = list(pool.map(fetcher.fetch, urls))
    assert all(isinstance(r, Fetched) for r in results)
    for srv in (a, b):
        assert srv.hits["/robots.txt"] == 1
        assert len(srv.times("/p")) == 4
        host_gaps = gaps(srv.times("/"))  # robots.txt and four pages, in arrival order
        assert min(host_gaps) >= interval - SLACK, (srv.host, host_gaps)
        # One request at a time: none arrived before the server had begun answering the one before.
        pages = sorted((a for a in srv.log if a.path.startswith("/p")), key=lambda a: a.at)
        overlaps = [(b.at - a.answering) for a, b in itertools.pairwise(pages) if b.at < a.answering]
        assert overlaps == [], (srv.host, overlaps)
    # The hosts went in parallel: each one's pages arrived while the other's were still coming (hosts
    # run one after the other would put all of one host's pages before the other's). Checked on the
    # order of arrivals, not on elapsed time, so a loaded machine cannot fail it.
    assert min(b.times("/p")) < max(a.times("/p")) and min(a.times("/p")) < max(b.times("/p"))


# ---------------------------------------------------------------------------------------------
# Retries and Retry-After


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_status_retried_then_success(polite, status: int) -> None:
    _, fetcher = polite(fetch_retries=2)
    with LocalServer({"/a": flaky_then([(status, {}), (status, {})], html())}) as srv:
        fetched = fetcher.fetch(srv.url("/a"))
        assert srv.hits["/a"] == 3
    assert isinstance(fetched, Fetched) and fetched.status == 200


def test_retries_bounded_by_setting(polite) -> None:
    _, fetcher = polite(fetch_retries=2)
    with LocalServer({"/a": page("down", "text/plain", status=503)}) as srv:
        with pytest.raises(FetchError) as info:
            fetcher.fetch(srv.url("/a"))
        assert srv.hits["/a"] == 3  # one try and two retries
    assert info.value.reason == "http-error"


def test_backoff_without_retry_after_pauses_the_host(settings_factory) -> None:
    clock = FakeClock()
    settings = settings_factory(allow_private=True, crawl_delay=0.0, fetch_retries=2, retry_backoff=0.15)
    fetcher = PoliteFetcher(settings, clock=clock)
    with LocalServer({"/a": flaky_then([(500, {}), (500, {})], html())}) as srv:
        assert isinstance(fetcher.fetch(srv.url("/a")), Fetched)
        assert srv.hits["/a"] == 3
    # after robots.txt's turn: the back-off, doubled per attempt
    assert clock.waits == [pytest.approx(TURN_ALLOWANCE), pytest.approx(0.15), pytest.approx(0.3)]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 501])
def test_other_errors_not_retried(polite, status: int) -> None:
    _, fetcher = polite(fetch_retries=3)
    with LocalServer({"/a": page("no", "text/plain", status=status)}) as srv:
        with pytest.raises(FetchError) as info:
            fetcher.fetch(srv.url("/a"))
        assert srv.hits["/a"] == 1
    assert info.value.reason == "http-error"
    assert str(status) in info.value.detail


def test_connection_error_retried(polite) -> None:
    calls = {"n": 0}

    def drop_first(h: BaseHTTPRequestHandler) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            h.close_connection = True  # hang up without an answer
            return
        send(h, 200, article_html())

    _, fetcher = polite(fetch_retries=1)
    with LocalServer({"/a": drop_first}) as srv:
        assert isinstance(fetcher.fetch(srv.url("/a")), Fetched)
        assert srv.hits["/a"] == 2


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_honoured_and_other_hosts_keep_going(polite, status: int) -> None:
    _, fetcher = polite(fetch_retries=1)
    busy = flaky_then([(status, {"Retry-After": "1"})], html())
    with LocalServer({"/a": busy}, host="127.0.0.4") as slow, LocalServer({"/b": html()}, host="127.0.0.5") as other:
        fetcher.fetch(other.url("/b"))  # robots.txt of the other host is cached before the race
        worker = threading.Thread(target=fetcher.fetch, args=(slow.url("/a"),))
        worker.start()
        give_up = time.monotonic() + 5
        while slow.hits["/a"] == 0 and time.monotonic() < give_up:
            time.sleep(0.01)
        fetcher.fetch(other.url("/b"))  # while the slow host is paused
        worker.join(timeout=10)
        tries = slow.times("/a")
        other_during = other.times("/b")[-1]
    assert len(tries) == 2
    assert tries[1] - tries[0] >= 1.0 - SLACK, tries
    assert tries[0] < other_during < tries[1]  # the other host was not held up by the pause


def test_retry_after_over_cap_pauses_host_by_cap_and_gives_up(settings_factory) -> None:
    clock = FakeClock()
    settings = settings_factory(allow_private=True, crawl_delay=0.0, fetch_retries=2, retry_after_max=0.3)
    fetcher = PoliteFetcher(settings, clock=clock)
    with LocalServer({"/b": html()}) as srv:
        srv.routes["/a"] = lambda h: send(h, 503, b"busy", "text/plain", {"Retry-After": "3600"})
        with pytest.raises(FetchError) as info:
            fetcher.fetch(srv.url("/a"))
        assert srv.hits["/a"] == 1  # not retried now: the server asked for an hour
        assert clock.waits == [pytest.approx(TURN_ALLOWANCE)]  # only robots.txt's turn
        fetcher.fetch(srv.url("/b"))
    assert info.value.reason == "http-error"
    assert "3600s" in info.value.detail and "cap" in info.value.detail
    assert info.value.retryable is True
    assert clock.waits[1:] == [pytest.approx(0.3)]  # the host paused for the cap, not for an hour


def test_retry_after_http_date(polite) -> None:
    _, fetcher = polite(fetch_retries=1)
    when = datetime.now(UTC) + timedelta(seconds=2)
    busy = flaky_then([(429, {"Retry-After": format_datetime(when, usegmt=True)})], html())
    with LocalServer({"/a": busy}) as srv:
        fetcher.fetch(srv.url("/a"))
        tries = srv.times("/a")
    # An HTTP date has whole seconds: the wait is between 1 and 2 s.
    assert tries[1] - tries[0] >= 1.0 - SLACK, tries


# ---------------------------------------------------------------------------------------------
# Conditional requests, content types and redirect hops through the polite path


def test_not_modified_through_polite_fetch(polite) -> None:
    def feed(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v7"':
            send(h, 304, b"", None, {"ETag": '"v7"'})
        else:
            send(h, 200, b"<?xml version='1.0'?><rss/>", "application/rss+xml",
                 {"ETag": '"v7"', "Last-Modified": "Wed, 21 Oct 2026 07:28:00 GMT"})

    _, fetcher = polite()
    with LocalServer({"/feed": feed}) as srv:
        first = fetcher.fetch(srv.url("/feed"), accept="feed")
        assert isinstance(first, Fetched)
        again = fetcher.fetch(srv.url("/feed"), accept="feed", validators=Validators.of(first))
        sent = srv.log[-1].headers
    assert isinstance(again, NotModified)
    assert sent["if-none-match"] == '"v7"'
    assert sent["if-modified-since"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert again.validators.etag == '"v7"'


def test_feed_purpose_through_polite_fetch(polite) -> None:
    _, fetcher = polite()
    with LocalServer({"/feed": page(b"<?xml version='1.0'?><rss/>", "application/rss+xml")}) as srv:
        assert isinstance(fetcher.fetch(srv.url("/feed"), accept="feed"), Fetched)
        with pytest.raises(FetchError) as info:
            fetcher.fetch(srv.url("/feed"))
    assert info.value.reason == "unsupported"


def test_redirect_to_robots_disallowed_path_stopped(polite) -> None:
    _, fetcher = polite()
    with LocalServer({"/robots.txt": robots("User-agent: *\nDisallow: /secret\n"),
                     "/go": redirect("/secret/page"), "/secret/page": html()}) as srv:
        with pytest.raises(FetchError) as info:
            fetcher.fetch(srv.url("/go"))
        assert srv.hits["/go"] == 1
        assert srv.hits["/secret/page"] == 0
    assert info.value.reason == "robots-disallowed"


class _PublicNameFetcher(Fetcher):
    """DNS seam: ``news.example`` stands for a public host served by the local test server; every
    other name and address goes through the real resolver and the private-network policy."""

    def resolve(self, source: str, host: str, port: int) -> str:
        if host == "news.example":
            return "127.0.0.1"
        return super().resolve(source, host, port)


def test_redirect_hop_to_loopback_blocked(settings_factory) -> None:
    settings = settings_factory(allow_private=False, crawl_delay=0.0)
    fetcher = PoliteFetcher(settings, fetcher=_PublicNameFetcher(settings))
    with LocalServer({"/robots.txt": robots("User-agent: *\nAllow: /\n")}) as srv:
        srv.routes["/start"] = redirect(srv.url("/internal"))
        srv.routes["/internal"] = html()
        with pytest.raises(FetchError) as info:
            fetcher.fetch(f"http://news.example:{srv.port}/start")
        assert srv.hits["/start"] == 1
        assert srv.hits["/internal"] == 0  # the loopback hop was never requested
    assert info.value.reason == "blocked"
