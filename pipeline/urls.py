"""URL normalisation: one canonical string per web page, so a crawler sees each article once.

``normalize_url`` is pure (no network) and idempotent: ``normalize_url(normalize_url(u)) ==
normalize_url(u)``. What it does to an ``http(s)`` URL:

* scheme and host lower-cased, the host IDNA-encoded (ASCII, so it is safe in a ``Host`` header);
  a trailing dot on the host and the scheme's default port are dropped; an empty path becomes ``/``;
* dot segments resolved, runs of ``/`` collapsed, percent-escapes upper-cased and escapes of
  unreserved characters decoded (RFC 3986 §6.2.2); the path is otherwise kept, trailing slash included;
* the fragment dropped (``#!`` hash-bang routes included: a fragment never names another document);
* ``;jsessionid=…`` path parameters and tracking query parameters removed (``TRACKING_PARAMS``,
  ``TRACKING_PREFIXES``, and ``ref``/``source``/``src``/``from`` only when their value is a referral
  channel such as ``rss`` or ``twitter``: ``?ref=main`` on a code host or ``?from=2024-01-01`` stays);
* remaining query parameters sorted by name (the order of repeated names is kept), each kept as
  written apart from percent-escape normalisation, so ``?12345`` is not rewritten to ``?12345=``;
* AMP variants mapped to the canonical article, and only these (each is unambiguous):
  - a last path segment ``amp`` (``/story/amp`` and ``/story/amp/`` become ``/story/``: the
    WordPress AMP plugin's form, whose canonical keeps the slash);
  - a ``.amp`` suffix (``/news/world-123.amp`` → ``/news/world-123``) and ``.amp.html`` → ``.html``;
  - query ``amp`` with value ``1``/``true``/empty, and ``outputType=amp`` (The Washington Post);
  - AMP viewer parameters (``amp_js_v``, ``amp_gsa``, ``usqp``);
  - Google AMP cache and viewer addresses (``*.cdn.ampproject.org/c/s/HOST/PATH`` and
    ``www.google.com/amp/s/HOST/PATH``) → ``https://HOST/PATH``;
  - an ``amp.`` subdomain only for hosts in ``AMP_HOSTS``, whose AMP mirror is known to use the
    same paths as the canonical site. Rewriting ``amp.`` in general is not safe: the canonical
    host may be the bare domain, ``www.`` or another name, and some AMP mirrors prefix their paths.
    ``same_site`` treats ``amp.example.com`` and ``www.example.com`` as one site either way.
  Not handled: ``/amp/`` as a first path segment (some sites have a real section of that name).

Built on courlan (already installed as a trafilatura dependency, and what ``pipeline.fetch`` uses),
for the path clean-up and, through its ``tld`` dependency (the public suffix list, bundled, offline),
for registrable domains. No new dependency: url-normalize would add one to do the same. The query
and the host are handled here, not by courlan, because its string entry point HTML-unescapes the
URL (``&region=asia`` becomes ``®ion=asia``), its tracker regex matches substrings (it drops
``gallery=``, ``game=``, ``global=`` and ``source=`` of any value) and its strict mode drops every
parameter outside a short allow-list (``?storyid=2`` and ``?storyid=3`` would be one page).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, unquote_plus, urljoin, urlsplit, urlunsplit

from courlan import extract_domain
from courlan import normalize_url as courlan_normalize

TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "__hstc",
    "__hssc", "__hsfp", "mkt_tok", "s_cid", "cmpid", "cmp", "ocid", "smid", "smtyp", "sr_share",
    "ref_src", "ref_url", "refsrc", "referrer", "referer", "ito", "xtor", "spm", "share_source",
    "jsessionid", "phpsessid", "sessionid", "__twitter_impression", "amp_js_v", "amp_gsa", "usqp",
    "_gsa", "guccounter", "guce_referrer", "guce_referrer_sig", "soc_src", "soc_trk", "rss",
})
"""Query parameter names (compared lower-cased) that only say how a reader arrived."""

TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "ns_", "oly_", "vero_", "at_medium", "at_campaign",
                     "at_link", "at_ptr", "at_custom", "at_format", "at_bbc")
"""Name prefixes of tracking families: Google/Urchin, Piwik, Matomo, HubSpot ads, comScore (BBC),
Olytics, Vero, AT Internet (BBC)."""

REFERRAL_KEYS = frozenset({"ref", "source", "src", "from"})
REFERRAL_VALUES = frozenset({
    "rss", "feed", "feeds", "feedly", "newsletter", "email", "mail", "share", "social", "twitter", "tw",
    "x", "facebook", "fb", "linkedin", "reddit", "hn", "hackernews", "whatsapp", "telegram", "homepage",
    "home", "hp", "nav", "menu", "sidebar", "footer", "header", "related", "trending", "push", "app",
    "google", "flipboard", "mastodon", "bluesky", "tfw",
})
"""``ref``/``source``/``src``/``from`` are dropped only when the value's first word is one of these."""

AMP_HOSTS = {"amp.theguardian.com": "www.theguardian.com"}
"""``amp.`` hosts whose paths match the canonical host's (checked by hand). Extend with care."""

AMP_TRUE = frozenset({"", "1", "true", "yes"})
AMP_CACHE_RE = re.compile(r"^/[cvi]/(s/)?([^/?#]+)(/[^?#]*)?$")
GOOGLE_AMP_RE = re.compile(r"^/amp/(s/)?([^/?#]+)(/[^?#]*)?$")
PATH_PARAM_RE = re.compile(r";(?:jsessionid|phpsessid|sid)=[^/;?]*", re.IGNORECASE)
ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
WORD_RE = re.compile(r"[-_.:^|+ ]")
DEFAULT_PORTS = {"http": 80, "https": 443}
QUERY_SAFE = "%/:=?~+!$,;'@()*[]"


class BadURLError(ValueError):
    """Not an absolute http(s) URL with a valid host (also raised for credentials in the URL)."""


def normalize_url(url: str) -> str:
    """The canonical form of an absolute ``http(s)`` URL. Raises ``BadURLError`` for anything else."""
    parts = _split(url)
    unwrapped = _unwrap_amp_cache(parts)
    if unwrapped is not None:
        parts = _split(unwrapped)
    host = _host(parts, url)
    port = _port(parts, url)
    netloc = host if port is None or port == DEFAULT_PORTS[parts.scheme] else f"{host}:{port}"
    netloc = AMP_HOSTS.get(netloc, netloc)
    path = PATH_PARAM_RE.sub("", parts.path)
    # courlan: '//' runs collapsed, leading '/..' dropped, unsafe characters quoted.
    path = urlsplit(courlan_normalize(SplitResult(parts.scheme, netloc, path, "", ""), strict=True)).path
    path = urlsplit(urljoin(f"{parts.scheme}://{netloc}/", path or "/")).path or "/"  # dot segments
    path = _fix_escapes(_strip_amp_path(path))
    query = _clean_query(parts.query)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def try_normalize_url(url: str) -> str | None:
    """``normalize_url`` or ``None`` for a URL it refuses."""
    try:
        return normalize_url(url)
    except BadURLError:
        return None


def web_locator(url: str) -> str:
    """A web document's identity (``Fetched.locator``): the normalised URL, so every parameter that can
    select content stays (``?storyid=2``, WordPress ``?p=159752``) and only tracking ones go; a URL the
    normaliser refuses is kept as given. The crawler queues with the same normaliser."""
    return try_normalize_url(url) or url


def host_of(url: str) -> str:
    """The normalised host of a URL ('' when it has none)."""
    netloc = urlsplit(try_normalize_url(url) or "").hostname
    return netloc or ""


def site_of(url: str) -> str:
    """The registrable domain (``news.bbc.co.uk`` → ``bbc.co.uk``); the host itself for an IP
    address or a name outside the public suffix list (``localhost``)."""
    host = host_of(url)
    if not host:
        return ""
    domain = extract_domain(f"http://{host}/")
    return str(domain) if domain else host


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same registrable domain (``amp.x.com`` and ``www.x.com`` are)."""
    site = site_of(a)
    return bool(site) and site == site_of(b)


def same_host(a: str, b: str) -> bool:
    host = host_of(a)
    return bool(host) and host == host_of(b)


# ---------------------------------------------------------------------------------------------


def _split(url: str) -> SplitResult:
    # As browsers do (WHATWG URL): tabs and newlines inside a URL are dropped, spaces escaped.
    text = re.sub(r"[\t\r\n]", "", url.strip()).replace(" ", "%20")
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # bad IPv6 brackets and the like
        raise BadURLError(f"not a URL: {url!r}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadURLError(f"not an http(s) URL: {url!r}")
    if not parts.hostname:
        raise BadURLError(f"no host in {url!r}")
    if parts.username is not None or parts.password is not None:
        raise BadURLError(f"credentials in URL {url!r}")
    return parts._replace(scheme=scheme)


def _host(parts: SplitResult, url: str) -> str:
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal (urlsplit strips the brackets)
        return f"[{host}]"
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise BadURLError(f"bad host name in {url!r}") from exc
    if not ascii_host or not re.fullmatch(r"[a-z0-9._-]+", ascii_host):
        raise BadURLError(f"bad host name in {url!r}")
    return ascii_host


def _port(parts: SplitResult, url: str) -> int | None:
    try:
        return parts.port
    except ValueError as exc:
        raise BadURLError(f"bad port in {url!r}") from exc


def _unwrap_amp_cache(parts: SplitResult) -> str | None:
    host = (parts.hostname or "").lower()
    if host.endswith(".cdn.ampproject.org"):
        match = AMP_CACHE_RE.match(parts.path)
    elif host in ("www.google.com", "google.com"):
        match = GOOGLE_AMP_RE.match(parts.path)
    else:
        return None
    if match is None or "." not in match.group(2):
        return None
    scheme = "https" if match.group(1) else "http"
    inner_host: str = match.group(2)
    path: str = match.group(3) or "/"
    return urlunsplit((scheme, inner_host, path, parts.query, ""))


def _strip_amp_path(path: str) -> str:
    if path.endswith(".amp.html"):
        return path[: -len(".amp.html")] + ".html"
    if path.endswith(".amp") and len(path) > len("/.amp"):
        return path[: -len(".amp")]
    for tail in ("/amp", "/amp/"):
        if path.endswith(tail) and len(path) > len(tail):
            return path[: -len(tail)] + "/"
    return path


def _fix_escapes(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in UNRESERVED else f"%{match.group(1).upper()}"

    return ESCAPE_RE.sub(repl, text)


def _is_tracking(name: str, value: str) -> bool:
    key = name.lower()
    if key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES):
        return True
    if key == "amp":
        return value.lower() in AMP_TRUE
    if key == "outputtype":
        return value.lower() == "amp"
    if key in REFERRAL_KEYS:
        first = WORD_RE.split(value.lower(), maxsplit=1)[0]
        return first in REFERRAL_VALUES
    return False


def _clean_query(query: str) -> str:
    kept: list[tuple[str, str]] = []
    for piece in query.split("&"):
        if not piece or piece == "=":
            continue
        raw_name, _, raw_value = piece.partition("=")
        name = unquote_plus(raw_name)
        if _is_tracking(name, unquote_plus(raw_value)):
            continue
        kept.append((name, _fix_escapes(quote(piece, safe=QUERY_SAFE))))
    kept.sort(key=lambda pair: pair[0])  # stable: repeated names keep their order
    return "&".join(piece for _, piece in kept)
