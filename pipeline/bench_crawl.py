"""``dualuse bench --only crawl``: a crawl of N pages spread over H local hosts, measured from the
servers' side: every request's arrival time per host, so the per-host rate the crawler actually
kept can be compared with the configured delay, and the crawl's throughput with the politeness
bound (hosts / delay). The hosts are HTTP servers on 127.0.0.1 (one port each: the crawler paces
per scheme+host+port), so this run opts in to private addresses, as the tests do.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipeline.settings import Settings

WORDS = ("river", "council", "budget", "harvest", "bridge", "library", "orchestra", "market", "school", "rail")


def _page(host: int, i: int) -> bytes:
    w = [WORDS[(host + i + k) % len(WORDS)] for k in range(6)]
    text = (f"<p>The {w[0]} committee of district {host} met on day {i} to discuss the {w[1]} plan.</p>"
            f"<p>Residents asked about the {w[2]} and the {w[3]} near item {i}, officials said.</p>"
            f"<p>A report on the {w[4]} and the {w[5]} will follow next month, the mayor of town {host} said.</p>")
    return (f"<!doctype html><html><head><title>District {host} item {i}</title></head><body><article>"
            f"<h1>District {host} item {i}</h1>{text}</article></body></html>").encode()


class _Site:
    def __init__(self, host: int, pages: int) -> None:
        self.arrivals: list[float] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site.arrivals.append(time.monotonic())
                if self.path == "/sitemap.xml":
                    base = f"http://127.0.0.1:{site.port}"
                    body = ("<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                            + "".join(f"<url><loc>{base}/p/{i}</loc></url>" for i in range(pages))
                            + "</urlset>").encode()
                    ctype = "application/xml"
                elif self.path.startswith("/p/"):
                    body, ctype = _page(host, int(self.path[3:])), "text/html; charset=utf-8"
                else:
                    body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def bench_crawl(settings: Settings, log: Callable[[str], None], *, hosts: int = 10, pages: int = 100,
                delay: float = 1.0) -> dict[str, Any]:
    from pipeline.crawl import Crawler, polite_getter
    from pipeline.ingest import Pipeline
    from pipeline.sources import Source

    sites = [_Site(h, pages) for h in range(hosts)]
    try:
        with tempfile.TemporaryDirectory(prefix="dualuse-bench-crawl-") as tmp:
            scratch = replace(settings, home=Path(tmp), allow_private=True, crawl_delay=delay,
                              crawl_max_items=max(settings.crawl_max_items, pages))
            sources = [Source(f"host{h}", f"http://127.0.0.1:{s.port}/sitemap.xml", "sitemap").validated()
                       for h, s in enumerate(sites)]
            pipe = Pipeline(scratch)
            pipe.warm_up()
            log(f"bench: crawling {hosts * pages} pages on {hosts} local hosts, {delay} s per-host delay")
            started = time.monotonic()
            report = Crawler(pipe, polite_getter(scratch)).run(sources).to_json()
            elapsed = time.monotonic() - started
            pipe.close()
    finally:
        for s in sites:
            s.httpd.shutdown()
            s.httpd.server_close()
    gaps = [b - a for s in sites for a, b in zip(s.arrivals, s.arrivals[1:], strict=False)]
    per_host_rate = [(len(s.arrivals) - 1) / (s.arrivals[-1] - s.arrivals[0]) for s in sites if len(s.arrivals) > 1]
    fetch_span = max(s.arrivals[-1] for s in sites) - min(s.arrivals[0] for s in sites)
    requests = sum(len(s.arrivals) for s in sites)
    return {
        "hosts": hosts, "pages": hosts * pages, "configured_delay_s": delay,
        "requests_seen_by_servers": requests, "added": report["new"], "failed": report["failed"],
        "min_gap_between_requests_to_one_host_s": round(min(gaps), 3) if gaps else None,
        "median_gap_s": round(statistics.median(gaps), 3) if gaps else None,
        "max_host_rate_per_s": round(max(per_host_rate), 3) if per_host_rate else None,
        "politeness_bound_pages_per_s": round(hosts / delay, 2),
        "fetch_throughput_pages_per_s": round(requests / fetch_span, 2) if fetch_span else None,
        "crawl_wall_s": round(elapsed, 1), "end_to_end_pages_per_s": round(hosts * pages / elapsed, 2),
    }
