"""The ``dualuse`` command line: exit codes, summaries, JSON shapes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.settings import PROJECT_ROOT
from tests.helpers import article_text, assert_one_line_error, cli

HIT_KEYS = {"claim_id", "text", "score", "doc_id", "source", "url", "title", "published", "start", "end", "highlights",
            "also_reported_by", "stance",
            "entities"}


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory):
    """A home filled by one `dualuse ingest --no-prefect` of a small folder (2 articles, 1 empty)."""
    home = tmp_path_factory.mktemp("cli-home")
    folder = tmp_path_factory.mktemp("cli-docs")
    (folder / "a.txt").write_text(article_text("Promega sold DNA kits to police in Xinjiang last spring."))
    (folder / "b.md").write_text(article_text("Thermo Fisher Scientific stopped its sales to the bureau."))
    (folder / "c.txt").write_text("")
    result = cli("--home", home, "ingest", "--no-prefect", folder)
    return {"home": home, "folder": folder, "result": result}


def stats(home: Path) -> dict[str, int]:
    result = cli("--home", home, "stats", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ingest_no_arguments_is_usage_error(tmp_path: Path) -> None:
    result = cli("--home", tmp_path, "ingest")
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_ingest_all_handled_exits_0(cli_home) -> None:
    result = cli_home["result"]
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "documents: 2 added, 0 updated, 0 unchanged, 1 skipped, 0 failed"
    empty = cli_home["folder"] / "c.txt"
    assert lines[1].startswith(f"  skipped [empty] {empty}: ")
    assert len(lines) == 2


def test_reingest_with_a_failed_source_exits_1_and_keeps_stats(cli_home) -> None:
    before = stats(cli_home["home"])
    assert before["documents"] == 2 and before["claims"] == 14
    missing = cli_home["folder"] / "does-not-exist.md"
    result = cli("--home", cli_home["home"], "ingest", "--no-prefect", cli_home["folder"], missing)
    assert result.exit_code == 1
    out = result.stdout
    assert out.splitlines()[0] == "documents: 0 added, 0 updated, 2 unchanged, 1 skipped, 1 failed"
    assert f"  failed [missing] {missing}: no such file or directory" in out
    assert stats(cli_home["home"]) == before


def test_ingest_json_report(cli_home) -> None:
    result = cli("--home", cli_home["home"], "ingest", "--no-prefect", "--json", cli_home["folder"] / "a.txt")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert set(report) == {"added", "updated", "unchanged", "skipped", "failed", "sources"}
    [source] = report["sources"]
    assert source["status"] == "unchanged" and source["source"].endswith("a.txt")
    assert set(source) <= {"source", "status", "doc_id", "reason", "detail", "claims"}


def test_reindex(cli_home) -> None:
    claims = stats(cli_home["home"])["claims"]
    result = cli("--home", cli_home["home"], "reindex")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"reindexed {claims} claims"


def test_search_json_shape_and_company_filter(demo_store) -> None:
    result = cli("--home", demo_store.settings.home, "search", "--json", "--limit", "5",
                 "--company", "Promega", "police bought DNA equipment", "through resellers")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"query", "hits"}
    assert data["query"] == "police bought DNA equipment through resellers"
    assert 1 <= len(data["hits"]) <= 5
    for hit in data["hits"]:
        assert set(hit) == HIT_KEYS
        assert set(hit["entities"]) == {"company", "product", "agency", "region"}
        assert "Promega" in hit["entities"]["company"]


def test_search_text_output(demo_store) -> None:
    result = cli("--home", demo_store.settings.home, "search", "--limit", "2", "spyware used to hack phones")
    assert result.exit_code == 0
    assert result.stdout.startswith(" 1. ")
    assert "score " in result.stdout and "claim " in result.stdout


def test_search_unknown_company_is_one_line_error(demo_store) -> None:
    result = cli("--home", demo_store.settings.home, "search", "--company", "Promega Wisconsin", "DNA")
    assert_one_line_error(result, 2, "no company named 'Promega Wisconsin'", "known company names include:",
                          "Promega")


def test_search_empty_store_is_one_line_error(tmp_path: Path) -> None:
    result = cli("--home", tmp_path, "search", "DNA")
    assert_one_line_error(result, 1, "the store is empty")


@pytest.mark.parametrize(("args", "fragment"), [
    (["--since", "2019-02-30"], "--since '2019-02-30' is not a date"),
    (["--until", "soon"], "--until 'soon' is not a date"),
    (["--limit", "0"], "--limit must be between 1 and 1000"),
])
def test_search_bad_options_are_usage_errors(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = cli("--home", tmp_path, "search", *args, "DNA")
    assert_one_line_error(result, 2, fragment)


def test_bad_environment_value_is_one_line_error(tmp_path: Path) -> None:
    result = cli("--home", tmp_path, "stats", env={"DUALUSE_MAX_BYTES": "lots"})
    assert_one_line_error(result, 1, "DUALUSE_MAX_BYTES='lots' is not a valid int")


def test_unwritable_home_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("--home", blocker / "sub", "stats")
    assert_one_line_error(result, 1, "is not writable")


def test_tag_json_lines(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text(article_text("Promega sold DNA kits to police in Xinjiang last spring."))
    (tmp_path / "two.md").write_text(article_text("Thermo Fisher Scientific stopped its sales to the bureau."))
    result = cli("--home", tmp_path / "home", "tag", "--json", tmp_path / "one.txt", tmp_path / "two.md")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["one", "two"]
    for row in rows:
        assert set(row) == {"id", "source", "entities"}
        assert row["entities"]
        for ent in row["entities"]:
            assert set(ent) == {"text", "label", "canonical", "start", "end"}
            assert ent["end"] - ent["start"] == len(ent["text"])
    assert {"text": "Promega", "label": "company", "canonical": "Promega"}.items() <= \
        next(e for e in rows[0]["entities"] if e["text"] == "Promega").items()
    assert not (tmp_path / "home" / "dualuse.sqlite").exists()  # tag stores nothing


def test_tag_missing_file_exits_1(tmp_path: Path) -> None:
    result = cli("--home", tmp_path, "tag", "--json", tmp_path / "nope.txt")
    assert_one_line_error(result, 1, "nope.txt", "no such file or directory")


def _subprocess_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DUALUSE_", "PREFECT_"))}


def test_subprocess_error_has_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(tmp_path), "search",
                           "--since", "21/02/2019", "DNA"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, env=_subprocess_env())
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: --since '21/02/2019' is not a date (use YYYY-MM-DD, e.g. 2019-02-21)"]


def test_doctor_subprocess(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(tmp_path), "doctor"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=_subprocess_env())
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()]
    names = [ln.split(":", 1)[0].split(None, 1)[1] for ln in lines]
    assert names == ["data directory", "spaCy model", "embedding model", "store", "vector index",
                     "SSRF protection", "Prefect"]
    assert all(ln.startswith("ok  ") for ln in lines), done.stdout


def test_show_prints_paragraph_and_provenance(cli_home) -> None:
    found = cli("--home", cli_home["home"], "search", "Promega DNA kits", "--limit", "1", "--json")
    hit = json.loads(found.stdout)["hits"][0]
    shown = cli("--home", cli_home["home"], "show", hit["claim_id"])
    assert shown.exit_code == 0, shown.output
    assert f"»{hit['text']}«" in " ".join(shown.stdout.split()) or hit["text"].split()[0] in shown.stdout
    assert "snapshot" in shown.stdout and hit["claim_id"] in shown.stdout
    assert_one_line_error(cli("--home", cli_home["home"], "show", "0000000000000000"), 2, "no claim with id")


def test_eval_distractors_usage_errors(tmp_path) -> None:
    assert_one_line_error(cli("--home", tmp_path, "eval", "retrieval", "--distractors", tmp_path, "--check"), 2,
                          "--check", "--distractors")
    assert_one_line_error(cli("--home", tmp_path, "eval", "entities", "--distractors", tmp_path), 2,
                          "eval retrieval")
