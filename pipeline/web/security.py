"""Who may talk to the web app, and what the browser is told to allow.

* **Token**: when one is set (``DUALUSE_WEB_TOKEN``; required to listen beyond loopback), every
  request needs it, as ``Authorization: Bearer TOKEN`` or the cookie ``/login?token=TOKEN`` sets
  (HttpOnly, SameSite=Strict; it holds an HMAC of the token, not the token).
* **Host**: without a token only loopback host names are answered (a DNS-rebinding page cannot
  read a local instance through a name of its own).
* **Cross-site writes**: any method other than GET/HEAD/OPTIONS from another site (Sec-Fetch-Site
  cross-site/same-site; without it, an Origin that is not this host) is refused, so a form on another page
  cannot act through a logged-in browser. GETs never change state.
* **Headers**: Content-Security-Policy (no scripts at all, styles from this origin; the dossier page
  alone allows its own inline stylesheet and data: pictures), nosniff, no referrer to other sites,
  no framing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from pipeline.errors import UsageError

COOKIE = "dualuse_token"
TOKEN_ENV = "DUALUSE_WEB_TOKEN"  # noqa: S105 - the variable's name, not a secret
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
CSP = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CSP_DOSSIER = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
OPEN_PATHS = ("/login", "/static/app.css")

Next = Callable[[Request], Awaitable[Response]]
Deny = Callable[[Request, int, str], Response]


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if not is_loopback(host) and not token:
        raise UsageError(f"refusing to serve on {host} without a token",
                         hint=f"set {TOKEN_ENV} to a long random secret, or serve on 127.0.0.1")


def cookie_value(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"dualuse-web-session", hashlib.sha256).hexdigest()


def authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), cookie_value(token).encode())


def host_name(host_header: str) -> str:
    """The name part of a Host header ("127.0.0.1:8000" -> "127.0.0.1", "[::1]:80" -> "::1")."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def cross_site(request: Request) -> bool:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:  # the browser's own word (Fetch Metadata), which pages cannot forge
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null":
            return True
        return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()
    return False


def guard(token: str | None, hosts: Iterable[str], deny: Deny) -> Callable[[Request, Next], Awaitable[Response]]:
    """The HTTP middleware: host, cross-site and token checks, then the security headers."""
    allowed = {h.lower() for h in hosts}

    async def middleware(request: Request, call_next: Next) -> Response:
        if not token and host_name(request.headers.get("host", "")).lower() not in allowed:
            response = deny(request, 400, "this address is not served here (use http://127.0.0.1)")
        elif request.method not in SAFE_METHODS and cross_site(request):
            response = deny(request, 403, "cross-site request refused")
        elif token and request.url.path not in OPEN_PATHS and not authorised(request, token):
            response = deny(request, 401,
                            "a token is required (Authorization: Bearer TOKEN, or open /login?token=TOKEN)")
        else:
            response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        # same-origin, not no-referrer: outlets never learn what was searched, and a form post
        # still carries its real Origin (under no-referrer browsers send "Origin: null")
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        headers.setdefault("Cache-Control", "no-store")
        return response

    return middleware
