"""Crawl reliability (issue #6): a crawl killed anywhere resumes to exactly-once results; a battery
of hostile sources in one crawl is each bounded and reported without stopping the good one; robots.txt
keeps the crawler off disallowed paths (redirect hops included).

The kill test runs the real CLI (``dualuse crawl --once --json``) in a subprocess and SIGKILLs it at
seeded points chosen by progress (model loading, early and mid ingest, after the last item), since
wall-clock offsets alone drift with machine load. Crash windows too narrow to hit by chance are
simulated in-process by making a step raise a ``BaseException`` (which, like a kill, nothing in the
pipeline catches) and then crawling again.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from pipeline.crawl import Crawler, polite_getter
from pipeline.settings import PROJECT_ROOT
from pipeline.sources import Source, add_source, load_sources
from pipeline.store import Store
from pipeline.watch import Watch, add_watch, alerts_json
from tests.helpers import LocalServer, drip_body, free_port, gzip_bomb, page, redirect
from tests.test_crawl import FeedSite, article, crawl_settings, run

CLI = [sys.executable, "-m", "pipeline.cli"]
"""The CLI as the ``dualuse`` script runs it (``python -m pipeline.cli`` lacks the monitoring
commands: see ``test_python_dash_m_cli_has_the_crawl_commands``)."""

WATCHES = (Watch("pegasus", query="spyware used to hack journalists' phones"), Watch("nso", entity="NSO"))


def cli_env(sources_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUALUSE_", "PREFECT_"))}
    env.update(DUALUSE_ALLOW_PRIVATE="1", DUALUSE_CRAWL_DELAY="0", DUALUSE_SOURCES_FILE=str(sources_file),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DO_NOT_TRACK="1", ANONYMIZED_TELEMETRY="False")
    return env


def db_progress(db: Path) -> tuple[int, int]:
    """(documents stored, crawl items still pending) as another process sees them; (0, -1) before
    the store exists."""
    if not db.exists():
        return 0, -1
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
        try:
            docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            pending = conn.execute("SELECT COUNT(*) FROM crawl_items WHERE status = 'pending'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # tables not created yet, or a write lock held for a moment
        return 0, -1
    return int(docs), int(pending)


def crawl_then_kill(args: list[str], env: dict[str, str], log: Path, trigger: Callable[[], bool], delay: float,
                    limit: float = 240.0) -> bool:
    """Start the CLI, wait for ``trigger()``, then ``delay`` seconds, then SIGKILL it. True when it was
    killed while still running (False: it finished first)."""
    with log.open("ab") as err:
        proc = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + limit
        while not trigger():
            if proc.poll() is not None:
                return False
            assert time.monotonic() < deadline, f"no progress in {limit}s: {log.read_text(errors='replace')[-2000:]}"
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def store_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    store = Store(db)
    try:
        return [tuple(r) for r in store.conn.execute(sql, params)]
    finally:
        store.close()


def article_urls(site: FeedSite) -> set[str]:
    return {site.server.url(f"/a/{i}") for i in site.ids}


# ---------------------------------------------------------------------------------------------
# 1. SIGKILL anywhere, exactly once


N_ARTICLES = 40
WATCHED_IDS = {5, 18, 33}
SEED = int(os.environ.get("RELIABILITY_SEED", "20261121"))
"""Fixed for reproducible kill points; set RELIABILITY_SEED to explore others."""


def test_sigkill_at_random_points_then_resume_stores_everything_exactly_once(
        settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    from pipeline.index import VectorIndex

    rng = random.Random(SEED)
    with LocalServer({}) as server:
        site = FeedSite(server)
        site.publish(list(range(N_ARTICLES)), WATCHED_IDS)
        sources_file = tmp_path / "sources.yaml"
        add_source(sources_file, Source("local", server.url("/feed.xml"), "rss"))
        home = tmp_path / "home"
        home.mkdir()
        for w in WATCHES:  # set up before the first run, as a user would
            add_watch(home / "watches.yaml", w)
        db = home / "dualuse.sqlite"
        env = cli_env(sources_file)
        args = [*CLI, "--home", str(home), "crawl", "--once", "--json"]
        log = tmp_path / "crawl-stderr.log"

        d1 = rng.randint(1, 8)
        d2 = d1 + rng.randint(6, 14)
        plan: list[tuple[str, Callable[[], bool], float]] = [
            ("model loading", lambda: True, rng.uniform(1.0, 6.0)),
            (f"after document {d1}", lambda: db_progress(db)[0] >= d1, rng.uniform(0.0, 0.8)),
            (f"after document {d2}", lambda: db_progress(db)[0] >= d2, rng.uniform(0.0, 0.8)),
            # every item recorded: the run is matching watches and writing the alerts feed
            ("after the last item", lambda: db_progress(db)[1] == 0, rng.uniform(0.0, 0.3)),
        ]
        kills = []
        for label, trigger, delay in plan:
            before = db_progress(db)
            if crawl_then_kill(args, env, log, trigger, delay):
                kills.append((label, round(delay, 2), before, db_progress(db)))
        print(f"seed {SEED}: killed {kills}")  # (label, delay, (docs, pending) before, after)
        assert len(kills) >= 3, f"seed {SEED}: only {kills} were killed mid-run"
        assert kills[0][3][0] < N_ARTICLES, kills  # the early kills did interrupt the ingest
        assert any(0 < k[3][0] < N_ARTICLES for k in kills), kills

        done = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (kills, done.stderr[-3000:])
        final = json.loads(done.stdout)
        assert final["failed"] == 0 and final["sources_failed"] == 0, final

        # the reference: one clean crawl of the same site into another home, in-process
        clean = crawl_settings(settings_factory, tmp_path / "clean")
        (tmp_path / "clean").mkdir()
        add_source(clean.sources_path, Source("local", server.url("/feed.xml"), "rss"))
        for w in WATCHES:
            add_watch(clean.watches_path, w)
        clean_report = run(clean, shared_tagger, shared_embedder).to_json()
        assert clean_report["new"] == N_ARTICLES, clean_report
        clean_claims = {r[0] for r in store_rows(clean.db_path, "SELECT claim_id FROM claims")}
        clean_docs = {r[0] for r in store_rows(clean.db_path, "SELECT doc_id FROM documents")}

        context = f"seed {SEED}, kills {kills}"
        # documents: one row per article URL, the same ids as the clean crawl
        per_url = Counter(r[0] for r in store_rows(db, "SELECT url FROM documents"))
        assert set(per_url) == article_urls(site), context
        assert set(per_url.values()) == {1}, context
        assert {r[0] for r in store_rows(db, "SELECT doc_id FROM documents")} == clean_docs, context
        # claims: exactly the clean crawl's, each once
        claims = [r[0] for r in store_rows(db, "SELECT claim_id FROM claims")]
        assert len(claims) == len(set(claims)) == len(clean_claims), context
        assert set(claims) == clean_claims, context
        assert store_rows(db, "SELECT COUNT(*) FROM claims_fts")[0][0] == len(claims), context
        # crawl state: every item done, none pending, one row per article
        items = dict(store_rows(db, "SELECT url, status FROM crawl_items"))
        assert set(items) == article_urls(site), context
        assert set(items.values()) <= {"added", "unchanged"}, (items, context)
        # the vector index: every claim indexed, no tombstones, chroma holds exactly the claims
        assert store_rows(db, "SELECT COUNT(*) FROM claims WHERE indexed != 1")[0][0] == 0, context
        assert store_rows(db, "SELECT COUNT(*) FROM tombstones")[0][0] == 0, context

        stats = subprocess.run([*CLI, "--home", str(home), "stats", "--json"], cwd=PROJECT_ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
        assert stats.returncode == 0, stats.stderr[-2000:]
        clean_store = Store(clean.db_path)
        try:
            assert json.loads(stats.stdout) == clean_store.stats(), context
        finally:
            clean_store.close()

        found = subprocess.run([*CLI, "--home", str(home), "search", "spyware used to hack the phones of journalists",
                                "--json", "--limit", "5"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                               timeout=300)
        assert found.returncode == 0, found.stderr[-2000:]
        hits = json.loads(found.stdout)["hits"]
        assert hits and hits[0]["url"] in {server.url(f"/a/{i}") for i in WATCHED_IDS}, hits[:2]
        assert "Pegasus" in hits[0]["text"]

        index = VectorIndex(home / "chroma")
        assert index.count() == len(claims), context
        assert set(index.collection.get(include=[])["ids"]) == set(claims), context

        # alerts: one per (watch, watched article), never twice, and the feed files agree
        store = Store(db)
        try:
            alerts = alerts_json(store)
        finally:
            store.close()
        keys = [(a["watch"], a["url"]) for a in alerts]
        assert len(keys) == len(set(keys)), (keys, context)
        assert set(keys) == {(w.name, server.url(f"/a/{i}")) for w in WATCHES for i in WATCHED_IDS}, (keys, context)
        lines = [json.loads(x) for x in (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
        assert sorted((a["watch"], a["claim_id"]) for a in lines) == sorted((a["watch"], a["claim_id"]) for a in alerts)
        assert (home / "alerts.atom").read_text(encoding="utf-8").count("<entry>") == len(alerts)

        # and a further crawl has nothing to fetch and nothing to alert
        hits_before = sum(v for k, v in server.hits.items() if k.startswith("/a/"))
        again = settings_factory(home=home, allow_private=True, crawl_delay=0.0, sources_file=str(sources_file))
        more = run(again, shared_tagger, shared_embedder).to_json()
        assert (more["fetched"], more["new"], more["queued"], more["alerts"]) == (0, 0, 0, 0), more
        assert sum(v for k, v in server.hits.items() if k.startswith("/a/")) == hits_before


class Killed(BaseException):
    """Stands for SIGKILL at one exact point: nothing in the pipeline catches a BaseException."""


def test_kill_between_store_commit_and_index_sync_is_repaired_by_the_next_crawl(
        settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.ingest
    from pipeline.index import VectorIndex, sync

    with LocalServer({}) as server:
        site = FeedSite(server)
        site.publish([1, 2, 3])
        settings = crawl_settings(settings_factory, tmp_path)
        add_source(settings.sources_path, Source("local", server.url("/feed.xml"), "rss"))
        calls = {"n": 0}

        def dies_on_the_last(store: Any, index: Any) -> int:
            calls["n"] += 1
            if calls["n"] == 3:  # the third document is committed to the store; the process dies here
                raise Killed
            return sync(store, index)

        monkeypatch.setattr(pipeline.ingest, "sync", dies_on_the_last)
        with pytest.raises(Killed):
            run(settings, shared_tagger, shared_embedder)
        monkeypatch.setattr(pipeline.ingest, "sync", sync)
        resumed = run(settings, shared_tagger, shared_embedder).to_json()
        assert (resumed["fetched"], resumed["unchanged"], resumed["failed"]) == (1, 1, 0), resumed

        claims = store_rows(settings.db_path, "SELECT COUNT(*) FROM claims")[0][0]
        unindexed = store_rows(settings.db_path, "SELECT COUNT(*) FROM claims WHERE indexed = 0")[0][0]
        assert claims > 0
        assert VectorIndex(settings.chroma_path).count() == claims and unindexed == 0, (claims, unindexed)


def test_kill_between_alert_scan_and_feed_write_is_repaired_by_the_next_crawl(
        settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.alerts_feed

    with LocalServer({}) as server:
        site = FeedSite(server)
        settings = crawl_settings(settings_factory, tmp_path)
        add_source(settings.sources_path, Source("local", server.url("/feed.xml"), "rss"))
        for w in WATCHES:
            add_watch(settings.watches_path, w)
        site.publish([1])
        assert run(settings, shared_tagger, shared_embedder).to_json()["new"] == 1  # writes an empty feed

        site.publish([2], {2})
        real = pipeline.alerts_feed.write_feeds

        def dies(*_args: Any, **_kwargs: Any) -> Any:
            raise Killed

        monkeypatch.setattr(pipeline.alerts_feed, "write_feeds", dies)
        with pytest.raises(Killed):
            run(settings, shared_tagger, shared_embedder)
        monkeypatch.setattr(pipeline.alerts_feed, "write_feeds", real)
        run(settings, shared_tagger, shared_embedder)

        store = Store(settings.db_path)
        try:
            recorded = sorted((a["watch"], a["claim_id"]) for a in alerts_json(store))
        finally:
            store.close()
        assert len(recorded) == 2  # pegasus and nso on article 2
        lines = [json.loads(x) for x in (settings.home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
        assert sorted((a["watch"], a["claim_id"]) for a in lines) == recorded


def test_python_dash_m_cli_has_the_crawl_commands(tmp_path: Path) -> None:
    sources_file = tmp_path / "sources.yaml"
    add_source(sources_file, Source("one", "https://example.org/feed.xml", "rss"))
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(tmp_path / "home"), "sources", "list",
                           "--json"], cwd=PROJECT_ROOT, env=cli_env(sources_file), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    assert [s["name"] for s in json.loads(done.stdout)] == ["one"]


# ---------------------------------------------------------------------------------------------
# 2. A battery of bad sources in one crawl


MAX_ITEMS = 30
FETCH_TIMEOUT = 2.0
MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 2
MAX_FILES = 8
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def rss_links(links: list[str]) -> str:
    items = "".join(f"<item><title>t{n}</title><link>{u}</link></item>" for n, u in enumerate(links))
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>{items}</channel></rss>"


def sitemap_index(children: list[str]) -> str:
    entries = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in children)
    return f"<?xml version='1.0' encoding='UTF-8'?><sitemapindex xmlns='{SITEMAP_NS}'>{entries}</sitemapindex>"


def hang_mid_body(seconds: float = 6.0) -> Callable[[BaseHTTPRequestHandler], None]:
    """Headers and the start of a feed at once, then silence with the connection open."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", "50000")
        h.end_headers()
        try:
            h.wfile.write(b"<?xml version='1.0'?><rss version='2.0'><channel><title>stuck</title><item><link>")
            h.wfile.flush()
        except OSError:
            return
        time.sleep(seconds)
        h.close_connection = True

    return handle


def endless_sitemap(base: str, seconds: float = 8.0) -> Callable[[BaseHTTPRequestHandler], None]:
    """A urlset claiming millions of URLs, generated as it is sent (no Content-Length), until the
    client hangs up or ``seconds`` pass."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/xml")
        h.send_header("Connection", "close")
        h.end_headers()
        end = time.monotonic() + seconds
        try:
            h.wfile.write(f"<?xml version='1.0'?><urlset xmlns='{SITEMAP_NS}'>".encode())
            for start in range(0, 5_000_000, 5000):
                if time.monotonic() > end:
                    break
                h.wfile.write("".join(f"<url><loc>{base}/m/{i}</loc></url>" for i in range(start, start + 5000))
                              .encode())
            h.wfile.write(b"</urlset>")
        except OSError:  # the client stopped reading: what we want
            pass
        h.close_connection = True

    return handle


class LazyRoutes(dict):  # type: ignore[type-arg]
    """A route table that also answers generated paths (LocalServer looks routes up with ``get``)."""

    def __init__(self, generate: Callable[[str], Callable[[BaseHTTPRequestHandler], None] | None]) -> None:
        super().__init__()
        self.generate = generate

    def get(self, path: str, default: Any = None) -> Any:
        return super().get(path) or self.generate(path) or default


def sitemap_bomb(server: LocalServer) -> None:
    """/deep/0.xml -> /deep/1.xml -> ... for ever (one child each); /wide/0.xml lists 100,000 child
    indexes, each listing 1,000 more."""
    wide_root = sitemap_index([server.url(f"/wide/1-{k}.xml") for k in range(100_000)]).encode()

    def generate(path: str) -> Callable[[BaseHTTPRequestHandler], None] | None:
        if m := re.fullmatch(r"/deep/(\d+)\.xml", path):
            level = int(m[1])
            return page(sitemap_index([server.url(f"/deep/{level + 1}.xml")]), "application/xml")
        if m := re.fullmatch(r"/wide/(\d+)-(\d+)\.xml", path):
            level, k = int(m[1]), int(m[2])
            return page(sitemap_index([server.url(f"/wide/{level + 1}-{k}-{j}.xml") for j in range(1000)]),
                        "application/xml")
        if path == "/wide/0.xml":
            return page(wide_root, "application/xml")
        return None

    server.routes = LazyRoutes(generate)


def by_path(server: LocalServer, prefix: str) -> dict[str, int]:
    return {k: v for k, v in server.hits.items() if k.startswith(prefix)}


@pytest.fixture
def servers() -> Iterator[Callable[[], LocalServer]]:
    """``new()`` starts another server on 127.0.0.1 (its own host for pacing and robots.txt)."""
    started: list[LocalServer] = []

    def new() -> LocalServer:
        server = LocalServer({})
        server.__enter__()
        started.append(server)
        return server

    yield new
    for server in started:
        server.__exit__(None, None, None)


def battery_settings(settings_factory: Any, tmp_path: Path, **overrides: Any) -> Any:
    return settings_factory(**{
        "allow_private": True, "crawl_delay": 0.0, "sources_file": str(tmp_path / "sources.yaml"),
        "crawl_max_items": MAX_ITEMS, "fetch_timeout": FETCH_TIMEOUT, "connect_timeout": FETCH_TIMEOUT,
        "max_bytes": MAX_BYTES, "sitemap_max_depth": MAX_DEPTH, "sitemap_max_files": MAX_FILES,
        "fetch_retries": 1, "retry_backoff": 0.1, **overrides})


def test_a_battery_of_bad_sources_is_bounded_and_reported_and_the_good_feed_still_crawls(
        servers: Callable[[], LocalServer], settings_factory: Any, shared_tagger: Any, shared_embedder: Any,
        tmp_path: Path) -> None:
    settings = battery_settings(settings_factory, tmp_path)
    reg = settings.sources_path

    def add(name: str, url: str, kind: str = "rss") -> None:
        add_source(reg, Source(name, url, kind))

    good = servers()  # the one good feed, 3 articles
    good.routes.update({f"/a/{i}": page(article(i)) for i in (1, 2, 3)})
    good.routes["/feed.xml"] = page(rss_links([good.url(f"/a/{i}") for i in (1, 2, 3)]), "application/rss+xml")
    add("good", good.url("/feed.xml"))

    feeds = servers()  # feeds broken in their own ways
    feeds.routes["/m/1"] = page(article(901))
    feeds.routes["/malformed.xml"] = page(
        "<?xml version='1.0'?><rss version='2.0'><channel><title>m</title>"
        f"<item><title>ok</title><link>{feeds.url('/m/1')}</link></item><item><title>cut & <b>bad",
        "application/rss+xml")
    feeds.routes["/empty.xml"] = page(b"", "application/rss+xml")
    feeds.routes["/no-items.xml"] = page(rss_links([]), "application/rss+xml")
    feeds.routes["/page.html"] = page("<!doctype html><html><body><p>Just a page.</p></body></html>")
    feeds.routes["/html-as-xml.xml"] = page("<!doctype html><html><body><p>A page.</p></body></html>",
                                            "application/xml")
    feeds.routes["/huge.xml"] = page(rss_links([feeds.url(f"/big/{i}") for i in range(50_000)]),
                                     "application/rss+xml")
    for name, path in (("malformed", "/malformed.xml"), ("empty", "/empty.xml"), ("no-items", "/no-items.xml"),
                       ("html", "/page.html"), ("html-as-xml", "/html-as-xml.xml"), ("huge", "/huge.xml")):
        add(name, feeds.url(path))

    maps = servers()  # sitemap bombs
    sitemap_bomb(maps)
    add("deep", maps.url("/deep/0.xml"), "sitemap")
    add("wide", maps.url("/wide/0.xml"), "sitemap")
    endless = servers()
    endless.routes["/sitemap.xml"] = endless_sitemap(endless.url(""))
    add("millions", endless.url("/sitemap.xml"), "sitemap")
    gz = servers()
    gz.routes["/sitemap.xml.gz"] = page(gzip.compress(
        (f"<?xml version='1.0'?><urlset xmlns='{SITEMAP_NS}'>"
         + "".join(f"<url><loc>{gz.url(f'/g/{i}')}</loc></url>" for i in range(20_000)) + "</urlset>").encode()),
        "application/x-gzip")
    add("gz", gz.url("/sitemap.xml.gz"), "sitemap")

    hang = servers()  # a feed that stops mid-body
    hang.routes["/feed.xml"] = hang_mid_body()
    add("hang", hang.url("/feed.xml"))

    nasty = servers()  # a good feed of nasty items: drip, gzip bomb, redirect loop, never-fetched addresses
    nasty.routes.update({"/drip": drip_body(1.0), "/bomb": gzip_bomb(64 * 1024 * 1024),
                         "/loop/a": redirect("/loop/b"), "/loop/b": redirect("/loop/a"),
                         "/secret": page(article(902))})
    always_blocked = [f"http://0.0.0.0:{nasty.port}/secret", "http://224.0.0.1/x", "http://[::ffff:224.0.0.1]/x"]
    nasty_links = [nasty.url("/drip"), nasty.url("/bomb"), nasty.url("/loop/a"), *always_blocked]
    nasty.routes["/feed.xml"] = page(rss_links(nasty_links), "application/rss+xml")
    add("nasty", nasty.url("/feed.xml"))
    add("refused", f"http://127.0.0.1:{free_port()}/story", "page")

    started = time.monotonic()
    report = run(settings, shared_tagger, shared_embedder).to_json()
    took = time.monotonic() - started
    by_name = {s["name"]: s for s in report["per_source"]}
    assert list(by_name) == [s.name for s in load_sources(reg)]  # every source is in the report, in order

    def item(source: str, url: str) -> dict[str, Any]:
        found = [i for i in by_name[source]["items"] if i["url"] == url]
        assert len(found) == 1, (url, by_name[source])
        return found[0]

    def problems(source: str) -> str:
        return " | ".join(by_name[source]["problems"])

    # the good feed, untouched by its neighbours
    assert (by_name["good"]["status"], by_name["good"]["added"], by_name["good"]["failed"]) == ("ok", 3, 0)

    # malformed: reported as such, what the lenient parse recovered is still ingested
    assert problems("malformed").startswith("malformed:"), by_name["malformed"]
    assert by_name["malformed"]["added"] == 1, by_name["malformed"]
    # empty body / no items / HTML where a feed should be
    assert by_name["empty"]["status"] == "ok" and "not-a-feed: empty body" in problems("empty")
    assert (by_name["no-items"]["status"], by_name["no-items"]["discovered"], problems("no-items")) == ("ok", 0, "")
    assert by_name["html"]["status"] == "failed" and "content type 'text/html'" in by_name["html"]["detail"]
    assert "not-a-feed" in problems("html-as-xml") and by_name["html-as-xml"]["discovered"] == 0

    # 50,000 items: cut to crawl_max_items, and only those are requested
    huge = by_name["huge"]
    assert (huge["discovered"], huge["queued"], huge["fetched"]) == (MAX_ITEMS,) * 3, huge
    assert problems("huge").startswith("truncated:"), huge
    assert set(by_path(feeds, "/big/")) == {f"/big/{i}" for i in range(MAX_ITEMS)}
    assert {i["reason"] for i in huge["items"]} == {"http-error"}

    # sitemap bombs: depth and file caps hold, and say so
    deep_hits = by_path(maps, "/deep/")
    assert set(deep_hits) == {f"/deep/{d}.xml" for d in range(MAX_DEPTH + 1)}, deep_hits
    assert "too deep or too large" in problems("deep") and by_name["deep"]["queued"] == 0
    wide_hits = by_path(maps, "/wide/")
    assert 1 < len(wide_hits) <= MAX_FILES and set(wide_hits.values()) == {1}, wide_hits
    assert "truncated" in problems("wide") and "too deep or too large" in problems("wide")
    # millions of URLs streamed: stopped at the byte cap and reported; nothing from it queued
    assert by_name["millions"]["status"] == "failed" and "byte limit" in by_name["millions"]["detail"]
    assert not by_path(endless, "/m/")
    # a gzip sitemap of 20,000 URLs: decompressed under the cap, cut to crawl_max_items
    assert (by_name["gz"]["queued"], by_name["gz"]["fetched"]) == (MAX_ITEMS, MAX_ITEMS), by_name["gz"]
    assert "truncated" in problems("gz") and len(by_path(gz, "/g/")) == MAX_ITEMS

    # a feed that hangs mid-body: cut at the total time budget
    assert by_name["hang"]["status"] == "failed" and f"longer than {FETCH_TIMEOUT:g}s" in by_name["hang"]["detail"]
    # the nasty items, each failed with its own reason
    drip = item("nasty", nasty.url("/drip"))
    assert (drip["status"], drip["reason"]) == ("failed", "unreachable") and "longer than" in drip["detail"]
    bomb = item("nasty", nasty.url("/bomb"))
    assert (bomb["status"], bomb["reason"]) == ("failed", "too-large"), bomb
    loop = item("nasty", nasty.url("/loop/a"))
    assert (loop["status"], loop["reason"]) == ("failed", "too-many-redirects") and "loop" in loop["detail"]
    assert nasty.hits["/loop/a"] + nasty.hits["/loop/b"] <= 2 * (settings.fetch_retries + 1)
    for url in always_blocked:  # refused even though this crawl allows private addresses
        assert (item("nasty", url)["status"], item("nasty", url)["reason"]) == ("failed", "blocked"), url
    assert nasty.hits["/secret"] == 0  # 0.0.0.0:port would have reached this server
    refused = by_name["refused"]
    assert refused["failed"] == 1 and refused["items"][0]["reason"] in ("unreachable", "robots-unreachable")

    # the totals add up, nothing is left pending, and the run was bounded (not a timing test: a
    # generous ceiling that only an unbounded fetch or parse would cross)
    assert report["new"] == 4 and report["sources"] == len(by_name)
    assert report["sources_failed"] == sum(1 for s in by_name.values() if s["status"] == "failed") == 3
    states = Counter(r[0] for r in store_rows(settings.db_path, "SELECT status FROM crawl_items"))
    assert "pending" not in states, states
    assert took < 120, took


def test_without_allow_private_local_sources_and_private_items_are_refused_before_any_request(
        settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    from pipeline.ingest import Pipeline

    with LocalServer({}) as server:
        site = FeedSite(server)
        site.publish([1, 2])
        settings = settings_factory(allow_private=False, crawl_delay=0.0, sources_file=str(tmp_path / "sources.yaml"),
                                    fetch_timeout=FETCH_TIMEOUT, connect_timeout=FETCH_TIMEOUT)
        add_source(settings.sources_path, Source("local", server.url("/feed.xml"), "rss"))
        add_source(settings.sources_path, Source("by-name", server.url("/feed.xml", host="localhost"), "rss"))
        report = run(settings, shared_tagger, shared_embedder).to_json()
        for source in report["per_source"]:
            assert source["status"] == "failed" and "refused to fetch" in source["detail"], source
            assert "loopback" in source["detail"] or "private" in source["detail"], source
        assert report["sources_failed"] == 2 and report["fetched"] == 0
        assert not server.hits  # refused before connecting: not even robots.txt was asked for
        assert set(dict(store_rows(settings.db_path, "SELECT name, last_status FROM crawl_sources")).values()) == \
            {"failed"}

        # items at private, link-local and loopback addresses (as a public feed could list them)
        items = ["http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data/", "http://192.168.1.1/admin",
                 f"http://[::1]:{server.port}/a/1", server.url("/a/2"), server.url("/a/1", host="localhost"),
                 f"http://0.0.0.0:{server.port}/a/1"]
        pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
        try:
            crawler = Crawler(pipe, polite_getter(settings), discover_source=lambda _s: (items, [], None, False))
            listed = crawler.run([Source("public", "https://news.example.org/feed.xml", "rss")]).to_json()
        finally:
            pipe.close()
        assert listed["fetched"] == len(items) and listed["new"] == 0, listed
        reasons = {i["url"]: (i["status"], i["reason"]) for i in listed["per_source"][0]["items"]}
        assert reasons == dict.fromkeys(items, ("failed", "blocked")), reasons
        assert not server.hits


# ---------------------------------------------------------------------------------------------
# 3. robots.txt


def test_robots_disallowed_items_are_skipped_never_requested_and_not_retried(
        settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    with LocalServer({}) as server:
        server.routes["/robots.txt"] = page("User-agent: *\nDisallow: /private/\n", "text/plain")
        paths = ["/a/1", "/private/2", "/a/3", "/private/sub/4", "/a/go"]
        for n, path in enumerate(paths):
            server.routes[path] = page(article(n + 1))
        server.routes["/private/5"] = page(article(5))
        server.routes["/a/go"] = redirect("/private/5")  # allowed URL, disallowed hop
        server.routes["/feed.xml"] = page(rss_links([server.url(p) for p in paths]), "application/rss+xml")
        settings = crawl_settings(settings_factory, tmp_path)
        add_source(settings.sources_path, Source("site", server.url("/feed.xml"), "rss"))

        report = run(settings, shared_tagger, shared_embedder).to_json()
        source = report["per_source"][0]
        assert (source["added"], source["skipped"], source["failed"]) == (2, 3, 0), source
        skipped = {i["url"]: (i["status"], i["reason"]) for i in source["items"]}
        assert skipped == {server.url(p): ("skipped", "robots-disallowed")
                           for p in ("/private/2", "/private/sub/4", "/a/go")}, skipped
        assert not {p for p in server.hits if p.startswith("/private/")}, server.hits  # never requested
        assert server.hits["/a/1"] == server.hits["/a/3"] == server.hits["/a/go"] == 1
        assert server.hits["/robots.txt"] == 1
        urls = {r[0] for r in store_rows(settings.db_path, "SELECT url FROM documents")}
        assert urls == {server.url("/a/1"), server.url("/a/3")}
        states = dict(store_rows(settings.db_path, "SELECT url, status || ':' || COALESCE(reason, '') "
                                                   "FROM crawl_items"))
        assert states[server.url("/private/2")] == "skipped:robots-disallowed"

        hits = Counter(server.hits)
        again = run(settings, shared_tagger, shared_embedder).to_json()  # skipped items are done: not asked again
        assert (again["fetched"], again["queued"]) == (0, 0), again
        assert server.hits - hits == Counter({"/feed.xml": 1, "/robots.txt": 1}), server.hits - hits
