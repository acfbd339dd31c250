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
* a content-type policy chosen by purpose (``accept``): ``"document"`` (HTML, PDF, plain text: what
  the extract stage reads, the default), ``"feed"`` (RSS, Atom and sitemap XML, and gzip-compressed
  sitemaps, decompressed under the same byte cap) and ``"robots"`` (robots.txt, plain text);
* conditional requests (``fetch_if_changed``): ``If-None-Match`` / ``If-Modified-Since`` from the
  validators of a previous fetch; a 304 comes back as a ``NotModified`` result, not an error.

Politeness (robots.txt, per-host intervals, Retry-After, retries) lives in ``pipeline.politeness``,
which drives this fetcher.

We use urllib3 (already a trafilatura dependency) rather than trafilatura's ``fetch_url`` because
that returns ``None`` on every failure and we must report *why* a source was skipped.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

from pipeline.errors import FetchError, SourceError
from pipeline.records import Fetched, SkipReason, SourceKind
from pipeline.settings import Settings
from pipeline.urls import web_locator

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
XML_CONTENT_TYPES = {
    "application/rss+xml": SourceKind.XML,
    "application/atom+xml": SourceKind.XML,
    "application/rdf+xml": SourceKind.XML,  # RSS 1.0
    "application/xml": SourceKind.XML,
    "text/xml": SourceKind.XML,
}
GZIP_CONTENT_TYPES = {"application/x-gzip", "application/gzip"}
"""A compressed sitemap (``sitemap.xml.gz``) served as a file, not as a Content-Encoding."""
GZIP_MAGIC = b"\x1f\x8b"
REDIRECT_CODES = {301, 302, 303, 307, 308}
RETRYABLE_STATUS = {429, 500, 502, 503, 504}

Accept = Literal["document", "feed", "robots"]
"""What a fetch is for; it picks the content types accepted and the Accept header sent."""


def _sniff_document(body: bytes) -> SourceKind | None:
    return SourceKind.PDF if body.startswith(b"%PDF-") else SourceKind.HTML


_XML_STARTS = (b"<?xml", b"<rss", b"<feed", b"<urlset", b"<sitemapindex", b"<rdf:rdf")


def _sniff_feed(body: bytes) -> SourceKind | None:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return SourceKind.XML if head.startswith(_XML_STARTS) else None


def _sniff_text(body: bytes) -> SourceKind | None:
    return SourceKind.TEXT


@dataclass(frozen=True)
class AcceptPolicy:
    """The content types one purpose accepts, and what to assume when a server names none."""

    name: Accept
    types: Mapping[str, SourceKind]
    header: str  # the Accept request header
    sniff: Callable[[bytes], SourceKind | None]  # for a response without a Content-Type
    refused: str  # the hint given when a content type is refused
    gzip_files: bool = False  # accept application/x-gzip bodies (decompressed, capped)


ACCEPT_POLICIES: dict[str, AcceptPolicy] = {
    "document": AcceptPolicy(
        "document", CONTENT_TYPES,
        "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.1",
        _sniff_document, "dualuse ingests HTML, PDF and plain-text URLs"),
    "feed": AcceptPolicy(
        "feed", XML_CONTENT_TYPES,
        "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,"
        "application/x-gzip;q=0.5,*/*;q=0.1",
        _sniff_feed, "feeds and sitemaps must be RSS, Atom or sitemap XML (optionally gzip-compressed)",
        gzip_files=True),
    "robots": AcceptPolicy(
        "robots", {"text/plain": SourceKind.TEXT}, "text/plain,*/*;q=0.1",
        _sniff_text, "robots.txt must be served as text/plain"),
}


class ValidatorsLike(Protocol):
    """Anything carrying a previous response's validators (``Validators``, or a crawl state's row)."""

    @property
    def etag(self) -> str | None: ...

    @property
    def last_modified(self) -> str | None: ...


def conditional_headers(validators: ValidatorsLike | None) -> dict[str, str]:
    """``If-None-Match`` / ``If-Modified-Since`` for the given validators (empty when there are none)."""
    out: dict[str, str] = {}
    if validators is not None and validators.etag:
        out["If-None-Match"] = validators.etag
    if validators is not None and validators.last_modified:
        out["If-Modified-Since"] = validators.last_modified
    return out


@dataclass(frozen=True, slots=True)
class Validators:
    """What a server said identifies a version of a resource, sent back to ask "changed since?"."""

    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def of(cls, result: Fetched | NotModified) -> Validators:
        """The validators of a previous response (``ETag`` and ``Last-Modified`` headers)."""
        headers = dict(result.headers)
        return cls(etag=headers.get("etag") or None, last_modified=headers.get("last-modified") or None)

    def request_headers(self) -> dict[str, str]:
        return conditional_headers(self)


@dataclass(frozen=True, slots=True)
class NotModified:
    """A 304 answer to a conditional request: the copy from the previous fetch is still current."""

    source: str  # as given
    locator: str  # normalised final URL
    url: str  # final URL after redirects
    validators: Validators  # the server's new validators, else the ones sent
    status: int = 304
    fetched_at: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class HTTPStatusError(FetchError):
    """The server answered 4xx/5xx. Keeps the status and the raw ``Retry-After`` header so the
    politeness layer can pause the host as asked."""

    def __init__(self, source: str, status: int, *, retry_after: str | None = None) -> None:
        super().__init__(source, SkipReason.HTTP_ERROR, f"server answered HTTP {status}",
                         retryable=status in RETRYABLE_STATUS)
        self.status = status
        self.retry_after = retry_after


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


# ---------------------------------------------------------------------------------------------
# Local files


def gunzip(source: str, blob: bytes, limit: int, error: type[SourceError] = SourceError) -> bytes:
    """Decompress gzip data, refusing to grow past ``limit`` bytes (a gzip bomb stops there)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(blob, limit + 1)
    except zlib.error as exc:
        raise error(source, SkipReason.UNSUPPORTED, f"corrupt gzip data: {exc}",
                    hint="check that the file is complete, or decompress it yourself") from exc
    if len(out) > limit:
        raise error(source, SkipReason.TOO_LARGE, f"over the {limit:,}-byte limit after decompression",
                    hint="raise DUALUSE_MAX_BYTES if this is intended")
    if not inflater.eof:
        raise error(source, SkipReason.UNSUPPORTED, "corrupt gzip data: it ends before the compressed stream does",
                    hint="check that the file is complete, or decompress it yourself")
    return out


def supported_name(name: str) -> bool:
    """Whether a file name has a type ``load_file`` reads, gzip-compressed ones included."""
    path = Path(name.lower())
    if path.suffix == ".gz":
        path = path.with_suffix("")
    return path.suffix in SUPPORTED_EXT


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
    named = path
    if path.suffix.lower() == ".gz" and body.startswith(GZIP_MAGIC):
        # saved pages are often kept compressed (wget mirrors, archives): "page.html.gz" is the HTML
        # inside, typed by the name without ".gz"
        body = gunzip(source, body, settings.max_bytes)
        named = path.with_suffix("")
    kind = sniff_kind(named, body[:2048])
    if kind is None:
        raise SourceError(
            source, SkipReason.UNSUPPORTED,
            f"unsupported file type '{''.join(path.suffixes[-2:]) or '(none)'}'",
            hint="supported: " + ", ".join(sorted(SUPPORTED_EXT)) + ", each also gzip-compressed (.gz)",
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


NAT64 = ipaddress.ip_network("64:ff9b::/96")
"""The well-known NAT64 prefix (RFC 6052): its last 32 bits are the IPv4 address reached."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries to: IPv4-mapped, 6to4 (2002::/16), Teredo (2001::/32,
    server and client) and NAT64. A 6to4 or Teredo address wrapping 127.0.0.1 or 10.0.0.1 reaches
    that host through a relay, so it is judged as the IPv4 address itself."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def _address_blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        for v4 in _embedded_ipv4(ip):
            why = _address_blocked(v4, allow_private)
            if why:
                return f"{why} ({v4}, embedded in an IPv6 address)"
    if ip.is_multicast or ip.is_unspecified:
        return "a multicast or unspecified address"
    if ip.is_link_local:  # always: cloud metadata services live here (169.254.169.254, fd00:ec2::254's kin)
        return "a link-local address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
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

    def fetch(self, source: str, *, accept: Accept = "document") -> Fetched:
        """Fetch one URL (an unconditional GET). Raises ``FetchError`` with a typed reason."""
        result = self.fetch_if_changed(source, accept=accept)
        if isinstance(result, NotModified):  # a 304 nobody asked for: there is no earlier copy
            raise HTTPStatusError(source, 304)
        return result

    def fetch_if_changed(
        self, source: str, *, accept: Accept = "document", validators: ValidatorsLike | None = None,
        before_hop: Callable[[str], None] | None = None,
    ) -> Fetched | NotModified:
        """Fetch one URL, conditionally when ``validators`` are given: a 304 returns ``NotModified``.

        ``before_hop(url)`` is called before each redirect hop is requested (not before the first
        request); it may raise ``FetchError`` to stop there (the politeness layer checks robots.txt
        and paces the hop's host). Time spent in it does not count against ``fetch_timeout``."""
        policy = ACCEPT_POLICIES[accept]
        conditional = conditional_headers(validators)
        extra = {"Accept": policy.header, **conditional}
        url = source.strip()
        seen: set[str] = set()
        deadline = time.monotonic() + self.settings.fetch_timeout
        for hop in range(self.settings.max_redirects + 1):
            if url in seen:
                raise FetchError(source, SkipReason.TOO_MANY_REDIRECTS, f"redirect loop at {url}")
            seen.add(url)
            if hop and before_hop is not None:
                paused = time.monotonic()
                before_hop(url)  # politeness waits are not download time: the budget resumes after
                deadline += time.monotonic() - paused
            response = self._request(source, url, deadline, extra)
            status, headers, body = response
            if status in REDIRECT_CODES and "location" in headers:
                url = urljoin(url, headers["location"])
                continue
            if status == 304 and conditional and validators is not None:
                new = Validators(etag=headers.get("etag") or validators.etag,
                                 last_modified=headers.get("last-modified") or validators.last_modified)
                return NotModified(source=source, locator=web_locator(url), url=url, validators=new,
                                   fetched_at=now_iso(), headers=tuple(sorted(headers.items())))
            return self._finish(source, url, status, headers, body, policy)
        raise FetchError(source, SkipReason.TOO_MANY_REDIRECTS,
                         f"more than {self.settings.max_redirects} redirects")

    def _finish(self, source: str, url: str, status: int, headers: dict[str, str], body: bytes,
                policy: AcceptPolicy = ACCEPT_POLICIES["document"]) -> Fetched:
        if status >= 400 or status == 304:
            raise HTTPStatusError(source, status, retry_after=headers.get("retry-after"))
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        kind = policy.types.get(ctype)
        if policy.gzip_files and (ctype in GZIP_CONTENT_TYPES or kind is not None or not ctype) \
                and body.startswith(GZIP_MAGIC):
            body = self._gunzip(source, body)  # a .xml.gz sitemap (or XML served gzipped as a file)
            kind = _sniff_feed(body)
        elif policy.gzip_files and ctype in GZIP_CONTENT_TYPES:
            kind = _sniff_feed(body)  # already decoded on the way (Content-Encoding: gzip as well)
        if kind is None and not ctype:
            kind = policy.sniff(body)
        if kind is None:
            what = "an article or report" if policy.name == "document" else f"a {policy.name} response"
            raise FetchError(
                source, SkipReason.UNSUPPORTED,
                f"not {what} (content type '{ctype or '(none)'}')",
                hint=policy.refused,
            )
        return Fetched(
            source=source,
            locator=web_locator(url),  # the final URL: redirects to one article are one document
            kind=kind,
            body=body,
            url=url,
            content_type=ctype or None,
            status=status,
            fetched_at=now_iso(),
            headers=tuple(sorted(headers.items())),
        )

    def _gunzip(self, source: str, blob: bytes) -> bytes:
        return gunzip(source, blob, self.settings.max_bytes, FetchError)

    def post(self, url: str, body: bytes, content_type: str) -> int:
        """POST ``body`` to ``url`` (a webhook) and return the status; redirects are not followed.

        Through the same connection as every fetch: the name is resolved once, the address checked
        against the private-network policy, and the socket connected to that checked address, so a
        DNS answer that changes between a check and a connect (rebinding) cannot reach a private
        host. Raises ``FetchError`` like ``fetch``."""
        deadline = time.monotonic() + self.settings.fetch_timeout
        status, _, _ = self._request(url, url.strip(), deadline, {"Content-Type": content_type},
                                     method="POST", body=body)
        return status

    def _request(self, source: str, url: str, deadline: float,
                 extra_headers: Mapping[str, str] | None = None, *, method: str = "GET",
                 body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
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
                conn.request(method, path, body=body, preload_content=False, headers={
                    "Host": host_header,
                    "User-Agent": self.settings.user_agent,
                    "Accept": ACCEPT_POLICIES["document"].header,
                    "Accept-Encoding": "gzip, deflate",
                    **(extra_headers or {}),
                })
                resp = conn.getresponse()
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise self._too_slow(source) from exc
                raise FetchError(source, SkipReason.UNREACHABLE, f"cannot connect to {host}: {_why(exc)}",
                                 hint="check the URL or try again later", retryable=True) from exc
            headers = {k.lower(): v for k, v in resp.headers.items()}
            if resp.status in REDIRECT_CODES or resp.status >= 400 or resp.status == 304 or method != "GET":
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
