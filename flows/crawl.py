"""The ``crawl`` flow: discover what is new in one source (or all), then ingest it with the
``ingest`` flow's own tasks (process: extract, tag, claims; save: embed, store, index) and raise
alerts. Remove the decorators and this is ``pipeline.crawl.Crawler.run``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.ingest import process_task, save_task
from pipeline.crawl import Crawler, polite_getter
from pipeline.ingest import Pipeline, Steps
from pipeline.settings import Settings
from pipeline.sources import find_source, load_sources


@flow(name="crawl", log_prints=False, persist_result=False, validate_parameters=False)
def crawl_flow(source: str | None = None, home: str | None = None, allow_private: bool | None = None,
               pipeline: Any = None) -> dict[str, Any]:
    """Crawl ``source`` (a registry name) or every registered source into the store at ``home``.

    ``pipeline`` lets an in-process caller pass already-loaded models; not a deployment parameter."""
    settings = pipeline.settings if pipeline is not None else Settings.load(home=home, allow_private=allow_private)
    registry = load_sources(settings.sources_path)
    selected = [find_source(registry, source)] if source else registry
    pipe: Pipeline = pipeline or Pipeline(settings)
    steps = Steps(process=lambda raw: process_task(pipe, raw), save=lambda processed: save_task(pipe, processed))
    try:
        return Crawler(pipe, polite_getter(settings)).run(selected, steps=steps).to_json()
    finally:
        if pipeline is None:
            pipe.close()
