"""Shared test helpers: a bounded HTTP server on 127.0.0.1, a minimal PDF writer, article text.

All text here was written for the tests; none of it comes from the dev set.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipeline.clock import Clock

# ---------------------------------------------------------------------------------------------
# Article text (invented for the tests)

ARTICLE_SENTENCES = (
    "The regional police bureau purchased forty DNA sequencers from a European vendor in 2019, "
    "procurement records show.",
    "Officials said the machines would be used to build a genetic database of residents in the province.",
    "Researchers at a rights group said the collection was carried out without consent and targeted minorities.",
    "The vendor said it had no knowledge of how its equipment was being used by the bureau after the sale.",
    "A spokesperson for the company said it follows all export-control rules that apply to its products.",
    "Lawmakers in two countries have asked the vendor to explain its sales process and its due-diligence checks.",
)


def article_text(*extra: str) -> str:
    """A plain-text article: one paragraph per sentence, blank lines between."""
    return "\n\n".join((*ARTICLE_SENTENCES, *extra)) + "\n"


def article_html(title: str = "Police bought DNA sequencers from a European vendor",
                 published: str = "2021-06-11", extra_body: str = "") -> str:
    paras = "\n".join(f"<p>{s}</p>" for s in ARTICLE_SENTENCES)
    return f"""<!doctype html><html><head><title>{title} | Example News</title>
<meta property="og:title" content="{title}"><meta name="date" content="{published}"></head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a></nav></header>
<article><h1>{title}</h1>
{paras}
</article>
{extra_body}
<footer><p>Copyright 2021 Example News. All rights reserved.</p></footer>
</body></html>"""


# ---------------------------------------------------------------------------------------------
# PDF


def _pdf_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def build_pdf(lines: list[str], *, title: str | None = None, creation: str | None = None) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (Helvetica); no lines = a page with only a
    filled rectangle (no text layer, like a scan). Offsets in the xref table are exact."""
    if lines:
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
        ops.extend(f"({_pdf_escape(ln)}) Tj T*" for ln in lines)
        ops.append("ET")
        content = "\n".join(ops).encode("latin-1")
    else:
        content = b"0 0 1 rg 72 600 200 100 re f"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    info_ref = None
    if title or creation:
        info = b"<<"
        if title:
            info += b" /Title (" + _pdf_escape(title).encode("latin-1") + b")"
        if creation:
            info += b" /CreationDate (" + creation.encode("ascii") + b")"
        objs.append(info + b" >>")
        info_ref = len(objs)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objs) + 1)
    if info_ref:
        trailer += b" /Info %d 0 R" % info_ref
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# HTTP server on 127.0.0.1

Handler = Callable[[BaseHTTPRequestHandler], None]
MAX_HANDLER_SECONDS = 8.0
"""No handler keeps a connection longer than this, so a test can never hang on its server."""


def send(h: BaseHTTPRequestHandler, status: int = 200, body: bytes | str = b"",
         ctype: str | None = "text/html; charset=utf-8", headers: dict[str, str] | None = None) -> None:
    data = body.encode("utf-8") if isinstance(body, str) else body
    h.send_response(status)
    if ctype:
        h.send_header("Content-Type", ctype)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    if not any(k.lower() == "content-length" for k in (headers or {})):
        h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def page(body: bytes | str, ctype: str = "text/html; charset=utf-8", status: int = 200) -> Handler:
    return lambda h: send(h, status, body, ctype)


def redirect(location: str, status: int = 302) -> Handler:
    return lambda h: send(h, status, b"", None, {"Location": location})


def flaky(first_status: int, then: Handler) -> Handler:
    """Answers ``first_status`` on the first request, then behaves like ``then``."""
    calls = {"n": 0}
    lock = threading.Lock()

    def handle(h: BaseHTTPRequestHandler) -> None:
        with lock:
            calls["n"] += 1
            first = calls["n"] == 1
        if first:
            send(h, first_status, b"busy", "text/plain")
        else:
            then(h)

    return handle


def gzip_bomb(uncompressed: int) -> Handler:
    blob = gzip.compress(b"\0" * uncompressed, compresslevel=9)

    def handle(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, blob, "text/html", {"Content-Encoding": "gzip"})

    return handle


def drip_body(interval: float = 0.2) -> Handler:
    """Full headers at once, then one body byte per ``interval`` (bounded)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        _drip(h, b"<p>", interval)

    return handle


def drip_headers(events: list[str], interval: float = 0.2, seconds: float = 5.0) -> Handler:
    """The status line at once, then header bytes one per ``interval`` for ``seconds``, then a small
    valid page: a server that never lets one socket read time out yet takes far longer than a
    short total budget. Appends 'client-closed' or 'completed' to ``events``."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: ")
            h.wfile.flush()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                h.wfile.write(b"a")
                h.wfile.flush()
                time.sleep(interval)
            body = b"slow but complete"
            h.wfile.write(b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            h.wfile.flush()
        except OSError:
            events.append("client-closed")
            return
        events.append("completed")
        h.close_connection = True

    return handle


def _drip(h: BaseHTTPRequestHandler, byte: bytes, interval: float) -> None:
    end = time.monotonic() + MAX_HANDLER_SECONDS
    try:
        while time.monotonic() < end:
            h.wfile.write(byte[:1])
            h.wfile.flush()
            time.sleep(interval)
    except OSError:  # the client gave up: what we want
        return
    h.close_connection = True


@dataclass
class Arrival:
    path: str
    at: float  # when the request arrived
    headers: dict[str, str]
    answering: float = 0.0  # when the server began writing its answer


class LocalServer:
    """A threaded HTTP server on a loopback address with a route table. It counts hits per path and
    logs every arrival (when it came, its headers, when the answer began); ``hold`` delays every
    answer but robots.txt's, so a request overlapping a slow page would arrive meanwhile."""

    def __init__(self, routes: dict[str, Handler], host: str = "127.0.0.1", hold: float = 0.0) -> None:
        self.routes = dict(routes)
        self.host = host
        self.hits: Counter[str] = Counter()
        self.log: list[Arrival] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                arrival = Arrival(path, time.monotonic(), {k.lower(): v for k, v in self.headers.items()})
                with outer._lock:
                    outer.hits[path] += 1
                    outer.log.append(arrival)
                if hold and path != "/robots.txt":
                    time.sleep(hold)
                arrival.answering = time.monotonic()
                route = outer.routes.get(path)
                if route is None:
                    send(self, 404, b"not found", "text/plain")
                else:
                    route(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def times(self, path_prefix: str = "/") -> list[float]:
        """When the requests for paths under ``path_prefix`` arrived, in order."""
        return [a.at for a in self.log if a.path.startswith(path_prefix)]

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def serve(routes: dict[str, Handler]) -> Iterator[LocalServer]:
    with LocalServer(routes) as server:
        yield server


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# the browser and the CLI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
"""Debian's chromium, which the browser tests drive through Playwright (None: not installed)."""


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    """Run ``dualuse ARGS`` in-process (click's runner); stderr is kept apart."""
    from click.testing import CliRunner

    from pipeline.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def assert_one_line_error(result: Any, exit_code: int, *fragments: str) -> None:
    """The CLI's contract for bad input: the exit code, one 'error: ' line naming it, no traceback."""
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ---------------------------------------------------------------------------------------------
# The web app and the write lock

XSS = '<script>window.__pwned=1</script><img src=x onerror="alert(1)">'
BASE = "http://127.0.0.1"


def cli_json(home: Path, *args: str) -> Any:
    result = cli("--home", home, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_error(response: Any, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    if response.headers["content-type"].startswith("application/json"):
        message = response.json()["error"]
        assert set(response.json()) == {"error"}
    else:
        found = re.search(r'<p class="error" id="error">(.*?)</p>', response.text, re.S)
        assert found, response.text
        message = html.unescape(found.group(1))
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


HOLD = textwrap.dedent("""
    import sys, time
    from pipeline.settings import Settings
    from pipeline.writer import writing
    with writing(Settings.load(home=sys.argv[1]), "a test holder"):
        print("held", flush=True)
        time.sleep(60)
""")


def hold_in_process(home: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(home)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


# ---------------------------------------------------------------------------------------------
# time


class FakeClock(Clock):
    """A clock tests move by hand: ``sleep`` and timed waits advance it at once and are recorded in
    ``waits``, so pacing and back-off are checked exactly, never against the wall clock. A wait
    without a timeout (for another thread's notify) still waits for real, briefly, and loops."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += max(seconds, 0.0)

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        if timeout is None:
            cond.wait(0.5)
        else:
            self.sleep(timeout)
