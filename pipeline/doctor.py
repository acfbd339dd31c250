"""``dualuse doctor``: check, offline, that everything the pipeline needs loads and works."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.settings import Settings

Check = tuple[str, bool, str]


def _timed(name: str, fn: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure as one line
        return name, False, f"{type(exc).__name__}: {exc}"
    return name, True, f"{detail} ({time.perf_counter() - started:.1f}s)"


def run_checks(settings: Settings) -> Iterator[Check]:
    from pipeline.embed import Embedder
    from pipeline.tag import Tagger

    def data_dir() -> str:
        return str(settings.ensure_home())

    def spacy_model() -> str:
        tagger = Tagger(settings)
        result = tagger.tag("Thermo Fisher sold sequencers to police in Xinjiang.")
        return f"{tagger.package}, {len(result.mentions)} mentions in a test sentence"

    def embeddings() -> str:
        vec = Embedder(settings).embed_query("DNA sequencers")
        return f"all-MiniLM-L6-v2 from installed package, {vec.shape[0]} dimensions"

    def store() -> str:
        from pipeline.store import Store

        s = Store(settings.db_path)
        try:
            return f"{settings.db_path}: " + ", ".join(f"{v} {k}" for k, v in s.stats().items())
        finally:
            s.close()

    def vector_index() -> str:
        from pipeline.index import VectorIndex

        return f"{settings.chroma_path}: {VectorIndex(settings.chroma_path).count()} vectors"

    def prefect() -> str:
        from flows.prefect_env import configure_prefect

        configure_prefect(settings)
        from prefect import flow

        @flow(name="dualuse-doctor", persist_result=False)
        def ping() -> str:
            return "pong"

        assert ping() == "pong"
        return "ephemeral flow run completed"

    def private_block() -> str:
        from pipeline.errors import FetchError
        from pipeline.fetch import Fetcher

        strict = Settings.load(home=Path(tempfile.gettempdir()), allow_private=False)
        try:
            Fetcher(strict).resolve("check", "127.0.0.1", 80)
        except FetchError:
            return "loopback/private URLs refused by default"
        raise AssertionError("loopback address was not refused")

    for name, fn in (("data directory", data_dir), ("spaCy model", spacy_model), ("embedding model", embeddings),
                     ("store", store), ("vector index", vector_index), ("SSRF protection", private_block),
                     ("Prefect", prefect)):
        yield _timed(name, fn)
