"""Dates from feeds and sitemaps as ISO 8601 strings in UTC; ``value[:10]`` is always YYYY-MM-DD."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

PARTIAL_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def iso_from_struct(value: time.struct_time | None) -> str | None:
    """feedparser's parsed dates are UTC ``struct_time``s."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return None


def iso_from_w3c(text: str | None) -> str | None:
    """A W3C datetime (sitemaps' ``lastmod``, news ``publication_date``): a date stays a date, a
    date-time becomes UTC (a time without a zone is taken as UTC); ``2024`` and ``2024-05`` give the
    first day. Anything unreadable gives ``None``."""
    if not text:
        return None
    text = text.strip()
    partial = PARTIAL_DATE_RE.match(text)
    if partial:
        return f"{partial.group(1)}-{partial.group(2) or '01'}-01"
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
