"""Vector index (chromadb on disk): sync, rebuild, recovery of a deleted index directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.index import VectorIndex, rebuild
from pipeline.ingest import ingest
from pipeline.settings import PROJECT_ROOT
from tests.helpers import article_text


@pytest.fixture
def ingested(make_pipeline, tmp_path: Path):
    pipe = make_pipeline()
    (tmp_path / "a.txt").write_text(article_text("Promega sold DNA kits to police in Xinjiang last spring."))
    (tmp_path / "b.txt").write_text(article_text("Thermo Fisher Scientific stopped its sales in the region."))
    report = ingest([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], pipe.settings, pipeline=pipe)
    assert report.summary()["added"] == 2
    return pipe


def test_index_matches_store_after_ingest(ingested) -> None:
    n = ingested.store.claim_count()
    assert n == 14
    assert ingested.index.count() == n
    pending = list(ingested.store.pending())
    assert pending == []  # every claim is marked indexed


def test_query_returns_cosine_similarities(ingested) -> None:
    vector = ingested.embedder.embed_query("Promega sold DNA kits to police in Xinjiang last spring.")
    hits = ingested.index.query(vector, 3)
    assert len(hits) == 3
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    top_text = ingested.store.claim_rows([hits[0][0]])[hits[0][0]].text
    assert top_text == "Promega sold DNA kits to police in Xinjiang last spring."
    assert -1.0 <= scores[-1] <= scores[0] <= 1.0 + 1e-6
    assert ingested.index.query(vector, 0) == []


def test_rebuild_in_process(ingested) -> None:
    n = ingested.store.claim_count()
    assert rebuild(ingested.store, ingested.index) == n
    assert ingested.index.count() == n


def test_reindex_restores_deleted_index_directory(ingested) -> None:
    settings = ingested.settings
    n = ingested.store.claim_count()
    ingested.close()
    shutil.rmtree(settings.chroma_path)
    # A fresh process, like `dualuse reindex`: chromadb keeps a per-path client cache in-process.
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from pipeline.store import Store; "
         "from pipeline.index import VectorIndex, rebuild; "
         "s = Store(Path(sys.argv[1])); i = VectorIndex(Path(sys.argv[2])); "
         "print(rebuild(s, i), i.count())",
         str(settings.db_path), str(settings.chroma_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == [str(n), str(n)]
    assert settings.chroma_path.is_dir()


def test_rebuild_in_process_after_index_directory_deleted(ingested) -> None:
    n = ingested.store.claim_count()
    shutil.rmtree(ingested.settings.chroma_path)
    index = VectorIndex(ingested.settings.chroma_path)
    assert rebuild(ingested.store, index) == n
    assert index.count() == n
