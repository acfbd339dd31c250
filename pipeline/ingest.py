"""Ingest: the stages in order for each source, with per-source outcomes.

``Pipeline`` holds the components for one data home (lazily loaded models, the store, the vector
index). Its step methods are what the Prefect flow's tasks call; ``ingest`` runs the same steps in a
plain loop, so the library works without Prefect. A failing source is recorded with its typed
reason and the batch goes on.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.claims import cut_claims, embedding_text
from pipeline.clock import Clock
from pipeline.embed import Embedder
from pipeline.errors import FetchError, SourceError
from pipeline.extract import extract
from pipeline.fetch import Fetcher, expand_sources, load, now_iso
from pipeline.index import VectorIndex, sync
from pipeline.records import Fetched, IngestReport, Processed, SkipReason, SourceResult
from pipeline.settings import Settings
from pipeline.stance import StanceReader
from pipeline.store import Store
from pipeline.tag import Tagger
from pipeline.writer import writing

log = logging.getLogger("dualuse.ingest")

SKIP_REASONS = {SkipReason.EMPTY, SkipReason.BOILERPLATE, SkipReason.NO_TEXT_PDF, SkipReason.NOT_ENGLISH,
                SkipReason.UNSUPPORTED, SkipReason.ROBOTS_DISALLOWED}
"""Inputs that were read fine but hold no English article, or that robots.txt asks us not to fetch:
'skipped'. Every other reason is a failure to read the input: 'failed' (and a non-zero exit)."""

Progress = Callable[[SourceResult], None]


@dataclass(frozen=True)
class Steps:
    """Replacements for a Pipeline's steps (the Prefect flow passes its tasks); None = default."""

    fetch: Callable[[str], Fetched] | None = None
    process: Callable[[Fetched], Processed | SourceResult] | None = None
    save: Callable[[Processed], SourceResult] | None = None


def outcome(source: str, error: SourceError) -> SourceResult:
    reason = SkipReason(error.reason)
    status = "skipped" if reason in SKIP_REASONS else "failed"
    detail = error.detail + (f" ({error.hint})" if error.hint else "")
    return SourceResult(source=source, status=status, reason=reason.value, detail=detail)


class Pipeline:
    """The loaded components for one data home; close() when done."""

    def __init__(self, settings: Settings, *, tagger: Tagger | None = None,
                 embedder: Embedder | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock()  # retry back-offs wait on it
        self.stance = StanceReader(settings)
        self.tagger = tagger or Tagger(settings)
        self.embedder = embedder or Embedder(settings)
        self.fetcher = Fetcher(settings)
        self._store: Store | None = None
        self._index: VectorIndex | None = None
        self.on_result: Progress | None = None  # called after each source (CLI progress lines)

    @property
    def store(self) -> Store:
        if self._store is None:
            self.settings.ensure_home()
            self._store = Store(self.settings.db_path)
        return self._store

    @property
    def index(self) -> VectorIndex:
        if self._index is None:
            self._index = VectorIndex(self.settings.chroma_path)
        return self._index

    @property
    def version(self) -> str:
        """What produced a stored document's tags, claims and vectors. A document stored under
        another version is processed again even when its text is unchanged."""
        return (f"{self.tagger.version}+claims-ctx{self.settings.context_sentences}-stance-{self.stance.version}"
                f"+emb-{self.embedder.name}-context")

    def warm_up(self) -> None:
        self.tagger.warm_up()
        self.embedder.warm_up()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- steps (each is one Prefect task in flows/ingest.py) --------------------------------

    def fetch(self, source: str) -> Fetched:
        return load(source, self.settings, self.fetcher)

    def process(self, raw: Fetched) -> Processed | SourceResult:
        """Extract, check for change, tag and cut claims. Returns a ``SourceResult`` instead when
        the stored copy is current (unchanged)."""
        document = extract(raw)
        if document.lang not in ("en", "und"):
            raise SourceError(raw.source, SkipReason.NOT_ENGLISH,
                              f"text is in '{document.lang}', not English",
                              hint="the tagger and embedding model are English-only")
        state = self.store.document_state(document.doc_id)
        if state == (document.content_sha256, self.version):
            self.store.put_snapshot(self.settings.snapshots_path, raw, document.doc_id)
            self.store.touch(document.doc_id, raw.sha256, now_iso())
            return SourceResult(source=raw.source, status="unchanged", doc_id=document.doc_id)
        tagged = self.tagger.tag(document.text)
        claims = cut_claims(document, tagged, self.settings.context_sentences, self.stance.classify)
        return Processed(document=document, mentions=tagged.mentions, claims=claims, raw=raw)

    def save(self, processed: Processed) -> SourceResult:
        """Embed claims, write the document in one transaction, keep the snapshot, sync the index."""
        doc = processed.document
        vectors = self.embedder.embed([embedding_text(doc, c) for c in processed.claims])
        status = self.store.save(processed, vectors, self.version, now_iso())
        if processed.raw is not None:
            self.store.put_snapshot(self.settings.snapshots_path, processed.raw, doc.doc_id)
        sync(self.store, self.index)
        return SourceResult(source=doc.source, status=status, doc_id=doc.doc_id, claims=len(processed.claims))

    def repair_index(self) -> None:
        """Index what an earlier run stored but did not get to index (it was killed between the
        store commit and the index write): such documents come back 'unchanged' and are not saved
        again, so their claims would otherwise stay out of dense search."""
        if self.store.needs_sync():
            sync(self.store, self.index)

    def refresh_keyword_index(self) -> None:
        """Rebuild the keyword index (``pipeline/keyword.py``) when claims changed since it was
        built. Called once at the end of a batch, not per document. A failure is logged, not raised:
        search ranks keywords with FTS5 until the next write or ``dualuse reindex``."""
        if not self.settings.keyword_index:
            return
        from pipeline import keyword

        try:
            keyword.refresh(self.store, self.settings.keyword_path)
        except (OSError, sqlite3.Error, keyword.KeywordIndexError) as exc:
            log.warning("keyword index not rebuilt (%s: %s); keyword search uses FTS5 until the next ingest "
                        "or 'dualuse reindex'", type(exc).__name__, exc)

    def ingest_one(self, source: str, steps: Steps | None = None) -> SourceResult:
        """All steps for one source; never raises for a bad source. The flow passes its Prefect
        tasks as ``steps``; by default they are this object's methods (fetch with retries)."""
        fetch = steps.fetch if steps and steps.fetch else self._fetch_with_retries
        process = steps.process if steps and steps.process else self.process
        save = steps.save if steps and steps.save else self.save
        try:
            raw = fetch(source)
            processed = process(raw)
            if isinstance(processed, SourceResult):
                return processed
            return save(processed)
        except SourceError as exc:
            return outcome(source, exc)
        except Exception as exc:
            log.exception("unexpected error on %s", source)
            return SourceResult(source=source, status="failed", reason=SkipReason.FAILED.value,
                                detail=f"internal error: {type(exc).__name__}: {exc}")

    def _fetch_with_retries(self, source: str) -> Fetched:
        for attempt in range(self.settings.fetch_retries + 1):
            try:
                return self.fetch(source)
            except FetchError as exc:
                if not exc.retryable or attempt == self.settings.fetch_retries:
                    raise
                self.clock.sleep(min(2.0 ** attempt, 10.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def record(self, report: IngestReport, started_at: str) -> str:
        run_id = uuid.uuid4().hex[:12]
        self.store.record_run(run_id, started_at, now_iso(), report.to_json())
        return run_id


def ingest(sources: Iterable[str], settings: Settings, *, pipeline: Pipeline | None = None,
           progress: Progress | None = None, steps: Steps | None = None) -> IngestReport:
    """Ingest every source, recording the run. Without ``steps`` this runs in-process without
    Prefect; the flow in ``flows/ingest.py`` calls it with its tasks as the steps."""
    own = pipeline is None
    pipe = pipeline or Pipeline(settings)
    report = IngestReport()
    started = now_iso()
    try:
        with writing(settings, "dualuse ingest"):
            for source in expand_sources(sources):
                result = pipe.ingest_one(source, steps)
                report.add(result)
                for callback in (progress, pipe.on_result):
                    if callback:
                        callback(result)
            pipe.repair_index()
            pipe.refresh_keyword_index()
            pipe.record(report, started)
            if settings.watches_path.exists():  # watches see ingested claims as they see crawled ones
                from pipeline.alerts_feed import raise_alerts

                for problem in raise_alerts(pipe, now_iso())[1]:
                    log.warning("alert webhook: %s", problem)
    finally:
        if own:
            pipe.close()
    return report


def describe(report: dict[str, Any]) -> list[str]:
    """Summary lines of a run report (``IngestReport.to_json()``, also what the flow returns):
    the counts, then one line per skipped or failed source with its reason."""
    keys = ("added", "updated", "unchanged", "skipped", "failed")
    lines = ["documents: " + ", ".join(f"{report[k]} {k}" for k in keys)]
    for r in report["sources"]:
        if r["status"] in ("skipped", "failed"):
            lines.append(f"  {r['status']} [{r.get('reason')}] {r['source']}: {r.get('detail')}")
    return lines
