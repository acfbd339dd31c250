"""The source registry: the feeds, sitemaps and pages dualuse watches, in a YAML file.

Each source has a unique name, an http(s) URL, a kind (rss, atom, sitemap, page), a cron schedule,
tags, and optional include/exclude patterns matched against item URLs (regular expressions, searched
anywhere in the URL). The file is edited by people as well as by ``dualuse sources add|remove``, so
it is read and written with ruamel.yaml, which keeps their comments and order, and written
atomically. Cron expressions are checked with cronsim (Prefect's own cron library).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import yaml_file
from pipeline.errors import ConfigError, UsageError

KINDS = ("rss", "atom", "sitemap", "page")
DEFAULT_CRON = "0 */6 * * *"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
HEADER = """\
# dualuse source registry: what `dualuse crawl` and `dualuse schedule serve` watch.
# Fields: name (unique, lowercase), url, kind (rss | atom | sitemap | page), cron (when to crawl,
# standard 5-field cron, UTC), tags, include / exclude (regular expressions matched against item URLs).
# Edit by hand or with `dualuse sources add|remove`; comments are kept.
"""


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    kind: str = "rss"
    cron: str = DEFAULT_CRON
    tags: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    _patterns: tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]] = field(
        default=((), ()), repr=False, compare=False)

    def validated(self) -> Source:
        where = f"source '{self.name}'"
        if not NAME_RE.match(self.name):
            raise UsageError(f"{where}: a name is lowercase letters, digits, '.', '_' or '-' (at most 63)",
                             hint="e.g. hrw-china")
        if not re.match(r"^https?://[^/\s]+", self.url):
            raise UsageError(f"{where}: URL '{self.url}' is not http(s)", hint="give the feed's full https:// URL")
        if self.kind not in KINDS:
            raise UsageError(f"{where}: unknown kind '{self.kind}'", hint="valid: " + ", ".join(KINDS))
        check_cron(self.cron, where)
        patterns = []
        for label, values in (("include", self.include), ("exclude", self.exclude)):
            compiled = []
            for value in values:
                try:
                    compiled.append(re.compile(value))
                except re.error as exc:
                    raise UsageError(f"{where}: {label} pattern '{value}' is not a regular expression ({exc})") \
                        from None
            patterns.append(tuple(compiled))
        return Source(self.name, self.url, self.kind, self.cron, self.tags, self.include, self.exclude,
                      (patterns[0], patterns[1]))

    def wants(self, url: str) -> bool:
        """Whether an item URL passes the include/exclude patterns."""
        include, exclude = self._patterns or ((), ())
        if include and not any(p.search(url) for p in include):
            return False
        return not any(p.search(url) for p in exclude)

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "url": self.url, "kind": self.kind, "cron": self.cron}
        for key in ("tags", "include", "exclude"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "kind": self.kind, "cron": self.cron, "tags": list(self.tags),
                "include": list(self.include), "exclude": list(self.exclude)}


def check_cron(expr: str, where: str = "cron") -> None:
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expr, datetime.now(UTC))
    except CronSimError as exc:
        raise UsageError(f"{where}: '{expr}' is not a cron expression ({exc})",
                         hint='five fields: minute hour day month weekday, e.g. "0 */6 * * *"') from None


def guess_kind(url: str) -> str:
    low = url.lower()
    if "sitemap" in low:
        return "sitemap"
    if "atom" in low:
        return "atom"
    if any(w in low for w in ("rss", "feed", ".xml")):
        return "rss"
    return "page"


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def load_sources(path: Path) -> list[Source]:
    """Every source in the registry, validated; a bad entry is a ConfigError naming it."""
    out: list[Source] = []
    seen: set[str] = set()
    for i, raw in enumerate(yaml_file.entries(path, "sources"), 1):
        if not isinstance(raw, dict) or "name" not in raw or "url" not in raw:
            raise ConfigError(f"{path}: entry {i} needs at least 'name' and 'url'")
        try:
            src = Source(str(raw["name"]), str(raw["url"]), str(raw.get("kind") or guess_kind(str(raw["url"]))),
                         str(raw.get("cron") or DEFAULT_CRON), _as_tuple(raw.get("tags")),
                         _as_tuple(raw.get("include")), _as_tuple(raw.get("exclude"))).validated()
        except UsageError as exc:
            raise ConfigError(f"{path}: {exc.message}", hint=exc.hint) from None
        if src.name in seen:
            raise ConfigError(f"{path}: source name '{src.name}' appears twice", hint="names must be unique")
        seen.add(src.name)
        out.append(src)
    return out


def find_source(sources: Iterable[Source], name: str) -> Source:
    sources = list(sources)
    for s in sources:
        if s.name == name:
            return s
    names = ", ".join(s.name for s in sources) or "none yet"
    raise UsageError(f"no source named '{name}'", hint=f"known sources: {names}")


def add_source(path: Path, source: Source) -> Source:
    source = source.validated()
    yaml_file.add_named_entry(path, "sources", source.to_yaml(), HEADER, lambda: (s.name for s in load_sources(path)),
                              "source", "pick another name, or remove it first with 'dualuse sources remove'")
    return source


def remove_source(path: Path, name: str) -> Source:
    with yaml_file.editing(path):
        source = find_source(load_sources(path), name)
        yaml_file.remove_entry(path, "sources", name, HEADER)
    return source
