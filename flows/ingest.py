"""The ``ingest`` flow: one task per stage over ``pipeline.ingest.Pipeline``'s steps.

Remove the decorators and this is ``pipeline.ingest.ingest``: fetch (retried on network errors
only), process (extract, tag, claims), save (embed, store, index). A failing source becomes a
recorded outcome; the flow itself completes.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.errors import FetchError, SourceError
from pipeline.fetch import expand_sources, now_iso
from pipeline.ingest import Pipeline, outcome
from pipeline.records import Fetched, IngestReport, Processed, SkipReason, SourceResult
from pipeline.settings import Settings


def _retryable(_task: Any, _run: Any, state: Any) -> bool:
    """Retry network failures (connection errors, timeouts, 429, 5xx) and nothing else."""
    exc = state.data if isinstance(state.data, BaseException) else state.result(raise_on_failure=False)
    return isinstance(exc, FetchError) and exc.retryable


@task(name="fetch", cache_policy=NO_CACHE, retry_condition_fn=_retryable, persist_result=False)
def fetch_task(pipe: Pipeline, source: str) -> Fetched:
    return pipe.fetch(source)


@task(name="process", cache_policy=NO_CACHE, persist_result=False)
def process_task(pipe: Pipeline, raw: Fetched) -> Processed | SourceResult:
    return pipe.process(raw)


@task(name="save", cache_policy=NO_CACHE, persist_result=False)
def save_task(pipe: Pipeline, processed: Processed) -> SourceResult:
    return pipe.save(processed)


@flow(name="ingest", log_prints=False, persist_result=False, validate_parameters=False)
def ingest_flow(sources: list[str], home: str | None = None, allow_private: bool | None = None,
                pipeline: Any = None) -> dict[str, Any]:
    """Ingest ``sources`` (paths, directories, URLs) into the store at ``home``.

    ``pipeline`` lets an in-process caller (the CLI, tests) pass already-loaded models; it is not a
    deployment parameter."""
    settings = pipeline.settings if pipeline is not None else Settings.load(home=home, allow_private=allow_private)
    pipe: Pipeline = pipeline or Pipeline(settings)
    fetch = fetch_task.with_options(retries=settings.fetch_retries, retry_delay_seconds=[1, 4, 10])
    report = IngestReport()
    started = now_iso()
    try:
        for source in expand_sources(sources):
            result = _one(pipe, fetch, source)
            report.add(result)
            if pipe.on_result is not None:
                pipe.on_result(result)
        pipe.record(report, started)
    finally:
        if pipeline is None:
            pipe.close()
    return report.to_json()


def _one(pipe: Pipeline, fetch: Any, source: str) -> SourceResult:
    try:
        raw = fetch(pipe, source)
        processed = process_task(pipe, raw)
        if isinstance(processed, SourceResult):
            return processed
        result: SourceResult = save_task(pipe, processed)
        return result
    except SourceError as exc:
        return outcome(source, exc)
    except Exception as exc:  # noqa: BLE001 - one source's bug must not stop the batch
        return SourceResult(source=source, status="failed", reason=SkipReason.FAILED.value,
                            detail=f"internal error: {type(exc).__name__}: {exc}")
