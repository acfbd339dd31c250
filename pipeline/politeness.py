"""Polite fetching for the crawler: robots.txt, per-host pacing, Retry-After and bounded retries.

``PoliteFetcher.fetch(url, accept=..., validators=...)`` is the one call a crawl makes per URL:

1. ``RobotsCache``: the host's robots.txt (RFC 9309), fetched through the same ``Fetcher`` (so the
   private-network block, byte cap and time budget apply to it too), parsed by protego for our
   product token (the first word of ``settings.user_agent``), cached for ``robots_ttl``. A 4xx
   robots.txt means no rules (allow all); a 5xx, a 429, a timeout or a refused connection closes the
   host for the life of the cache (one crawl run), reported as ``robots-unreachable``.
2. ``HostLimiter``: one request at a time per host (scheme, host, port), and at least
   ``max(crawl_delay, robots Crawl-delay / Request-rate)`` seconds between request starts, capped
   at ``crawl_delay_max``. A ``Retry-After`` on 429/503 (seconds or an HTTP date) pauses only that
   host, for at most ``retry_after_max``; other hosts keep going.
3. ``Fetcher``: the request itself; a 304 to a conditional request comes back as ``NotModified``.
4. Retries only on 429, the transient 5xx (500, 502, 503, 504) and connection errors, at most
   ``fetch_retries`` times, after the server's ``Retry-After`` or an exponential backoff. Any other
   4xx is final at once.

Redirect hops are re-checked by the fetcher against the private-network block, and here against
the target host's robots.txt and pacing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit

from protego import Protego

from pipeline.clock import Clock
from pipeline.errors import FetchError
from pipeline.fetch import Accept, Fetcher, HTTPStatusError, NotModified, ValidatorsLike
from pipeline.records import Fetched, SkipReason
from pipeline.settings import Settings

HostKey = tuple[str, str, int]
"""(scheme, lower-case host, port): the unit robots.txt and pacing apply to (RFC 9309 section 2.3)."""


def host_key(url: str) -> HostKey:
    """The (scheme, host, port) of an http(s) URL; ``FetchError`` (bad-url) otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(url, SkipReason.BAD_URL, f"not an http(s) URL: {url}",
                         hint="give an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(url, SkipReason.BAD_URL, f"bad port in {url}") from exc
    return parts.scheme, parts.hostname.lower(), port


def robots_url(key: HostKey) -> str:
    scheme, host, port = key
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{shown}/robots.txt" if port == default else f"{scheme}://{shown}:{port}/robots.txt"


def agent_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against: 'dualuse/0.1 (+https://...)' ->
    'dualuse'. Matching the whole header would let a group for 'github' (in our contact URL) apply."""
    words = user_agent.strip().split()
    return (words[0].split("/")[0] if words else "") or "dualuse"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date); ``None`` when
    absent or unreadable. A date in the past means 0."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


# ---------------------------------------------------------------------------------------------
# Per-host pacing


TURN_ALLOWANCE = 0.05
"""Seconds a paced-but-not-held request (robots.txt, a redirect hop) is assumed to take."""


@dataclass
class _HostState:
    busy: bool = False
    last_start: float | None = None
    last_end: float | None = None  # when the last held request finished
    not_before: float = 0.0  # set by Retry-After / backoff


class HostLimiter:
    """Thread-safe per-host pacing: one request at a time per host, at least ``interval`` between
    the end of one request and the start of the next (so the server never sees two arrivals closer
    than that), and pauses pushed by Retry-After. Hosts never wait on each other."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self._clock = self.clock.monotonic
        self._cond = threading.Condition()
        self._hosts: dict[HostKey, _HostState] = {}

    def interval(self, robots_delay: float | None = None) -> float:
        """max(crawl_delay, what robots.txt asks), capped at crawl_delay_max (never below crawl_delay)."""
        base = max(self.settings.crawl_delay, 0.0)
        wanted = max(base, robots_delay or 0.0)
        return min(wanted, max(self.settings.crawl_delay_max, base))

    def _wait(self, key: HostKey, interval: float, *, exclusive: bool) -> _HostState:
        # Called with the condition held.
        state = self._hosts.setdefault(key, _HostState())
        while True:
            now = self._clock()
            due = state.not_before
            if state.last_start is not None:
                due = max(due, state.last_start + interval)
            if state.last_end is not None:
                # counted from the end of the previous response too: the server sees a request
                # arrive some time after we start it, so pacing starts alone let two arrivals come
                # closer than ``interval`` (measured: 0.962 s apart at a 1 s delay under load)
                due = max(due, state.last_end + interval)
            if exclusive and state.busy:
                self.clock.wait(self._cond, None)
            elif now < due:
                self.clock.wait(self._cond, due - now)
            else:
                state.last_start = now
                return state

    @contextlib.contextmanager
    def slot(self, key: HostKey, interval: float) -> Iterator[None]:
        """Hold the host for one request: waits until nobody else holds it and ``interval`` has
        passed since the last request start there (and any Retry-After pause is over)."""
        with self._cond:
            state = self._wait(key, interval, exclusive=True)
            state.busy = True
        try:
            yield
        finally:
            with self._cond:
                state.busy = False
                state.last_end = self._clock()
                self._cond.notify_all()

    def turn(self, key: HostKey, interval: float) -> None:
        """Wait for the host's pacing (interval and pauses) and count a request start, without holding
        the host: for robots.txt and redirect hops made while another host's slot is held, so two
        threads holding slots can never wait on each other."""
        with self._cond:
            state = self._wait(key, interval, exclusive=False)
            # the request this turn is for is not timed to its end: count it as if it took a
            # moment, so the next start leaves room for the arrival jitter a server sees
            state.last_end = max(state.last_end or 0.0, state.last_start + TURN_ALLOWANCE) \
                if state.last_start is not None else state.last_end
            self._cond.notify_all()

    def finished(self, key: HostKey) -> None:
        """The request a ``turn`` was for has ended: the next start there counts from now (a slow
        robots.txt answer would otherwise be followed by the first page sooner than ``interval``)."""
        with self._cond:
            state = self._hosts.setdefault(key, _HostState())
            state.last_end = max(state.last_end or 0.0, self._clock())
            self._cond.notify_all()

    def defer(self, key: HostKey, seconds: float) -> float:
        """Pause the host for ``seconds`` from now, capped at ``retry_after_max``; returns the pause."""
        pause = min(max(seconds, 0.0), self.settings.retry_after_max)
        with self._cond:
            state = self._hosts.setdefault(key, _HostState())
            state.not_before = max(state.not_before, self._clock() + pause)
            self._cond.notify_all()
        return pause


# ---------------------------------------------------------------------------------------------
# robots.txt


RobotsStatus = Literal["parsed", "unavailable", "unreachable"]


@dataclass(frozen=True)
class RobotsRules:
    """One host's robots.txt as fetched: ``parsed`` (2xx), ``unavailable`` (4xx or not text: no
    rules, everything allowed) or ``unreachable`` (5xx, 429, network error: everything disallowed)."""

    url: str  # the robots.txt URL
    status: RobotsStatus
    detail: str
    agent: str  # the product token matched against User-agent lines
    fetched_at: float  # clock reading when fetched
    parser: Protego | None = field(default=None, repr=False)

    def allowed(self, url: str) -> bool:
        if self.status == "unreachable":
            return False
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, self.agent))

    @property
    def crawl_delay(self) -> float | None:
        """Seconds between requests this robots.txt asks of us (Crawl-delay, or Request-rate n/s)."""
        if self.parser is None:
            return None
        delays = [d for d in (self.parser.crawl_delay(self.agent),) if d is not None]
        rate = self.parser.request_rate(self.agent)
        if rate is not None and rate.requests > 0:
            delays.append(rate.seconds / rate.requests)
        return max(delays) if delays else None

    @property
    def sitemaps(self) -> list[str]:
        return list(self.parser.sitemaps) if self.parser is not None else []


class RobotsCache:
    """robots.txt per (scheme, host, port), fetched once per ``robots_ttl`` and shared by threads.

    One cache is meant to live for one crawl run: a host whose robots.txt could not be fetched stays
    closed for the cache's life, and is tried again by the next run's cache."""

    def __init__(self, settings: Settings, *, fetcher: Fetcher | None = None,
                 limiter: HostLimiter | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.fetcher = fetcher or Fetcher(settings)
        self.limiter = limiter
        self.agent = agent_token(settings.user_agent)
        self._clock = (clock or (limiter.clock if limiter is not None else Clock())).monotonic
        self._lock = threading.Lock()
        self._rules: dict[HostKey, RobotsRules] = {}
        self._host_locks: dict[HostKey, threading.Lock] = {}

    def rules(self, url: str) -> RobotsRules:
        """The rules for ``url``'s host, fetching robots.txt when not cached or stale. Raises
        ``FetchError`` only when the host itself may not be fetched (blocked address, bad URL)."""
        key = host_key(url)
        with self._lock:
            host_lock = self._host_locks.setdefault(key, threading.Lock())
        with host_lock:  # one fetch per host; other hosts are not held up
            cached = self._rules.get(key)
            if cached is not None and (cached.status == "unreachable"
                                       or self._clock() - cached.fetched_at < self.settings.robots_ttl):
                return cached
            fresh = self._fetch(key)
            self._rules[key] = fresh
            return fresh

    def check(self, url: str) -> RobotsRules:
        """The host's rules when ``url`` may be fetched, else ``FetchError`` (robots-disallowed or
        robots-unreachable)."""
        rules = self.rules(url)
        if rules.status == "unreachable":
            raise FetchError(
                url, SkipReason.ROBOTS_UNREACHABLE,
                f"robots.txt could not be fetched ({rules.detail}): the host is off-limits for this run",
                hint="RFC 9309: a server error on robots.txt means disallow all; the next run tries again",
            )
        if not rules.allowed(url):
            raise FetchError(url, SkipReason.ROBOTS_DISALLOWED,
                             f"robots.txt at {rules.url} disallows '{rules.agent}' here")
        return rules

    def _fetch(self, key: HostKey) -> RobotsRules:
        url = robots_url(key)

        def rules(status: RobotsStatus, detail: str, parser: Protego | None = None) -> RobotsRules:
            return RobotsRules(url, status, detail, self.agent, self._clock(), parser)

        if self.limiter is not None:
            self.limiter.turn(key, self.limiter.interval())
        try:
            fetched = self.fetcher.fetch(url, accept="robots")
        except HTTPStatusError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                return rules("unavailable", f"HTTP {exc.status}: no rules")
            return rules("unreachable", f"HTTP {exc.status}")
        except FetchError as exc:
            if exc.reason in (SkipReason.BLOCKED, SkipReason.BAD_URL):
                raise FetchError(url, exc.reason, exc.detail, hint=exc.hint) from exc
            if exc.reason == SkipReason.UNSUPPORTED:  # e.g. an HTML page: it holds no robots rules
                return rules("unavailable", exc.detail)
            return rules("unreachable", exc.detail)
        finally:
            if self.limiter is not None:
                self.limiter.finished(key)
        text = fetched.body.decode("utf-8", errors="replace").lstrip("\ufeff")
        return rules("parsed", f"HTTP {fetched.status}", Protego.parse(text))


# ---------------------------------------------------------------------------------------------
# The polite fetch


class PoliteFetcher:
    """robots.txt check -> host slot -> fetch -> bounded retries. Thread-safe: share one per run
    between worker threads (the limiter and robots cache are what make it polite across them)."""

    def __init__(self, settings: Settings, *, fetcher: Fetcher | None = None,
                 limiter: HostLimiter | None = None, robots: RobotsCache | None = None,
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self.fetcher = fetcher or Fetcher(settings)
        self.limiter = limiter or HostLimiter(settings, clock=clock)
        self.robots = robots or RobotsCache(settings, fetcher=self.fetcher, limiter=self.limiter)

    def fetch(self, url: str, *, accept: Accept = "document",
              validators: ValidatorsLike | None = None) -> Fetched | NotModified:
        """Fetch ``url`` politely. Returns ``Fetched``, or ``NotModified`` for a 304 to the
        conditional request ``validators`` make; raises ``FetchError`` with a ``SkipReason``."""
        key = host_key(url)
        rules = self.robots.check(url)
        interval = self.limiter.interval(rules.crawl_delay)
        retries = max(self.settings.fetch_retries, 0)
        for attempt in range(retries + 1):
            try:
                with self.limiter.slot(key, interval):
                    return self.fetcher.fetch_if_changed(url, accept=accept, validators=validators,
                                                         before_hop=lambda hop: self._hop(key, hop))
            except FetchError as exc:
                asked = self._asked_wait(exc)
                if asked is not None and asked > self.settings.retry_after_max:
                    self.limiter.defer(key, asked)  # capped: the host pauses retry_after_max
                    raise FetchError(
                        url, exc.reason,
                        f"{exc.detail}; Retry-After asks for {asked:g}s, over the "
                        f"{self.settings.retry_after_max:g}s cap: not retried in this run",
                        hint="raise DUALUSE_RETRY_AFTER_MAX to wait longer", retryable=True,
                    ) from exc
                if asked is not None:
                    self.limiter.defer(key, asked)  # the host waits even when we give up now
                if not exc.retryable or attempt == retries:
                    raise
                if asked is None:
                    self.limiter.defer(key, self.settings.retry_backoff * 2.0 ** attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _hop(self, origin: HostKey, url: str) -> None:
        """Before a redirect hop: the target's robots.txt must allow it, and a different host is paced."""
        rules = self.robots.check(url)
        key = host_key(url)
        if key != origin:
            self.limiter.turn(key, self.limiter.interval(rules.crawl_delay))

    @staticmethod
    def _asked_wait(exc: FetchError) -> float | None:
        if isinstance(exc, HTTPStatusError) and exc.status in (429, 503):
            return parse_retry_after(exc.retry_after)
        return None
