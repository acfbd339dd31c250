"""Fetch / load stage: turn what the user gave (paths, directories, URLs) into raw bytes.

The only module that does I/O on inputs. Local files are read with a size cap; URLs go through
``Fetcher``, which keeps the protections a crawler needs on by default:

* SSRF protection: every hop's host is resolved and each address checked; loopback, private,
  link-local, multicast and reserved addresses are refused unless ``allow_private`` is set. The
  connection is made to the checked IP (with Host header and TLS SNI set to the name), so a DNS answer
  cannot change between the check and the connect.
* a total time budget per request (connect to last byte), not just per socket read: a watchdog shuts
  the socket at the deadline, so a server that drips headers or body one byte a second is cut off;
* a cap on the decompressed body (a gzip bomb stops at ``max_bytes``);
* redirects followed by hand, at most ``max_redirects``, each re-checked;
* a content-type policy: HTML, PDF and plain text only.

We use urllib3 (already a trafilatura dependency) rather than trafilatura's ``fetch_url`` because
that returns ``None`` on every failure and we must report *why* a source was skipped.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from courlan import normalize_url

from pipeline.errors import FetchError, SourceError
from pipeline.records import Fetched, SkipReason, SourceKind
from pipeline.settings import Settings

HTML_EXT = {".html", ".htm", ".xhtml", ".shtml"}
TEXT_EXT = {".txt", ".md", ".markdown", ".text"}
PDF_EXT = {".pdf"}
SUPPORTED_EXT = HTML_EXT | TEXT_EXT | PDF_EXT

CONTENT_TYPES = {
    "text/html": SourceKind.HTML,
    "application/xhtml+xml": SourceKind.HTML,
    "application/pdf": SourceKind.PDF,
    "text/plain": SourceKind.TEXT,
    "text/markdown": SourceKind.TEXT,
}
REDIRECT_CODES = {301, 302, 303, 307, 308}
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def normalise_url(url: str) -> str:
    """Canonical form used as a web document's identity (scheme/host case, default port, fragments,
    tracking parameters), courlan's normaliser with its tracker removal on."""
    try:
        return str(normalize_url(url, strict=True))
    except Exception:  # noqa: BLE001 - courlan raises assorted errors on junk; keep the raw URL
        return url


# ---------------------------------------------------------------------------------------------
# Local files


def sniff_kind(path: Path, head: bytes) -> SourceKind | None:
    ext = path.suffix.lower()
    if ext in HTML_EXT:
        return SourceKind.HTML
    if ext in TEXT_EXT:
        return SourceKind.TEXT
    if ext in PDF_EXT:
        return SourceKind.PDF
    if head.startswith(b"%PDF-"):
        return SourceKind.PDF
    lowered = head[:1024].lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return SourceKind.HTML
    return None


def expand_sources(sources: Iterable[str]) -> Iterator[str]:
    """Expand directories (recursively, sorted) into files; pass paths and URLs through as given.

    Files in a directory with an unsupported extension are still yielded, so the loader can report
    them as skipped rather than dropping them silently; hidden files and folders are not walked.
    """
    for source in sources:
        if is_url(source):
            yield source
            continue
        path = Path(source).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield str(child)
        else:
            yield source


def load_file(source: str, settings: Settings, *, explicit: bool = True) -> Fetched:
    """Read one local file. Raises ``SourceError`` with a typed reason."""
    path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(source, SkipReason.MISSING, "no such file or directory",
                          hint="check the path")
    if path.is_dir():
        raise SourceError(source, SkipReason.UNSUPPORTED, "is a directory")
    try:
        size = path.stat().st_size
        if size > settings.max_bytes:
            raise SourceError(
                source, SkipReason.TOO_LARGE,
                f"file is {size:,} bytes, over the {settings.max_bytes:,}-byte limit",
                hint="raise DUALUSE_MAX_BYTES if this is intended",
            )
        with path.open("rb") as fh:
            body = fh.read(settings.max_bytes + 1)
    except PermissionError as exc:
        raise SourceError(source, SkipReason.UNREADABLE, "permission denied",
                          hint="check the file's permissions") from exc
    except OSError as exc:
        raise SourceError(source, SkipReason.UNREADABLE, f"cannot read: {exc.strerror or exc}") from exc
    kind = sniff_kind(path, body[:2048])
    if kind is None:
        raise SourceError(
            source, SkipReason.UNSUPPORTED,
            f"unsupported file type '{path.suffix or '(none)'}'",
            hint="supported: " + ", ".join(sorted(SUPPORTED_EXT)),
        )
    return Fetched(
        source=source,
        locator=str(path.resolve()),
        kind=kind,
        body=body,
        fetched_at=now_iso(),
    )


# ---------------------------------------------------------------------------------------------
# URLs


def _address_blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return "a multicast or unspecified address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "a private-network address"
    return None


class Fetcher:
    """HTTP(S) fetcher with SSRF protection, total time budget, byte cap and manual redirects."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def resolve(self, source: str, host: str, port: int) -> str:
        """Resolve ``host`` and return an address that passes the private-network policy."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError(source, SkipReason.UNREACHABLE, f"cannot resolve host '{host}'",
                             hint="check the URL or your network", retryable=True) from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for ip in addresses:
            why = _address_blocked(ip, self.settings.allow_private)
            if why:
                raise FetchError(
                    source, SkipReason.BLOCKED,
                    f"refused to fetch {host} ({ip}): {why}",
                    hint="set DUALUSE_ALLOW_PRIVATE=1 only if you trust this network",
                )
        return str(addresses[0])

    def fetch(self, source: str) -> Fetched:
        url = source.strip()
        seen: set[str] = set()
        deadline = time.monotonic() + self.settings.fetch_timeout
        for _hop in range(self.settings.max_redirects + 1):
            if url in seen:
                raise FetchError(source, SkipReason.TOO_MANY_REDIRECTS, f"redirect loop at {url}")
            seen.add(url)
            response = self._request(source, url, deadline)
            status, headers, body = response
            if status in REDIRECT_CODES and "location" in headers:
                url = urljoin(url, headers["location"])
                continue
            return self._finish(source, url, status, headers, body)
        raise FetchError(source, SkipReason.TOO_MANY_REDIRECTS,
                         f"more than {self.settings.max_redirects} redirects")

    def _finish(self, source: str, url: str, status: int, headers: dict[str, str], body: bytes) -> Fetched:
        if status >= 400:
            raise FetchError(
                source, SkipReason.HTTP_ERROR, f"server answered HTTP {status}",
                retryable=status in RETRYABLE_STATUS,
            )
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        kind = CONTENT_TYPES.get(ctype)
        if kind is None and not ctype:
            kind = SourceKind.PDF if body.startswith(b"%PDF-") else SourceKind.HTML
        if kind is None:
            raise FetchError(
                source, SkipReason.UNSUPPORTED,
                f"not an article or report (content type '{ctype}')",
                hint="dualuse ingests HTML, PDF and plain-text URLs",
            )
        return Fetched(
            source=source,
            locator=normalise_url(url),  # the final URL: redirects to one article are one document
            kind=kind,
            body=body,
            url=url,
            content_type=ctype or None,
            status=status,
            fetched_at=now_iso(),
            headers=tuple(sorted(headers.items())),
        )

    def _request(self, source: str, url: str, deadline: float) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(source, SkipReason.BAD_URL, f"not an http(s) URL: {url}",
                             hint="give an http:// or https:// URL")
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchError(source, SkipReason.BAD_URL, f"bad port in {url}") from exc
        ip = self.resolve(source, host, port)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(source, SkipReason.UNREACHABLE, "timed out", retryable=True)
        timeout = min(self.settings.connect_timeout, remaining)  # the socket timeout while connecting
        conn: urllib3.connection.HTTPConnection
        if parts.scheme == "https":
            conn = urllib3.connection.HTTPSConnection(
                ip, port, timeout=timeout, server_hostname=host, assert_hostname=host,
                cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
            )
        else:
            conn = urllib3.connection.HTTPConnection(ip, port, timeout=timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        # The watchdog shuts the socket at the deadline, so the total budget holds while headers
        # are read too (a server can drip a status line forever under any per-read timeout).
        watchdog = threading.Timer(remaining, _shut, args=(conn,))
        watchdog.daemon = True
        watchdog.start()
        try:
            try:
                conn.connect()
                if conn.sock is not None:  # reads may take the rest of the budget, no more
                    conn.sock.settimeout(max(deadline - time.monotonic(), 0.05))
                conn.request("GET", path, preload_content=False, headers={
                    "Host": host_header,
                    "User-Agent": self.settings.user_agent,
                    "Accept": "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.1",
                    "Accept-Encoding": "gzip, deflate",
                })
                resp = conn.getresponse()
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise self._too_slow(source) from exc
                raise FetchError(source, SkipReason.UNREACHABLE, f"cannot connect to {host}: {_why(exc)}",
                                 hint="check the URL or try again later", retryable=True) from exc
            headers = {k.lower(): v for k, v in resp.headers.items()}
            if resp.status in REDIRECT_CODES or resp.status >= 400:
                return resp.status, headers, b""
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.settings.max_bytes:
                raise FetchError(
                    source, SkipReason.TOO_LARGE,
                    f"response is {int(declared):,} bytes, over the {self.settings.max_bytes:,}-byte limit",
                )
            body = self._read_body(source, resp, deadline)
            return resp.status, headers, body
        finally:
            watchdog.cancel()
            conn.close()

    def _too_slow(self, source: str) -> FetchError:
        return FetchError(source, SkipReason.UNREACHABLE,
                          f"download took longer than {self.settings.fetch_timeout:g}s", retryable=True)

    def _read_body(self, source: str, resp: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        chunks: list[bytes] = []
        total = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise self._too_slow(source)
                # read1 returns after one socket read, so the deadline is checked even when a
                # server drips bytes slower than any per-read timeout would notice.
                chunk = resp.read1(64 * 1024, decode_content=True)
                if not chunk:
                    break
                total += len(chunk)
                if total > self.settings.max_bytes:
                    raise FetchError(
                        source, SkipReason.TOO_LARGE,
                        f"body exceeds the {self.settings.max_bytes:,}-byte limit (after decompression)",
                    )
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise self._too_slow(source) from exc
            raise FetchError(source, SkipReason.UNREACHABLE, f"download failed: {_why(exc)}",
                             retryable=True) from exc
        return b"".join(chunks)


def _shut(conn: urllib3.connection.HTTPConnection) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing left to cut
            sock.shutdown(socket.SHUT_RDWR)


def _why(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc)
    return text.split(": ", 1)[-1] if "Connection" in text else text


def load(source: str, settings: Settings, fetcher: Fetcher | None = None) -> Fetched:
    """Load one source, local or remote."""
    if is_url(source):
        return (fetcher or Fetcher(settings)).fetch(source)
    if "://" in source:
        raise SourceError(source, SkipReason.BAD_URL, "unsupported URL scheme",
                          hint="give an http(s) URL or a local path")
    return load_file(source, settings)
