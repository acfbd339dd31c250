"""The monitoring commands' CLI contract: sources, crawl --once --json, watch, alerts --json; page
sources re-checked by content; conditional feed fetches; the alerts webhook."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LocalServer, assert_one_line_error, cli, page, send
from tests.test_crawl import FeedSite, article, crawl_settings, run, site  # noqa: F401  (site is a fixture)

CRAWL_KEYS = {"sources", "fetched", "new", "updated", "unchanged", "failed"}
ALERT_KEYS = {"watch", "claim_id", "text", "source", "url", "title", "published", "matched_at"}


def env_for(home: Path, sources: Path) -> dict[str, str]:
    return {"DUALUSE_HOME": str(home), "DUALUSE_SOURCES_FILE": str(sources), "DUALUSE_ALLOW_PRIVATE": "1",
            "DUALUSE_CRAWL_DELAY": "0"}


def test_sources_add_list_check_remove(site: FeedSite, tmp_path: Path) -> None:  # noqa: F811
    env = env_for(tmp_path / "home", tmp_path / "sources.yaml")
    site.publish([1, 2])
    url = site.server.url("/feed.xml")
    assert cli("sources", "add", "local", url, "--kind", "rss", "--cron", "*/30 * * * *", "--tag", "test",
               env=env).exit_code == 0
    listed = json.loads(cli("sources", "list", "--json", env=env).stdout)
    assert listed == [{"name": "local", "url": url, "kind": "rss", "cron": "*/30 * * * *", "tags": ["test"],
                       "include": [], "exclude": []}]
    checked = cli("sources", "check", "local", "--json", env=env)
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["discovered"] == 2 and report["queued"] == 2 and report["fetched"] == 0
    assert not (tmp_path / "home" / "dualuse.sqlite").exists() or \
        json.loads(cli("stats", "--json", env=env).stdout)["documents"] == 0  # check stores nothing
    assert not any(k.startswith("/a/") for k in site.server.hits)  # nor fetches the articles
    assert_one_line_error(cli("sources", "add", "local", url, env=env), 2, "already exists")
    assert_one_line_error(cli("sources", "add", "x", url, "--cron", "every hour", env=env), 2, "cron")
    assert_one_line_error(cli("sources", "check", "nope", env=env), 2, "no source named 'nope'", "local")
    assert cli("sources", "remove", "local", env=env).exit_code == 0
    assert json.loads(cli("sources", "list", "--json", env=env).stdout) == []


def test_crawl_once_json_contract_then_watch_and_alerts(site: FeedSite, tmp_path: Path) -> None:  # noqa: F811
    env = env_for(tmp_path / "home", tmp_path / "sources.yaml")
    assert_one_line_error(cli("crawl", env=env), 2, "--once")
    assert_one_line_error(cli("crawl", "--once", env=env), 2, "no sources")
    cli("sources", "add", "local", site.server.url("/feed.xml"), env=env)
    site.publish([1, 2, 3])
    first = cli("crawl", "--once", "--json", env=env)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert set(report) >= CRAWL_KEYS and (report["sources"], report["fetched"], report["new"]) == (1, 3, 3)

    assert cli("watch", "add", "spy", "--query", "spyware used to hack journalists' phones", env=env).exit_code == 0
    assert_one_line_error(cli("watch", "add", "spy", "--entity", "NSO", env=env), 2, "already exists")
    assert_one_line_error(cli("watch", "add", "none", env=env), 2, "--query or --entity")
    watches = json.loads(cli("watch", "list", "--json", env=env).stdout)
    assert [w["name"] for w in watches] == ["spy"]
    site.publish([4, 5], watched={5})
    second = json.loads(cli("crawl", "--once", "--json", env=env).stdout)
    assert (second["fetched"], second["new"], second["alerts"]) == (2, 2, 1)
    alerts = json.loads(cli("alerts", "--json", env=env).stdout)
    assert len(alerts) == 1 and set(alerts[0]) >= ALERT_KEYS and alerts[0]["url"] == site.server.url("/a/5")
    assert json.loads(cli("alerts", "--json", "--since", "2999-01-01", env=env).stdout) == []
    assert_one_line_error(cli("alerts", "--since", "last week", env=env), 2, "--since")
    assert cli("watch", "remove", "spy", env=env).exit_code == 0
    assert_one_line_error(cli("watch", "remove", "spy", env=env), 2, "no watch named")


def test_page_sources_are_rechecked_and_updated_by_content(
        settings_factory: Any, shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    from pipeline.sources import Source, add_source

    with LocalServer({"/robots.txt": page("", "text/plain")}) as server:
        server.routes["/report"] = page(article(1))
        settings = crawl_settings(settings_factory, tmp_path)
        add_source(settings.sources_path, Source("report", server.url("/report"), "page"))
        assert run(settings, shared_tagger, shared_embedder).to_json()["new"] == 1
        assert run(settings, shared_tagger, shared_embedder).to_json()["unchanged"] == 1  # same bytes
        server.routes["/report"] = page(article(2))  # the page was edited
        again = run(settings, shared_tagger, shared_embedder).to_json()
        assert (again["updated"], again["new"]) == (1, 0)
        assert server.hits["/report"] == 3


def test_feed_is_fetched_conditionally(settings_factory: Any, shared_tagger: Any, shared_embedder: Any,
                                       tmp_path: Path) -> None:
    from pipeline.sources import Source, add_source

    seen: list[str | None] = []

    def feed(h: BaseHTTPRequestHandler) -> None:
        seen.append(h.headers.get("If-None-Match"))
        if h.headers.get("If-None-Match") == '"v1"':
            send(h, 304, b"", None, {"ETag": '"v1"'})
        else:
            body = "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
            send(h, 200, body, "application/rss+xml", {"ETag": '"v1"'})

    with LocalServer({"/feed.xml": feed, "/robots.txt": page("", "text/plain")}) as server:
        settings = crawl_settings(settings_factory, tmp_path)
        add_source(settings.sources_path, Source("cond", server.url("/feed.xml"), "rss"))
        run(settings, shared_tagger, shared_embedder)
        second = run(settings, shared_tagger, shared_embedder).to_json()
    assert seen == [None, '"v1"']
    assert second["per_source"][0]["status"] == "not-modified"


class _Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


@pytest.fixture
def hook() -> Any:
    h = _Hook()
    yield h
    h.httpd.shutdown()
    h.httpd.server_close()


def test_new_alerts_are_posted_to_the_webhook(site: FeedSite, hook: _Hook, settings_factory: Any,  # noqa: F811
                                              shared_tagger: Any, shared_embedder: Any, tmp_path: Path) -> None:
    from pipeline.sources import Source, add_source
    from pipeline.watch import Watch, add_watch

    settings = settings_factory(allow_private=True, crawl_delay=0.0, sources_file=str(tmp_path / "s.yaml"),
                                alert_webhook=hook.url)
    add_source(settings.sources_path, Source("local", site.server.url("/feed.xml"), "rss"))
    add_watch(settings.watches_path, Watch("nso", entity="NSO Group"))
    site.publish([1, 2], watched={2})
    report = run(settings, shared_tagger, shared_embedder).to_json()
    assert report["alerts"] == 1 and report["alert_problems"] == []
    assert len(hook.bodies) == 1 and [a["url"] for a in hook.bodies[0]["alerts"]] == [site.server.url("/a/2")]
    run(settings, shared_tagger, shared_embedder)  # nothing new: no second POST
    assert len(hook.bodies) == 1
