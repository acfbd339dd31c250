"""The error hierarchy: one-line messages, hints, exit codes, typed source reasons."""

from __future__ import annotations

from pipeline.errors import (
    ConfigError,
    DualuseError,
    EmptyStoreError,
    FetchError,
    SourceError,
    StoreError,
    UsageError,
)
from pipeline.ingest import outcome
from pipeline.records import IngestReport, SkipReason, SourceResult


def test_one_line_with_and_without_hint() -> None:
    assert DualuseError("bad thing").one_line() == "bad thing"
    assert DualuseError("bad thing", hint="do this").one_line() == "bad thing (do this)"


def test_exit_codes() -> None:
    assert UsageError("x").exit_code == 2
    for cls in (ConfigError, StoreError, EmptyStoreError):
        assert cls("x").exit_code == 1
        assert issubclass(cls, DualuseError)


def test_source_and_fetch_errors_carry_reason() -> None:
    err = FetchError("http://x/", SkipReason.UNREACHABLE, "timed out", retryable=True)
    assert isinstance(err, SourceError)
    assert (err.source, err.reason, err.detail, err.retryable) == ("http://x/", "unreachable", "timed out", True)
    assert err.message == "http://x/: timed out"


def test_outcome_skipped_versus_failed() -> None:
    skipped = outcome("a.md", SourceError("a.md", SkipReason.EMPTY, "no article text found", hint="check it"))
    assert (skipped.status, skipped.reason, skipped.detail) == ("skipped", "empty", "no article text found (check it)")
    for reason in (SkipReason.BOILERPLATE, SkipReason.NO_TEXT_PDF, SkipReason.NOT_ENGLISH, SkipReason.UNSUPPORTED):
        assert outcome("s", SourceError("s", reason, "d")).status == "skipped"
    for reason in (SkipReason.MISSING, SkipReason.UNREADABLE, SkipReason.BINARY, SkipReason.TOO_LARGE,
                   SkipReason.BLOCKED, SkipReason.UNREACHABLE, SkipReason.HTTP_ERROR, SkipReason.BAD_URL,
                   SkipReason.TOO_MANY_REDIRECTS):
        assert outcome("s", SourceError("s", reason, "d")).status == "failed", reason


def test_report_ok_and_json() -> None:
    report = IngestReport()
    report.add(SourceResult("a", "added", doc_id="d1", claims=3))
    report.add(SourceResult("b", "skipped", reason="empty", detail="no text"))
    assert report.ok
    report.add(SourceResult("c", "failed", reason="missing", detail="nope"))
    assert not report.ok
    assert report.to_json() == {
        "added": 1, "updated": 0, "unchanged": 0, "skipped": 1, "failed": 1,
        "sources": [
            {"source": "a", "status": "added", "doc_id": "d1", "claims": 3},
            {"source": "b", "status": "skipped", "reason": "empty", "detail": "no text", "claims": 0},
            {"source": "c", "status": "failed", "reason": "missing", "detail": "nope", "claims": 0},
        ],
    }
