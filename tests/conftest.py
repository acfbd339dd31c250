"""Session-wide fixtures: settings factory, the real models loaded once, a shared ingested store.

Heavy components (spaCy pipeline, sentence-transformers model) load once per session; every test
that ingests builds a ``Pipeline`` on its own data home with these shared models.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.settings import PROJECT_ROOT, Settings, apply_offline_env

apply_offline_env()
# Settings read DUALUSE_* variables; a developer's own (e.g. DUALUSE_ALLOW_PRIVATE=1) must not leak
# into tests that check the defaults.
for _key in [k for k in os.environ if k.startswith("DUALUSE_") and k != "DUALUSE_SHARED"]:
    del os.environ[_key]

DEMO_DIR = PROJECT_ROOT / "corpus" / "demo"
VENV_PYTHON = Path(sys.executable)

SettingsFactory = Callable[..., Settings]


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory: pytest.TempPathFactory) -> SettingsFactory:
    """``settings_factory(allow_private=..., **overrides)``: Settings on a fresh data home."""

    def make(*, allow_private: bool = False, **overrides: Any) -> Settings:
        home = overrides.pop("home", None) or tmp_path_factory.mktemp("home")
        return Settings.load(home=home, allow_private=allow_private, **overrides)

    return make


@pytest.fixture
def settings(settings_factory: SettingsFactory) -> Settings:
    """Default settings (private addresses refused) on a fresh home."""
    return settings_factory()


@pytest.fixture(scope="session")
def shared_tagger(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pipeline.tag import Tagger

    tagger = Tagger(Settings.load(home=tmp_path_factory.mktemp("tagger-home")))
    tagger.warm_up()
    return tagger


@pytest.fixture(scope="session")
def shared_embedder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pipeline.embed import Embedder

    embedder = Embedder(Settings.load(home=tmp_path_factory.mktemp("embedder-home")))
    embedder.warm_up()
    return embedder


@pytest.fixture
def make_pipeline(settings_factory: SettingsFactory, shared_tagger: Any,
                  shared_embedder: Any) -> Iterator[Callable[..., Any]]:
    """``make_pipeline(settings=None, **settings_overrides)``: a Pipeline with the shared models."""
    from pipeline.ingest import Pipeline

    made: list[Pipeline] = []

    def make(settings: Settings | None = None, **overrides: Any) -> Pipeline:
        pipe = Pipeline(settings or settings_factory(**overrides), tagger=shared_tagger, embedder=shared_embedder)
        made.append(pipe)
        return pipe

    yield make
    for pipe in made:
        pipe.close()


@dataclass
class DemoStore:
    settings: Settings
    pipe: Any  # pipeline.ingest.Pipeline
    report: Any  # pipeline.records.IngestReport
    with_devset: bool


def devset_docs() -> Path | None:
    from pipeline.evaluation.devset import shared_dir

    shared = shared_dir()
    return shared / "devset" / "docs" if shared is not None else None


def require_devset() -> Path:
    docs = devset_docs()
    if docs is None or not docs.is_dir():
        pytest.skip(f"shared dev set not found at ../shared: looked beside {PROJECT_ROOT} (or set DUALUSE_SHARED)")
    return docs


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory, shared_tagger: Any, shared_embedder: Any) -> Iterator[Any]:
    """The demo corpus (plus the dev-set documents when ../shared is present), ingested once.

    Read-only for tests: search and CLI tests query it; nothing writes to it after this."""
    from pipeline.ingest import Pipeline, ingest

    settings = Settings.load(home=tmp_path_factory.mktemp("demo-home"))
    pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
    sources = sorted(str(p) for p in DEMO_DIR.glob("*.md"))
    docs = devset_docs()
    if docs is not None:
        sources.append(str(docs))
    report = ingest(sources, settings, pipeline=pipe)
    assert report.ok, report.to_json()
    yield DemoStore(settings=settings, pipe=pipe, report=report, with_devset=docs is not None)
    pipe.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (``executable_path``: nothing is downloaded). Per
    module, not per session: Playwright's sync API keeps an event loop running while it is open,
    and Prefect's sync calls (``State.result()``) then return coroutines in later tests."""
    from tests.helpers import CHROMIUM

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it as root: apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()
