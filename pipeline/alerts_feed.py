"""The alerts feed: JSON lines and an Atom feed a feed reader can subscribe to, rewritten from the
store after each scan (so they are always whole and never hold an alert twice), and an optional
webhook POST of the new alerts.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipeline.files import atomic_write
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.ingest import Pipeline

ATOM = "http://www.w3.org/2005/Atom"
FEED_LIMIT = 500


def write_feeds(settings: Settings, alerts: list[dict[str, Any]], updated: str) -> tuple[Path, Path]:
    """``alerts`` newest first (``watch.alerts_json``); returns the JSON-lines and Atom paths."""
    home = settings.ensure_home()
    lines, atom = home / "alerts.jsonl", home / "alerts.atom"
    atomic_write(lines, "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in reversed(alerts)))
    atomic_write(atom, atom_feed(alerts[:FEED_LIMIT], updated))
    return lines, atom


def atom_feed(alerts: list[dict[str, Any]], updated: str) -> str:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = "dualuse alerts"
    ET.SubElement(feed, f"{{{ATOM}}}id").text = "urn:dualuse:alerts"
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "dualuse"
    for a in alerts:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:dualuse:alert:{a['watch']}:{a['claim_id']}"
        title = a["title"] or a["source"]
        ET.SubElement(entry, f"{{{ATOM}}}title").text = f"[{a['watch']}] {title}"
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = a["matched_at"]
        if a.get("url") and urlsplit(a["url"]).scheme in ("http", "https"):
            ET.SubElement(entry, f"{{{ATOM}}}link", href=a["url"])
        summary = ET.SubElement(entry, f"{{{ATOM}}}summary", type="text")
        summary.text = f"{a['text']} ({a.get('published') or 'undated'}; claim {a['claim_id']})"
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"


def post_webhook(url: str, alerts: list[dict[str, Any]], settings: Settings) -> str | None:
    """POST ``{"alerts": [...]}`` as JSON through ``Fetcher.post``: the address actually connected to
    is the one checked (no private networks unless allowed), as for any fetch. Returns a problem
    line, or None when delivered."""
    from pipeline.errors import FetchError
    from pipeline.fetch import Fetcher

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"webhook {url}: not an http(s) URL"
    body = json.dumps({"alerts": alerts}, ensure_ascii=False).encode("utf-8")
    try:
        status = Fetcher(settings).post(url, body, "application/json")
    except FetchError as exc:
        return f"webhook {url}: {exc.detail}"
    return None if 200 <= status < 300 else f"webhook {url}: HTTP {status}"


def raise_alerts(pipe: Pipeline, now: str) -> tuple[int, list[str]]:
    """Match the claims stored since the last scan against the watches, record the alerts, rewrite
    the feeds and post the new alerts to the webhook. Returns (new alerts, webhook problems)."""
    from pipeline.watch import alerts_json, load_watches, scan

    settings = pipe.settings
    watches = load_watches(settings.watches_path)
    fresh = scan(pipe.store, watches, pipe.embedder.embed_query, settings.watch_threshold,
                 kb=pipe.tagger.kb if watches else None)
    # always rewritten (atomic, cheap): a run killed after the scan committed but before the
    # files were written leaves alerts the next scan will not find fresh again
    recorded = alerts_json(pipe.store)
    write_feeds(settings, recorded, now)
    problems: list[str] = []
    if fresh and settings.alert_webhook:
        keys = {(a.watch, a.claim_id) for a in fresh}
        new = [a for a in recorded if (a["watch"], a["claim_id"]) in keys]
        problem = post_webhook(settings.alert_webhook, new, settings)
        if problem:
            problems.append(problem)
    return len(fresh), problems
