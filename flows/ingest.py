"""The ``ingest`` flow: one task per stage over ``pipeline.ingest.Pipeline``'s steps.

Remove the decorators and this is ``pipeline.ingest.ingest``: fetch (retried on network errors
only), process (extract, tag, claims), save (embed, store, index). A failing source becomes a
recorded outcome; the flow itself completes.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.errors import FetchError
from pipeline.ingest import Pipeline, Steps, ingest
from pipeline.records import Fetched, Processed, SourceResult
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
    steps = Steps(
        fetch=lambda source: fetch(pipe, source),
        process=lambda raw: process_task(pipe, raw),
        save=lambda processed: save_task(pipe, processed),
    )
    try:
        return ingest(sources, settings, pipeline=pipe, steps=steps).to_json()
    finally:
        if pipeline is None:
            pipe.close()
