"""End to end on the shared dev set: `dualuse ingest ../shared/devset/docs`, then cited search."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import require_devset

QUERY = "police bought DNA equipment through resellers"


@pytest.fixture(scope="module")
def devset_home(tmp_path_factory: pytest.TempPathFactory):
    docs = require_devset()
    home = tmp_path_factory.mktemp("devset-home")
    result = CliRunner().invoke(main, ["--home", str(home), "ingest", "--no-prefect", str(docs)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "documents: 5 added, 0 updated, 0 unchanged, 0 skipped, 0 failed"
    return home


def search_json(home, *args: str) -> list[dict]:
    result = CliRunner().invoke(main, ["--home", str(home), "search", "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hits"]


def test_reseller_query_finds_documents_003_or_004(devset_home) -> None:
    hits = search_json(devset_home, "--limit", "5", QUERY)
    assert len(hits) == 5
    stems = [h["source"].rsplit("/", 1)[-1].split("_", 1)[0] for h in hits]
    assert {"003", "004"} & set(stems), stems


def test_reseller_query_with_company_filter(devset_home) -> None:
    hits = search_json(devset_home, "--limit", "10", "--company", "Promega", QUERY)
    assert hits
    for h in hits:
        assert "Promega" in h["entities"]["company"], h
