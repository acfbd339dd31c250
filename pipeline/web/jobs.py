"""Add coverage from the browser or the API: ingest jobs run one at a time in a worker thread.

A job is a list of http(s) URLs and uploaded files. Uploads are kept under ``<home>/uploads/<first
16 hex of their SHA-256>/<cleaned file name>``, so the same bytes uploaded twice, under any name, are
the same source (ingest is an idempotent upsert) and the stored copy is what the evidence cites. Local paths are
never taken from a request: a web user must not make the server read its own files.

The worker holds the data home's write lock (``pipeline.writer``) for the whole job, so a crawl or
a CLI ingest in another process and a job here never write at once; while it waits the job says
who it waits for. Its models are its own (``make_pipeline``), not the ones that answer searches, so
a long job and searches never share a spaCy pipeline between threads. Jobs live in memory (the last
``KEEP`` are kept); what they stored is in the store, and each run is recorded there as a CLI run is.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import DualuseError, UsageError
from pipeline.fetch import SUPPORTED_EXT, now_iso, supported_name
from pipeline.records import IngestReport, SourceResult
from pipeline.settings import Settings
from pipeline.urls import try_normalize_url

if TYPE_CHECKING:
    from pipeline.ingest import Pipeline

log = logging.getLogger("dualuse.web.jobs")

KEEP = 50
MAX_URLS = 200
MAX_FILES = 20
MAX_FILE_BYTES = 20_000_000
MAX_UPLOAD_BYTES = 60_000_000
"""Limits on one add-coverage request: URLs, files, bytes per file and for the whole request."""
STATES = ("queued", "waiting", "running", "done", "failed")


@dataclass
class Job:
    """One add-coverage request and its progress (mutated by the worker thread only)."""

    id: str
    sources: list[str]
    labels: dict[str, str]  # source -> what the user gave (URL, or the uploaded file's name)
    created: str
    state: str = "queued"
    waiting_for: str | None = None
    error: str | None = None
    finished: str | None = None
    results: list[SourceResult] = field(default_factory=list)

    @property
    def finished_flag(self) -> bool:
        return self.state in ("done", "failed")

    def report(self) -> dict[str, Any]:
        """The sources handled so far, as ``dualuse ingest --json`` reports them."""
        report = IngestReport()
        for r in list(self.results):
            report.add(r)
        return report.to_json()

    def to_json(self) -> dict[str, Any]:
        return {"job": self.id, "state": self.state, "created": self.created, "finished": self.finished,
                "total": len(self.sources), "done": len(self.results), "waiting_for": self.waiting_for,
                "error": self.error, "labels": dict(self.labels), "report": self.report()}


def clean_filename(name: str) -> str:
    """A safe single path component from an uploaded file's name (no directories, no dot files)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")
    return base[:120] or "upload"


def check_urls(text: str) -> list[str]:
    """http(s) URLs from a pasted list, one per line (blank lines and # comments ignored)."""
    urls: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        normal = try_normalize_url(line) if line.lower().startswith(("http://", "https://")) else None
        if normal is None:
            raise UsageError(f"line {number}: '{line[:80]}' is not an http(s) URL",
                             hint="paste one http:// or https:// address per line; upload files instead of paths")
        urls.append(normal)
    if len(urls) > MAX_URLS:
        raise UsageError(f"{len(urls)} URLs in one request, over the limit of {MAX_URLS}", hint="split the list")
    return list(dict.fromkeys(urls))


def save_upload(settings: Settings, filename: str, data: bytes) -> Path:
    """Keep an uploaded file under the data home; returns its path (the source to ingest)."""
    name = clean_filename(filename)
    if not supported_name(name):
        raise UsageError(f"'{name}' is not a supported file type",
                         hint="upload " + ", ".join(sorted(SUPPORTED_EXT)) + ", each also as .gz")
    if not data:
        raise UsageError(f"'{name}' is empty", hint="upload a file with an article in it")
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"'{name}' is {len(data):,} bytes, over the {MAX_FILE_BYTES:,}-byte limit")
    folder = settings.home / "uploads" / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    kept = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if kept:  # the same bytes under another name: the source already stored, not a second document
        return kept[0]
    path = folder / name
    from pipeline.files import atomic_write

    atomic_write(path, data)
    return path


class Jobs:
    """The job queue and its worker thread (started on the first job)."""

    def __init__(self, settings: Settings, make_pipeline: Callable[[], Pipeline]) -> None:
        self.settings = settings
        self.make_pipeline = make_pipeline
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pipeline: Pipeline | None = None

    def submit(self, sources: list[str], labels: dict[str, str]) -> Job:
        if not sources:
            raise UsageError("nothing to ingest", hint="paste http(s) URLs, one per line, or choose files to upload")
        job = Job(uuid.uuid4().hex[:12], list(dict.fromkeys(sources)), labels, now_iso())
        with self._lock:
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-KEEP]:
                if self._jobs[old].finished_flag:
                    del self._jobs[old]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="dualuse-ingest-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def recent(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)
        if self._pipeline is not None:
            self._pipeline.close()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._run(job)
            except DualuseError as exc:
                job.state, job.error = "failed", exc.one_line()
            except Exception as exc:  # a bug must not kill the worker: the job says so, the next runs
                log.exception("ingest job %s", job.id)
                job.state, job.error = "failed", f"internal error: {type(exc).__name__}"
            job.finished = now_iso()

    def _run(self, job: Job) -> None:
        from pipeline.ingest import ingest
        from pipeline.writer import writing

        def waiting(who: str) -> None:
            job.state, job.waiting_for = "waiting", who

        if self._pipeline is None:
            self._pipeline = self.make_pipeline()
        with writing(self.settings, f"dualuse serve (add coverage, job {job.id})", on_wait=waiting):
            job.state, job.waiting_for = "running", None
            ingest(job.sources, self.settings, pipeline=self._pipeline, progress=job.results.append)
        job.state = "done"
