"""``dualuse bench --only web``: page and API latency of ``dualuse serve`` over a large store.

The bench's search home (``bench.build_search_home``: real embedded sentences, default 100,000) is
served by a real ``dualuse serve`` process on 127.0.0.1, models warm; this process is the client
(http.client: one keep-alive connection, one request at a time) and times each response from sending the
request to the last byte. Held-out queries, as in the search bench.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pipeline.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentiles(times: list[float]) -> dict[str, float]:
    from pipeline.bench import percentiles

    return {**percentiles(times), "max_ms": round(max(times), 2)}


def bench_web(settings: Settings, n_claims: int, n_queries: int, log: Callable[[str], None]) -> dict[str, Any]:
    from pipeline.bench import SELECTIVE_VENDOR, bench_corpus, build_search_home, cached_embeddings
    from pipeline.embed import Embedder

    texts, queries = bench_corpus(n_claims, n_queries)
    vectors = cached_embeddings(Embedder(settings), texts, log)
    with tempfile.TemporaryDirectory(prefix="dualuse-bench-web-") as tmp:
        scratch = replace(settings, home=Path(tmp))
        log(f"bench: building a {len(texts)}-claim home for the web bench")
        store, _index = build_search_home(scratch, texts, vectors)
        store.close()
        port = _free_port()
        env = {**os.environ, "DUALUSE_HOME": str(scratch.home)}
        server = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

            def get(path: str, params: dict[str, str]) -> tuple[int, bytes]:
                conn.request("GET", path + "?" + urlencode(params))
                response = conn.getresponse()
                return response.status, response.read()

            deadline = time.monotonic() + 180
            while True:
                try:
                    if get("/api/entities", {"limit": "1"})[0] == 200:
                        break
                except OSError:
                    conn.close()
                if server.poll() is not None or time.monotonic() > deadline:
                    why = server.stderr.read() if server.stderr else ""
                    raise RuntimeError(f"dualuse serve did not start: {why}")
                time.sleep(0.2)
            get("/search", {"q": "warm up the models"})

            def timed(path: str, params: Callable[[str], dict[str, str]]) -> dict[str, float]:
                times = []
                for q in queries:
                    t = time.perf_counter()
                    status, body = get(path, params(q))
                    times.append((time.perf_counter() - t) * 1000)
                    if status != 200:
                        raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
                return _percentiles(times)

            log(f"bench: timing {len(queries)} queries per case against http://127.0.0.1:{port}")
            result = {
                "api_search": timed("/api/search", lambda q: {"q": q}),
                "api_search_selective_company": timed("/api/search", lambda q: {"q": q, "company": SELECTIVE_VENDOR}),
                "search_page": timed("/search", lambda q: {"q": q}),
                "search_page_selective_company": timed("/search", lambda q: {"q": q, "company": SELECTIVE_VENDOR}),
            }
            conn.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    return {"claims": len(texts), "queries": len(queries), **result}
