"""Fetch stage: local files, directory expansion, and URL fetching against real local servers."""

from __future__ import annotations

import gzip
import os
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from pipeline.errors import FetchError, SourceError
from pipeline.fetch import Fetcher, HTTPStatusError, NotModified, Validators, expand_sources, load, load_file
from pipeline.records import Fetched, SourceKind
from pipeline.settings import Settings
from tests.helpers import (
    Handler,
    article_html,
    build_pdf,
    drip_body,
    drip_headers,
    free_port,
    gzip_bomb,
    page,
    redirect,
    send,
    serve,
)

# ---------------------------------------------------------------------------------------------
# Local files


@pytest.mark.parametrize(("name", "body", "kind"), [
    ("a.html", b"<html><body><p>x</p></body></html>", SourceKind.HTML),
    ("a.htm", b"<p>x</p>", SourceKind.HTML),
    ("a.txt", b"plain text", SourceKind.TEXT),
    ("a.md", b"# heading\n\ntext", SourceKind.TEXT),
    ("a.pdf", build_pdf(["some text"]), SourceKind.PDF),
])
def test_local_file_kind_by_extension(tmp_path: Path, settings: Settings, name: str, body: bytes,
                                      kind: SourceKind) -> None:
    path = tmp_path / name
    path.write_bytes(body)
    fetched = load_file(str(path), settings)
    assert fetched.kind is kind
    assert fetched.body == body
    assert fetched.locator == str(path.resolve())
    assert fetched.source == str(path)


@pytest.mark.parametrize(("body", "kind"), [
    (build_pdf(["sniffed pdf"]), SourceKind.PDF),
    (b"  <!DOCTYPE html><html><body><p>sniffed</p></body></html>", SourceKind.HTML),
    (b"<html><body>sniffed</body></html>", SourceKind.HTML),
])
def test_local_file_kind_by_sniffing(tmp_path: Path, settings: Settings, body: bytes, kind: SourceKind) -> None:
    path = tmp_path / "download"  # no extension
    path.write_bytes(body)
    assert load_file(str(path), settings).kind is kind


def test_unknown_extension_without_signature_is_unsupported(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "notes.docx"
    path.write_bytes(b"PK\x03\x04 zipped office file")
    with pytest.raises(SourceError) as info:
        load_file(str(path), settings)
    assert info.value.reason == "unsupported"
    assert ".docx" in info.value.detail


@pytest.mark.parametrize(("name", "body", "kind"), [
    ("page.html.gz", b"<html><body><p>saved page</p></body></html>", SourceKind.HTML),
    ("notes.txt.gz", b"plain text kept compressed", SourceKind.TEXT),
    ("report.pdf.gz", build_pdf(["compressed report"]), SourceKind.PDF),
    ("download.gz", b"<!DOCTYPE html><html><body>sniffed inside</body></html>", SourceKind.HTML),
])
def test_gzip_compressed_local_file_is_read_as_what_it_holds(tmp_path: Path, settings: Settings, name: str,
                                                              body: bytes, kind: SourceKind) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(body))
    fetched = load_file(str(path), settings)
    assert fetched.kind is kind
    assert fetched.body == body
    assert fetched.locator == str(path.resolve())


def test_bad_gzip_local_files_are_refused_with_the_reason(tmp_path: Path, settings_factory) -> None:
    settings = settings_factory(max_bytes=1_000_000)
    bomb = tmp_path / "bomb.html.gz"
    bomb.write_bytes(gzip.compress(b"<p>" + b"\0" * 20_000_000, compresslevel=9))
    assert bomb.stat().st_size < settings.max_bytes  # small on disk, 20 MB inside
    with pytest.raises(SourceError) as info:
        load_file(str(bomb), settings)
    assert info.value.reason == "too-large" and "after decompression" in info.value.detail
    cut = tmp_path / "cut.html.gz"
    cut.write_bytes(gzip.compress(b"<p>" + b"text " * 2000 + b"</p>")[:-40] + b"\x00" * 8)
    with pytest.raises(SourceError) as info:
        load_file(str(cut), settings)
    assert info.value.reason == "unsupported" and "corrupt gzip" in info.value.detail
    odd = tmp_path / "archive.tar.gz"
    odd.write_bytes(gzip.compress(b"\x00binary tar member"))
    with pytest.raises(SourceError) as info:
        load_file(str(odd), settings)
    assert info.value.reason == "unsupported" and ".tar.gz" in info.value.detail
    assert ".gz" in (info.value.hint or "")


def test_missing_path(tmp_path: Path, settings: Settings) -> None:
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(SourceError) as info:
        load(missing, settings)
    assert info.value.reason == "missing"
    assert info.value.source == missing
    assert missing in info.value.one_line()


def test_directory_given_to_load_file_is_unsupported(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(SourceError) as info:
        load_file(str(tmp_path), settings)
    assert info.value.reason == "unsupported"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: root can read a chmod-000 file, so 'unreadable' cannot be provoked")
def test_unreadable_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("private text")
    path.chmod(0)
    try:
        with pytest.raises(SourceError) as info:
            load_file(str(path), settings)
        assert info.value.reason == "unreadable"
    finally:
        path.chmod(0o600)


def test_file_over_max_bytes(tmp_path: Path, settings_factory) -> None:
    settings = settings_factory(max_bytes=100)
    path = tmp_path / "big.txt"
    path.write_text("x" * 101)
    with pytest.raises(SourceError) as info:
        load_file(str(path), settings)
    assert info.value.reason == "too-large"
    (tmp_path / "ok.txt").write_text("x" * 100)
    assert len(load_file(str(tmp_path / "ok.txt"), settings).body) == 100


def test_non_http_scheme_is_bad_url(settings: Settings) -> None:
    with pytest.raises(SourceError) as info:
        load("ftp://example.org/report.pdf", settings)
    assert info.value.reason == "bad-url"


def test_expand_sources_recursive_sorted_hidden_skipped(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "b_sub" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "b_sub" / ".cache").mkdir()
    for rel in ("z.txt", "a.md", "b_sub/m.html", "b_sub/deeper/c.pdf", "image.png",
                ".hidden.txt", ".git/config.txt", "b_sub/.cache/x.txt"):
        (root / rel).write_text("x")
    url = "https://example.org/story"
    got = list(expand_sources([url, str(root), "not/a/real/path.txt"]))
    expected_files = sorted(str(root / rel) for rel in
                            ("a.md", "b_sub/deeper/c.pdf", "b_sub/m.html", "image.png", "z.txt"))
    assert got == [url, *expected_files, "not/a/real/path.txt"]


# ---------------------------------------------------------------------------------------------
# URLs (real HTTP servers on 127.0.0.1)


@pytest.fixture
def private(settings_factory) -> Settings:
    return settings_factory(allow_private=True)


def test_url_fetch_html(private: Settings) -> None:
    html = article_html()
    with serve({"/story": page(html)}) as srv:
        fetched = Fetcher(private).fetch(srv.url("/story?utm_source=feed"))
    assert fetched.kind is SourceKind.HTML
    assert fetched.body == html.encode("utf-8")
    assert fetched.status == 200
    assert fetched.content_type == "text/html"
    assert fetched.url == srv.url("/story?utm_source=feed")
    assert "utm_source" not in fetched.locator  # tracking parameters are not part of the identity


@pytest.mark.parametrize(("ctype", "body", "kind"), [
    ("application/pdf", build_pdf(["served pdf"]), SourceKind.PDF),
    ("text/plain; charset=utf-8", b"plain served text", SourceKind.TEXT),
])
def test_url_fetch_other_supported_types(private: Settings, ctype: str, body: bytes, kind: SourceKind) -> None:
    with serve({"/doc": page(body, ctype)}) as srv:
        fetched = Fetcher(private).fetch(srv.url("/doc"))
    assert fetched.kind is kind
    assert fetched.body == body


def test_default_settings_refuse_loopback(settings: Settings) -> None:
    assert Settings().allow_private is False
    with serve({"/story": page(article_html())}) as srv:
        with pytest.raises(FetchError) as info:
            Fetcher(settings).fetch(srv.url("/story"))
        assert srv.hits["/story"] == 0  # refused before connecting
    assert info.value.reason == "blocked"
    assert "127.0.0.1" in info.value.detail


def test_default_settings_refuse_localhost_name_and_ipv6_loopback(settings: Settings) -> None:
    for url in ("http://localhost:9/x", "http://[::1]:9/x", "http://[::ffff:127.0.0.1]:9/x"):
        with pytest.raises(FetchError) as info:
            Fetcher(settings).fetch(url)
        assert info.value.reason == "blocked", url


class _PublicNameFetcher(Fetcher):
    """DNS seam: ``news.example`` stands for a public host and resolves to the local test server;
    every other host goes through the real resolver and the real private-address policy."""

    def resolve(self, source: str, host: str, port: int) -> str:
        if host == "news.example":
            return "127.0.0.1"
        return super().resolve(source, host, port)


def test_redirect_to_loopback_refused_when_private_off(settings: Settings) -> None:
    with serve({}) as srv:
        srv.routes["/start"] = redirect(srv.url("/internal"))
        srv.routes["/internal"] = page(article_html())
        with pytest.raises(FetchError) as info:
            _PublicNameFetcher(settings).fetch(srv.url("/start", host="news.example"))
        assert srv.hits["/start"] == 1
        assert srv.hits["/internal"] == 0  # the loopback hop was never requested
    assert info.value.reason == "blocked"


def test_redirect_hop_rechecked_even_with_private_allowed(private: Settings) -> None:
    # The unspecified address is refused whatever allow_private says; reaching that refusal proves
    # each redirect hop is checked again.
    with serve({"/start": redirect("http://0.0.0.0:9/x")}) as srv, pytest.raises(FetchError) as info:
        Fetcher(private).fetch(srv.url("/start"))
    assert info.value.reason == "blocked"


def test_redirect_followed_to_final_url(private: Settings) -> None:
    with serve({"/old": redirect("/new", 301), "/new": page(article_html())}) as srv:
        fetched = Fetcher(private).fetch(srv.url("/old"))
    assert fetched.url == srv.url("/new")
    assert fetched.locator.endswith("/new")
    assert fetched.source == srv.url("/old")


def test_redirect_loop(private: Settings) -> None:
    with serve({"/a": redirect("/b"), "/b": redirect("/a")}) as srv, pytest.raises(FetchError) as info:
        Fetcher(private).fetch(srv.url("/a"))
    assert info.value.reason == "too-many-redirects"


def test_redirect_chain_longer_than_max(settings_factory) -> None:
    settings = settings_factory(allow_private=True, max_redirects=2)
    routes = {f"/r{i}": redirect(f"/r{i + 1}") for i in range(5)}
    with serve(routes) as srv:
        with pytest.raises(FetchError) as info:
            Fetcher(settings).fetch(srv.url("/r0"))
        assert sum(srv.hits.values()) == 3  # the first request and two redirects, no more
    assert info.value.reason == "too-many-redirects"


def test_http_404(private: Settings) -> None:
    with serve({}) as srv, pytest.raises(FetchError) as info:
        Fetcher(private).fetch(srv.url("/missing"))
    assert info.value.reason == "http-error"
    assert "404" in info.value.detail
    assert info.value.retryable is False


def test_http_503_is_retryable(private: Settings) -> None:
    with serve({"/busy": page("busy", "text/plain", status=503)}) as srv, pytest.raises(FetchError) as info:
        Fetcher(private).fetch(srv.url("/busy"))
    assert info.value.reason == "http-error"
    assert info.value.retryable is True


def test_image_content_type_unsupported(private: Settings) -> None:
    png = page(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
    with serve({"/logo.png": png}) as srv, pytest.raises(FetchError) as info:
        Fetcher(private).fetch(srv.url("/logo.png"))
    assert info.value.reason == "unsupported"
    assert "image/png" in info.value.detail


def test_declared_content_length_over_max_bytes(settings_factory) -> None:
    settings = settings_factory(allow_private=True, max_bytes=1000)
    with serve({"/big": page(b"<p>" + b"x" * 5000 + b"</p>")}) as srv, pytest.raises(FetchError) as info:
        Fetcher(settings).fetch(srv.url("/big"))
    assert info.value.reason == "too-large"


def test_gzip_bomb_stops_at_max_bytes(settings_factory) -> None:
    settings = settings_factory(allow_private=True, max_bytes=1_000_000)
    with serve({"/bomb": gzip_bomb(20_000_000)}) as srv, pytest.raises(FetchError) as info:
        Fetcher(settings).fetch(srv.url("/bomb"))
    assert info.value.reason == "too-large"
    assert "after decompression" in info.value.detail


def test_slow_drip_body_cut_off_by_total_timeout(settings_factory) -> None:
    settings = settings_factory(allow_private=True, fetch_timeout=2)
    with serve({"/drip": drip_body(0.2)}) as srv, pytest.raises(FetchError) as info:
        Fetcher(settings).fetch(srv.url("/drip"))
    assert info.value.reason == "unreachable"
    assert info.value.retryable is True


def test_slow_drip_headers_cut_off_by_total_timeout(settings_factory) -> None:
    settings = settings_factory(allow_private=True, fetch_timeout=2)
    events: list[str] = []
    with serve({"/drip": drip_headers(events, interval=0.2, seconds=5.0)}) as srv:
        with pytest.raises(FetchError) as info:
            Fetcher(settings).fetch(srv.url("/drip"))
        give_up = time.monotonic() + 10  # wait (bounded) for the handler to see the outcome
        while not events and time.monotonic() < give_up:
            time.sleep(0.05)
    assert info.value.reason == "unreachable"
    # The client must hang up on its own budget, before the server finishes dripping 5 s of headers.
    assert events == ["client-closed"]


def test_unreachable_port(private: Settings) -> None:
    with pytest.raises(FetchError) as info:
        Fetcher(private).fetch(f"http://127.0.0.1:{free_port()}/story")
    assert info.value.reason == "unreachable"
    assert info.value.retryable is True



# ---------------------------------------------------------------------------------------------
# Content-type policy by purpose (accept="document" | "feed" | "robots")

RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
       b"<item><link>https://news.example/a</link></item></channel></rss>")
SITEMAP = (b'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
           b"<url><loc>https://news.example/a</loc></url></urlset>")


def _accept_seen(seen: list[str], then: Handler) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        seen.append(h.headers.get("Accept", ""))
        then(h)
    return handle


@pytest.mark.parametrize("ctype", ["application/rss+xml", "application/atom+xml", "application/xml",
                                   "text/xml; charset=utf-8"])
def test_feed_types_accepted_as_feed_refused_as_document(private: Settings, ctype: str) -> None:
    seen: list[str] = []
    with serve({"/feed": _accept_seen(seen, page(RSS, ctype))}) as srv:
        fetched = Fetcher(private).fetch(srv.url("/feed"), accept="feed")
        with pytest.raises(FetchError) as info:
            Fetcher(private).fetch(srv.url("/feed"))  # the default purpose is "document"
    assert fetched.kind is SourceKind.XML
    assert fetched.body == RSS
    assert fetched.content_type == ctype.split(";")[0]
    assert info.value.reason == "unsupported"
    assert seen[0].startswith("application/rss+xml")  # the Accept header follows the purpose
    assert seen[1].startswith("text/html")


def test_html_refused_as_feed(private: Settings) -> None:
    with serve({"/feed": page(article_html())}) as srv, pytest.raises(FetchError) as info:
        Fetcher(private).fetch(srv.url("/feed"), accept="feed")
    assert info.value.reason == "unsupported"
    assert "text/html" in info.value.detail


def test_feed_without_content_type_sniffed(private: Settings) -> None:
    with serve({"/feed": page(SITEMAP, "")}) as srv:
        assert Fetcher(private).fetch(srv.url("/feed"), accept="feed").kind is SourceKind.XML


@pytest.mark.parametrize("ctype", ["application/x-gzip", "application/gzip", "application/xml"])
def test_gzip_sitemap_decompressed(private: Settings, ctype: str) -> None:
    with serve({"/sitemap.xml.gz": page(gzip.compress(SITEMAP), ctype)}) as srv:
        fetched = Fetcher(private).fetch(srv.url("/sitemap.xml.gz"), accept="feed")
    assert fetched.kind is SourceKind.XML
    assert fetched.body == SITEMAP


def test_gzip_file_that_is_not_xml_refused(private: Settings) -> None:
    with serve({"/s.gz": page(gzip.compress(b"\x00\x01 binary"), "application/x-gzip")}) as srv, \
            pytest.raises(FetchError) as info:
        Fetcher(private).fetch(srv.url("/s.gz"), accept="feed")
    assert info.value.reason == "unsupported"


def test_gzip_sitemap_bomb_stops_at_max_bytes(settings_factory) -> None:
    settings = settings_factory(allow_private=True, max_bytes=100_000)
    blob = gzip.compress(b'<?xml version="1.0"?><urlset>' + b" " * 5_000_000, compresslevel=9)
    assert len(blob) < 100_000  # the download itself is under the cap; only the inflated body is not
    with serve({"/sitemap.xml.gz": page(blob, "application/x-gzip")}) as srv, pytest.raises(FetchError) as info:
        Fetcher(settings).fetch(srv.url("/sitemap.xml.gz"), accept="feed")
    assert info.value.reason == "too-large"
    assert "after decompression" in info.value.detail


def test_robots_policy_plain_text_only(private: Settings) -> None:
    with serve({"/robots.txt": page("User-agent: *\nDisallow: /x\n", "text/plain"),
                "/r.html": page(article_html())}) as srv:
        fetched = Fetcher(private).fetch(srv.url("/robots.txt"), accept="robots")
        with pytest.raises(FetchError) as info:
            Fetcher(private).fetch(srv.url("/r.html"), accept="robots")
    assert fetched.kind is SourceKind.TEXT
    assert info.value.reason == "unsupported"


# ---------------------------------------------------------------------------------------------
# Conditional requests


def _conditional(etag: str | None, last_modified: str | None, seen: list[dict[str, str]]) -> Handler:
    """200 with validators, or 304 when the request carries a matching one."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        seen.append({k.lower(): v for k, v in h.headers.items()})
        headers = {k: v for k, v in (("ETag", etag), ("Last-Modified", last_modified)) if v}
        if (etag and h.headers.get("If-None-Match") == etag) or \
                (last_modified and not etag and h.headers.get("If-Modified-Since") == last_modified):
            send(h, 304, b"", None, headers)
            return
        send(h, 200, RSS, "application/rss+xml", headers)

    return handle


@pytest.mark.parametrize(("etag", "last_modified", "header"), [
    ('"v1-abc"', None, "if-none-match"),
    (None, "Wed, 21 Oct 2026 07:28:00 GMT", "if-modified-since"),
])
def test_conditional_request_returns_not_modified(private: Settings, etag: str | None,
                                                  last_modified: str | None, header: str) -> None:
    seen: list[dict[str, str]] = []
    fetcher = Fetcher(private)
    with serve({"/feed": _conditional(etag, last_modified, seen)}) as srv:
        first = fetcher.fetch_if_changed(srv.url("/feed"), accept="feed")
        assert isinstance(first, Fetched) and first.status == 200
        validators = Validators.of(first)
        assert (validators.etag, validators.last_modified) == (etag, last_modified)
        second = fetcher.fetch_if_changed(srv.url("/feed"), accept="feed", validators=validators)
        stale = fetcher.fetch_if_changed(srv.url("/feed"), accept="feed",
                                         validators=Validators(etag='"old"' if etag else None,
                                                               last_modified="Mon, 01 Jan 2024 00:00:00 GMT"))
    assert header not in seen[0]  # the first request was unconditional
    assert seen[1][header] == (etag or last_modified)
    assert isinstance(second, NotModified)
    assert second.status == 304 and second.url == srv.url("/feed")
    assert second.validators == validators
    assert isinstance(stale, Fetched) and stale.body == RSS  # old validators: the full body comes back


def test_unconditional_304_is_an_error(private: Settings) -> None:
    with serve({"/x": lambda h: send(h, 304, b"", None)}) as srv, pytest.raises(FetchError) as info:
        Fetcher(private).fetch(srv.url("/x"))
    assert info.value.reason == "http-error"
    assert "304" in info.value.detail


def test_http_error_keeps_status_and_retry_after(private: Settings) -> None:
    busy = lambda h: send(h, 429, b"slow down", "text/plain", {"Retry-After": "7"})  # noqa: E731
    with serve({"/busy": busy}) as srv, pytest.raises(HTTPStatusError) as info:
        Fetcher(private).fetch(srv.url("/busy"))
    assert (info.value.status, info.value.retry_after, info.value.retryable) == (429, "7", True)
    assert info.value.reason == "http-error"


def test_before_hop_sees_each_redirect_target(private: Settings) -> None:
    hops: list[str] = []
    with serve({"/a": redirect("/b"), "/b": redirect("/c"), "/c": page(article_html())}) as srv:
        Fetcher(private).fetch_if_changed(srv.url("/a"), before_hop=hops.append)
    assert hops == [srv.url("/b"), srv.url("/c")]


def test_link_local_is_refused_even_when_private_networks_are_allowed() -> None:
    """Cloud metadata services answer on link-local addresses: never fetchable, whatever the setting."""
    import ipaddress

    from pipeline.fetch import _address_blocked

    for address in ("169.254.169.254", "fe80::1"):
        assert _address_blocked(ipaddress.ip_address(address), allow_private=True) == "a link-local address"
    assert _address_blocked(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None


# ---------------------------------------------------------------------------------------------
# The alert webhook goes through the same connection-level address check


def test_webhook_cannot_be_rebound_to_a_private_address(settings: Settings, monkeypatch) -> None:
    """DNS rebinding: ``hook.example`` first answers a public address (which passes the check), then
    127.0.0.1. A check followed by a second lookup would POST to the loopback server; the webhook
    must connect to the address it checked (here a public one, whose connect is refused locally)."""
    import json
    import socket
    from http.server import ThreadingHTTPServer
    from threading import Thread

    import urllib3.util.connection

    from pipeline.alerts_feed import post_webhook

    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34"])  # the first answer is public; every later one is loopback

    def rebinding(host, *args, **kwargs):
        if host == "hook.example":
            return real_getaddrinfo(next(answers, "127.0.0.1"), *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    real_connect = urllib3.util.connection.create_connection
    connected: list[str] = []

    def connect(address, *args, **kwargs):
        host, port_ = address
        ip = real_getaddrinfo(host, port_)[0][4][0] if host != "hook.example" else rebinding(host, port_)[0][4][0]
        connected.append(ip)
        if ip != "127.0.0.1":
            raise ConnectionRefusedError("no traffic leaves this machine in tests")
        return real_connect((ip, port_), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", connect)
    try:
        problem = post_webhook(f"http://hook.example:{port}/hook", [{"claim_id": "c1"}], settings)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert received == []
    assert connected == ["93.184.216.34"]
    assert problem is not None and problem.startswith(f"webhook http://hook.example:{port}/hook:")
    json.dumps(problem)  # one plain line


def test_webhook_to_loopback_is_refused_by_default(settings: Settings) -> None:
    from pipeline.alerts_feed import post_webhook

    problem = post_webhook(f"http://127.0.0.1:{free_port()}/hook", [{"claim_id": "c1"}], settings)
    assert problem is not None and "loopback" in problem and "\n" not in problem


@pytest.mark.parametrize("host", [
    "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
    "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
    "2002:c0a8:101::1",  # 6to4 wrapping 192.168.1.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
])
def test_ipv6_addresses_embedding_private_ipv4_are_refused(settings: Settings, host: str) -> None:
    with pytest.raises(FetchError) as info:
        Fetcher(settings).fetch(f"http://[{host}]:9/x")
    assert info.value.reason == "blocked"
    assert "embedded in an IPv6 address" in info.value.detail
