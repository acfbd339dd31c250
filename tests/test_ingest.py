"""Library ingest (no Prefect): mixed batches, per-source outcomes, idempotence, updates, retries."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from pipeline.ingest import describe, ingest
from tests.helpers import FakeClock, article_html, article_text, flaky, page, send, serve


def by_source(report) -> dict[str, tuple[str, str | None]]:
    return {r.source: (r.status, r.reason) for r in report.results}


def test_mixed_batch_records_every_outcome_and_continues(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()  # default settings: private addresses refused
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.txt").write_text(article_text("Promega sold DNA kits to police in Xinjiang last spring."))
    (good / "b.md").write_text("---\ntitle: B\npublished: 2020-05-01\n---\n\n" + article_text())
    (good / "c.html").write_text(article_html(title="Vendors and the provincial police"))
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02 binary" * 50)
    empty = tmp_path / "empty.md"
    empty.write_text("")
    missing = str(tmp_path / "missing.txt")
    blocked = "http://127.0.0.1:9/story"

    report = ingest([missing, str(good), str(binary), str(empty), blocked], pipe.settings, pipeline=pipe)
    outcomes = by_source(report)
    assert outcomes == {
        missing: ("failed", "missing"),
        str(good / "a.txt"): ("added", None),
        str(good / "b.md"): ("added", None),
        str(good / "c.html"): ("added", None),
        str(binary): ("failed", "binary"),
        str(empty): ("skipped", "empty"),
        blocked: ("failed", "blocked"),
    }
    assert report.results[0].source == missing  # order of the inputs kept
    assert report.summary() == {"added": 3, "updated": 0, "unchanged": 0, "skipped": 1, "failed": 3}
    assert not report.ok
    assert pipe.store.stats()["documents"] == 3
    assert all(r.claims > 0 for r in report.results if r.status == "added")
    lines = describe(report.to_json())
    assert lines[0] == "documents: 3 added, 0 updated, 0 unchanged, 1 skipped, 3 failed"
    assert any(line.strip().startswith(f"failed [missing] {missing}:") for line in lines)
    assert any(f"failed [blocked] {blocked}" in line for line in lines)
    # the run and its per-source outcomes are recorded in the store
    runs = pipe.store.conn.execute("SELECT COUNT(*) FROM run_sources WHERE status = 'failed'").fetchone()[0]
    assert runs == 3


def test_reingest_unchanged_then_updated(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()
    path = tmp_path / "a.txt"
    path.write_text(article_text("Promega sold DNA kits to police in Xinjiang last spring."))
    first = ingest([str(path)], pipe.settings, pipeline=pipe)
    assert by_source(first) == {str(path): ("added", None)}
    stats = pipe.store.stats()

    second = ingest([str(path)], pipe.settings, pipeline=pipe)
    assert by_source(second) == {str(path): ("unchanged", None)}
    assert second.results[0].doc_id == first.results[0].doc_id
    assert pipe.store.stats() == stats
    assert pipe.index.count() == stats["claims"]

    path.write_text(article_text("Thermo Fisher Scientific stopped its sales to the bureau in 2019."))
    third = ingest([str(path)], pipe.settings, pipeline=pipe)
    assert by_source(third) == {str(path): ("updated", None)}
    assert pipe.store.stats()["documents"] == 1
    assert pipe.index.count() == pipe.store.claim_count()


def test_same_file_by_relative_and_absolute_path_is_one_document(make_pipeline, tmp_path: Path, monkeypatch) -> None:
    pipe = make_pipeline()
    (tmp_path / "a.txt").write_text(article_text())
    monkeypatch.chdir(tmp_path)
    report = ingest(["a.txt", str(tmp_path / "a.txt")], pipe.settings, pipeline=pipe)
    assert [r.status for r in report.results] == ["added", "unchanged"]


def test_url_ingest_with_retry_on_503(make_pipeline) -> None:
    pipe = make_pipeline(allow_private=True)
    pipe.clock = clock = FakeClock()
    with serve({"/story": flaky(503, page(article_html())), "/gone": page("gone", "text/plain", 404)}) as srv:
        report = ingest([srv.url("/story"), srv.url("/gone")], pipe.settings, pipeline=pipe)
        assert srv.hits["/story"] == 2  # one retry after the 503
        assert srv.hits["/gone"] == 1  # a 404 is not retried
    assert clock.waits == [1.0]  # the back-off, on the injected clock
    assert by_source(report) == {srv.url("/story"): ("added", None), srv.url("/gone"): ("failed", "http-error")}
    row = pipe.store.conn.execute("SELECT url, title, published, kind FROM documents").fetchone()
    assert tuple(row) == (srv.url("/story"), "Police bought DNA sequencers from a European vendor",
                          "2021-06-11", "html")


def test_progress_callback_sees_every_source(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()
    (tmp_path / "a.txt").write_text(article_text())
    seen = []
    ingest([str(tmp_path / "a.txt"), str(tmp_path / "nope.txt")], pipe.settings, pipeline=pipe,
           progress=seen.append)
    assert [(r.status, r.reason) for r in seen] == [("added", None), ("failed", "missing")]


def test_unsupported_file_in_directory_is_skipped_not_failed(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    report = ingest([str(tmp_path)], pipe.settings, pipeline=pipe)
    assert by_source(report) == {str(tmp_path / "logo.png"): ("skipped", "unsupported")}
    assert report.ok


def test_changed_processing_settings_reprocess_unchanged_text(make_pipeline, settings_factory, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(article_text("Promega sold DNA kits to police in Xinjiang. It said nothing more."))
    first = make_pipeline()
    assert ingest([str(path)], first.settings, pipeline=first).results[0].status == "added"
    first.close()
    wider = make_pipeline(settings_factory(home=first.settings.home, context_sentences=2))
    assert wider.version != first.version
    assert ingest([str(path)], wider.settings, pipeline=wider).results[0].status == "updated"
    assert ingest([str(path)], wider.settings, pipeline=wider).results[0].status == "unchanged"


def _by_story(h) -> None:
    """/article.php?storyid=N and /?p=N: one article per parameter value, as real outlets serve them."""
    params = parse_qs(h.path.partition("?")[2])
    key = "storyid" if "storyid" in params else "p"
    story = f"{key}={params[key][0]}"
    html = article_html(title=f"Story {story}: police bought DNA sequencers").replace(
        "</article>", f"<p>Only story {story} says Thermo Fisher Scientific sold kits to police in Xinjiang "
                      f"under tender {story}-77.</p></article>")
    send(h, 200, html)


def test_articles_selected_by_query_parameters_are_separate_documents(make_pipeline) -> None:
    pipe = make_pipeline(allow_private=True)
    with serve({"/article.php": _by_story, "/": _by_story}) as srv:
        urls = [srv.url("/article.php?storyid=2"), srv.url("/article.php?storyid=3"),
                srv.url("/?p=159752"), srv.url("/?p=159753")]
        report = ingest(urls, pipe.settings, pipeline=pipe)
        assert [r.status for r in report.results] == ["added"] * 4
        # tracking parameters alone do not make another document
        again = ingest([srv.url("/article.php?storyid=2&utm_source=rss&fbclid=x1&mc_cid=9&gclid=z")],
                       pipe.settings, pipeline=pipe)
    assert [r.status for r in again.results] == ["unchanged"]
    assert pipe.store.stats()["documents"] == 4
    titles = sorted(r[0] for r in pipe.store.conn.execute("SELECT title FROM documents"))
    assert titles[0].startswith("Story p=159752") and titles[-1].startswith("Story storyid=3")


def test_old_data_home_is_rekeyed_on_open(make_pipeline, settings_factory, monkeypatch) -> None:
    """A store written when web documents were keyed by courlan's strict normaliser (which dropped
    ``?storyid=``) is re-keyed when opened: same documents and claims, new ids, the vector index
    swapped at the next sync, and the second article then stored beside the first."""
    import courlan

    import pipeline.fetch
    from pipeline.index import sync
    from pipeline.records import make_id
    from pipeline.store import Store
    from pipeline.urls import web_locator

    settings = settings_factory(allow_private=True)
    with serve({"/article.php": _by_story}) as srv:
        first, second = srv.url("/article.php?storyid=2"), srv.url("/article.php?storyid=3")
        with monkeypatch.context() as patch:  # the old identity
            patch.setattr(pipeline.fetch, "web_locator", lambda url: str(courlan.normalize_url(url, strict=True)))
            old = make_pipeline(settings)
            assert [r.status for r in ingest([first], settings, pipeline=old).results] == ["added"]
            old.store.conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
            old_doc = old.store.conn.execute("SELECT doc_id FROM documents").fetchone()[0]
            old_claims = {r[0] for r in old.store.conn.execute("SELECT claim_id FROM claims")}
            old_texts = sorted(r[0] for r in old.store.conn.execute("SELECT text FROM claims"))
            assert old.index.count() == len(old_claims) > 0
            old.close()
        assert old_doc == make_id("doc", str(courlan.normalize_url(first, strict=True)))

        store = Store(settings.db_path)  # opening migrates
        try:
            new_doc = store.conn.execute("SELECT doc_id FROM documents").fetchone()[0]
            assert new_doc == make_id("doc", web_locator(first)) != old_doc
            assert store.schema_version() == 2
            assert sorted(r[0] for r in store.conn.execute("SELECT text FROM claims")) == old_texts
            new_claims = {r[0] for r in store.conn.execute("SELECT claim_id FROM claims")}
            assert len(new_claims) == len(old_claims) and not new_claims & old_claims
            for table in ("mentions", "snapshots", "run_sources"):
                assert {r[0] for r in store.conn.execute(f"SELECT doc_id FROM {table}")} == {new_doc}, table
            fts = {r[0] for r in store.conn.execute("SELECT claim_id FROM claims_fts")}
            assert fts == new_claims
            linked = {r[0] for r in store.conn.execute("SELECT DISTINCT claim_id FROM claim_entities")}
            assert linked and linked <= new_claims
        finally:
            store.close()
        Store(settings.db_path).close()  # a second open changes nothing

        pipe = make_pipeline(settings)
        assert sync(pipe.store, pipe.index) == len(new_claims)
        assert pipe.index.count() == len(new_claims)
        assert sorted(pipe.index.collection.get(ids=sorted(new_claims))["ids"]) == sorted(new_claims)
        report = ingest([first, second], settings, pipeline=pipe)
    assert [r.status for r in report.results] == ["unchanged", "added"]
    assert pipe.store.stats()["documents"] == 2
    assert pipe.index.count() == pipe.store.claim_count()
