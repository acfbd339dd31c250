"""The Prefect ingest flow, run for real (ephemeral local API, no server), once per session.

One flow run covers a directory, a missing path, a good URL, a URL that answers 503 once (retried by
the fetch task) and a 404 (not retried); a second, cheap run re-ingests the directory.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers import article_html, article_text, flaky, page, serve


@pytest.fixture(scope="module")
def flow_env(tmp_path_factory: pytest.TempPathFactory, settings_factory, shared_tagger, shared_embedder):
    """Prefect configured on a session-local home; the process environment restored afterwards."""
    from pipeline.ingest import Pipeline

    saved = dict(os.environ)
    settings = settings_factory(allow_private=True, home=tmp_path_factory.mktemp("flow-home"))
    from flows.prefect_env import configure_prefect

    configure_prefect(settings)
    pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
    yield pipe
    pipe.close()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def first_run(flow_env, tmp_path_factory: pytest.TempPathFactory):
    from flows.ingest import ingest_flow

    folder = tmp_path_factory.mktemp("flow-docs")
    (folder / "a.txt").write_text(article_text("Promega sold DNA kits to police in Xinjiang last spring."))
    (folder / "b.md").write_text("---\ntitle: B\npublished: 2020-05-01\n---\n\n" + article_text())
    missing = str(folder / "missing.md")
    routes = {
        "/story": page(article_html()),
        "/busy": flaky(503, page(article_html(title="Second story about DNA sequencers"))),
        "/gone": page("gone", "text/plain", 404),
    }
    with serve(routes) as srv:
        urls = [srv.url("/story"), srv.url("/busy"), srv.url("/gone")]
        state = ingest_flow(sources=[str(folder), missing, *urls], pipeline=flow_env, return_state=True)
        hits = dict(srv.hits)
    return {"state": state, "report": state.result(), "hits": hits, "folder": folder, "missing": missing,
            "urls": urls}


def test_flow_run_completed(first_run) -> None:
    assert first_run["state"].is_completed()
    assert first_run["state"].name == "Completed"


def test_flow_report_counts(first_run) -> None:
    report = first_run["report"]
    assert {k: report[k] for k in ("added", "updated", "unchanged", "skipped", "failed")} == \
        {"added": 4, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 2}
    folder, missing, (story, busy, gone) = first_run["folder"], first_run["missing"], first_run["urls"]
    outcomes = {s["source"]: (s["status"], s.get("reason")) for s in report["sources"]}
    assert outcomes == {
        str(folder / "a.txt"): ("added", None),
        str(folder / "b.md"): ("added", None),
        missing: ("failed", "missing"),
        story: ("added", None),
        busy: ("added", None),
        gone: ("failed", "http-error"),
    }


def test_flow_retries_only_retryable_fetches(first_run) -> None:
    assert first_run["hits"] == {
        "/busy": 2,  # 503, then one retry (after 1 s) that succeeded
        "/story": 1,
        "/gone": 1,  # a 404 is not retryable
    }


def test_flow_populated_store_and_index(first_run, flow_env) -> None:
    store = flow_env.store
    assert store.stats()["documents"] == 4
    assert store.claim_count() > 0
    assert flow_env.index.count() == store.claim_count()
    runs = store.conn.execute("SELECT summary FROM runs").fetchall()
    assert len(runs) >= 1


def test_flow_rerun_reports_unchanged(first_run, flow_env) -> None:
    from flows.ingest import ingest_flow

    stats = flow_env.store.stats()
    report = ingest_flow(sources=[str(first_run["folder"])], pipeline=flow_env)
    assert (report["added"], report["unchanged"], report["failed"]) == (0, 2, 0)
    assert flow_env.store.stats() == stats
