"""Crawls against a real feed served on 127.0.0.1: only new items are fetched, state survives
between runs, watches raise alerts for exactly the matching new claims, and one bad source never
stops the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.crawl import Crawler, polite_getter
from pipeline.sources import Source, add_source, load_sources
from pipeline.watch import Watch, add_watch, alerts_json
from tests.helpers import LocalServer, page, send

TOPICS = (
    "The city council approved a budget of {n} million dollars for new bicycle lanes in district {i}.",
    "Farmers in valley {i} reported a harvest of {n} tonnes of apples after a mild spring.",
    "The regional orchestra announced {n} concerts for its season, opening with a symphony by a local composer.",
    "Engineers finished repairs on bridge number {i} after {n} weeks of work on its steel cables.",
    "The public library in town {i} extended its opening hours and added {n} new reading rooms.",
)
WATCHED = ("Pegasus spyware made by NSO Group was used to hack the phones of {n} journalists in Mexico, "
           "researchers at Citizen Lab said in report {i}.")


def article(i: int, watched: bool = False) -> str:
    lines = [TOPICS[(i + k) % len(TOPICS)].format(i=i, n=10 + (i * 7 + k) % 90) for k in range(3)]
    if watched:
        lines.insert(1, WATCHED.format(i=i, n=3 + i % 20))
    body = "\n".join(f"<p>{s} Officials gave further details on item {i} at a press briefing.</p>" for s in lines)
    title = f"Report {i}: " + ("spyware and journalists" if watched else "local news")
    return (f"<!doctype html><html><head><title>{title}</title><meta name='date' content='2024-05-{1 + i % 28:02d}'>"
            f"</head><body><article><h1>{title}</h1>{body}</article></body></html>")


def rss(server: LocalServer, ids: list[int]) -> str:
    items = "".join(f"<item><title>Report {i}</title><link>{server.url(f'/a/{i}?utm_source=rss')}</link>"
                    f"<guid>{i}</guid></item>" for i in ids)
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Local</title><link>{server.url('/')}</link>"
            f"<description>test</description>{items}</channel></rss>")


class FeedSite:
    """A news site on 127.0.0.1 with an RSS feed whose items can be extended between crawls."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.ids: list[int] = []
        self.watched: set[int] = set()
        server.routes["/feed.xml"] = lambda h: send(h, 200, rss(server, self.ids), "application/rss+xml")
        server.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")

    def publish(self, ids: list[int], watched: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        for i in ids:
            self.server.routes[f"/a/{i}"] = page(article(i, i in watched))
        self.watched |= set(watched)
        self.ids = ids + self.ids  # newest first, as feeds list them


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with LocalServer({}) as server:
        yield FeedSite(server)


def crawl_settings(settings_factory: Any, tmp_path: Path) -> Any:
    return settings_factory(allow_private=True, crawl_delay=0.0, sources_file=str(tmp_path / "sources.yaml"))


def run(settings: Any, shared_tagger: Any, shared_embedder: Any, names: list[str] | None = None) -> Any:
    from pipeline.ingest import Pipeline

    pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
    try:
        sources = [s for s in load_sources(settings.sources_path) if names is None or s.name in names]
        return Crawler(pipe, polite_getter(settings)).run(sources)
    finally:
        pipe.close()


def test_second_run_fetches_exactly_the_new_items_and_alerts_on_the_watched(
        site: FeedSite, settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    settings = crawl_settings(settings_factory, tmp_path)
    add_source(settings.sources_path, Source("local", site.server.url("/feed.xml"), "rss"))
    site.publish(list(range(200)))
    first = run(settings, shared_tagger, shared_embedder).to_json()
    assert (first["fetched"], first["new"], first["failed"]) == (200, 200, 0), first
    fetched_first = sum(v for k, v in site.server.hits.items() if k.startswith("/a/"))
    assert fetched_first == 200

    add_watch(settings.watches_path, Watch("pegasus", query="spyware used to hack journalists' phones"))
    add_watch(settings.watches_path, Watch("nso", entity="NSO"))
    new_ids = list(range(200, 220))
    watched = {203, 211, 217}
    site.publish(new_ids, watched)
    site.server.hits.clear()
    second = run(settings, shared_tagger, shared_embedder).to_json()
    assert (second["fetched"], second["new"], second["failed"]) == (20, 20, 0), second
    article_hits = {k for k, v in site.server.hits.items() if k.startswith("/a/")}
    assert article_hits == {f"/a/{i}" for i in new_ids}  # exactly the 20 new articles, once each
    assert all(site.server.hits[f"/a/{i}"] == 1 for i in new_ids)
    assert site.server.hits["/feed.xml"] == 1  # plus the feed

    from pipeline.store import Store

    store = Store(settings.db_path)
    try:
        found = alerts_json(store)
        urls = {a["url"] for a in found}
        assert urls == {site.server.url(f"/a/{i}") for i in watched}, urls
        assert {a["watch"] for a in found} == {"pegasus", "nso"}
        assert sorted(a["watch"] for a in found) == ["nso"] * 3 + ["pegasus"] * 3  # one per watch and article
        assert all("journalists" in a["text"] for a in found)  # the best-matching claim of each article
        assert second["alerts"] == len(found)
        from pipeline import keyword  # the run rebuilt the keyword index for what it stored

        ranked = keyword.ranking(store, settings.keyword_path, ["journalists"], 10)
        assert ranked is not None and len(ranked) >= len(watched)
        assert {(c, round(s, 9)) for c, s in ranked} == \
            {(c, round(s, 9)) for c, s in store.keyword_search(["journalists"], 10)}
    finally:
        store.close()
    feed = (settings.home / "alerts.atom").read_text(encoding="utf-8")
    assert feed.count("<entry>") == len(found) and "urn:dualuse:alert:pegasus:" in feed
    lines = (settings.home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(found) and {json.loads(x)["claim_id"] for x in lines} == {a["claim_id"] for a in found}

    third = run(settings, shared_tagger, shared_embedder).to_json()  # nothing new: nothing fetched, no alerts
    assert (third["fetched"], third["new"], third["alerts"]) == (0, 0, 0), third


def test_a_bad_source_is_reported_and_the_others_still_crawl(
        site: FeedSite, settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    settings = crawl_settings(settings_factory, tmp_path)
    site.server.routes["/not-a-feed"] = page("<html><body><p>Just a page, no feed here.</p></body></html>")
    site.server.routes["/broken.xml"] = lambda h: send(h, 200, "<rss><channel><item><link>", "application/rss+xml")
    add_source(settings.sources_path, Source("gone", site.server.url("/missing.xml"), "rss"))
    add_source(settings.sources_path, Source("html", site.server.url("/not-a-feed"), "rss"))
    add_source(settings.sources_path, Source("broken", site.server.url("/broken.xml"), "rss"))
    add_source(settings.sources_path, Source("private", "http://10.255.255.1/feed.xml", "rss"))
    add_source(settings.sources_path, Source("local", site.server.url("/feed.xml"), "rss"))
    site.publish([1, 2, 3])
    report = run(settings, shared_tagger, shared_embedder).to_json()
    by_name = {s["name"]: s for s in report["per_source"]}
    assert by_name["local"]["added"] == 3 and by_name["local"]["status"] == "ok"
    assert by_name["gone"]["status"] == "failed" and "404" in by_name["gone"]["detail"]
    assert by_name["html"]["status"] == "failed" or by_name["html"]["problems"]
    assert by_name["broken"]["discovered"] == 0
    assert report["new"] == 3


def test_items_outside_the_include_pattern_are_never_fetched(
        site: FeedSite, settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    settings = crawl_settings(settings_factory, tmp_path)
    add_source(settings.sources_path, Source("odd", site.server.url("/feed.xml"), "rss", exclude=(r"/a/\d*[02468]$",)))
    site.publish(list(range(6)))
    report = run(settings, shared_tagger, shared_embedder).to_json()
    assert report["new"] == 3
    assert {k for k in site.server.hits if k.startswith("/a/")} == {"/a/1", "/a/3", "/a/5"}


def test_feed_responses_are_kept_as_verifiable_snapshots(
        site: FeedSite, settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    import hashlib

    from pipeline.store import Store

    settings = crawl_settings(settings_factory, tmp_path)
    add_source(settings.sources_path, Source("local", site.server.url("/feed.xml"), "rss"))
    site.publish([7, 8])
    run(settings, shared_tagger, shared_embedder)
    store = Store(settings.db_path)
    try:
        rows = store.conn.execute("SELECT sha256, url, status, headers, fetched_at FROM snapshots "
                                  "WHERE doc_id = 'source:local'").fetchall()
        docs = store.conn.execute("SELECT raw_sha256 FROM documents").fetchall()
    finally:
        store.close()
    assert len(rows) == 1 and rows[0]["url"] == site.server.url("/feed.xml") and rows[0]["status"] == 200
    assert "content-type" in rows[0]["headers"].lower() and rows[0]["fetched_at"]
    for (sha,) in [(rows[0]["sha256"],), *docs]:  # the feed and both articles, each verifiable by its hash
        body = (settings.snapshots_path / sha[:2] / sha).read_bytes()
        assert hashlib.sha256(body).hexdigest() == sha
    assert len(docs) == 2
