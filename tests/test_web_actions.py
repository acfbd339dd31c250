"""The web app's input pages and their API (pipeline/web/actions.py, jobs.py, uploads.py): batch
search, watches and alerts, add coverage; HEAD requests. Batch search reads the shared demo store;
everything that writes gets a data home of its own."""

from __future__ import annotations

import csv
import gzip
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.web.app import create_app
from tests.helpers import (
    BASE,
    XSS,
    LocalServer,
    article_html,
    article_text,
    assert_error,
    cli,
    cli_json,
    hold_in_process,
    page,
)

NAMES_CSV = ("name,type\nThermo Fisher,\nPromega,company\nMinistry of Public Security,agency\n"
             "Nonexistent Widgets Ltd,\n\"" + XSS.replace('"', '""') + "\",\n=HYPERLINK(\"http://evil.example\"),\n").encode()


@pytest.fixture(scope="module")
def web(demo_store) -> TestClient:
    return TestClient(create_app(demo_store.settings, pipeline=demo_store.pipe), base_url=BASE)


# -- batch search ---------------------------------------------------------------------------------


def test_api_batch_equals_cli_json(web, demo_store, tmp_path: Path) -> None:
    names = tmp_path / "names.csv"
    names.write_bytes(NAMES_CSV)
    response = web.post("/api/batch", files={"file": ("names.csv", NAMES_CSV, "text/csv")})
    assert response.status_code == 200, response.text
    expected = cli_json(demo_store.settings.home, "batch", str(names), "--format", "json")
    assert response.json() == expected
    rows = {r["name"]: r for r in expected}
    assert list(rows) == ["Thermo Fisher", "Promega", "Ministry of Public Security", "Nonexistent Widgets Ltd",
                          XSS, '=HYPERLINK("http://evil.example")']
    thermo = rows["Thermo Fisher"]
    assert thermo["status"] == "found" and thermo["canonical"] == "Thermo Fisher Scientific"
    assert thermo["claims"] > 0 and thermo["documents"] >= thermo["independent_sources"] > 0
    assert rows["Promega"]["status"] == "found" and rows["Promega"]["matched_type"] == "company"
    assert rows["Nonexistent Widgets Ltd"]["status"] == "not found"
    # the same names as JSON
    body = {"names": ["Thermo Fisher", {"name": "Promega", "type": "company"}]}
    as_json = web.post("/api/batch", json=body).json()
    assert [r["claims"] for r in as_json] == [thermo["claims"], rows["Promega"]["claims"]]


def test_batch_counts_match_the_entity_filter(web) -> None:
    """A batch row's claim count is the number of claims a search filtered on that company finds."""
    row = web.post("/api/batch", json={"names": ["Promega"]}).json()[0]
    hits = web.get("/api/search", params={"q": "Promega", "company": "Promega", "limit": 200}).json()["hits"]
    found = {h["claim_id"] for h in hits} | {o["claim_id"] for h in hits for o in h["also_reported_by"]}
    assert row["claims"] == len(found)


def test_batch_page_table_links_and_inert_names(web) -> None:
    response = web.post("/batch", files={"file": ("names.csv", NAMES_CSV, "text/csv")},
                        data={"names": ""})
    assert response.status_code == 200, response.text
    text = response.text
    table = re.search(r'<table id="batch-results">(.*?)</table>', text, re.S)
    assert table
    assert table.group(1).count("<tr class=") == 6
    assert 'href="/entities/company/Thermo%20Fisher%20Scientific"' in text
    assert 'href="/dossier/Promega"' in text
    assert "<script>window.__pwned" not in text and "&lt;script&gt;" in text
    assert re.search(r'id="batch-counts"[^>]*>\s*\d+ found', text)
    # pasted names work the same
    pasted = web.post("/batch", data={"names": "Promega\nThermo Fisher Scientific"})
    assert pasted.status_code == 200 and pasted.text.count('class="status-found"') == 2
    # template syntax in a name is text, never evaluated
    injected = web.post("/batch", data={"names": "{{ 7*7 }}\n{% raw %}x{% endraw %}\n${7*7}"})
    assert injected.status_code == 200
    assert "{{ 7*7 }}" in injected.text and "{% raw %}x{% endraw %}" in injected.text and ">49<" not in injected.text


def test_batch_csv_download_is_spreadsheet_safe(web, demo_store, tmp_path: Path) -> None:
    names = tmp_path / "names.csv"
    names.write_bytes(NAMES_CSV)
    response = web.post("/batch.csv", files={"file": ("names.csv", NAMES_CSV, "text/csv")})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    out = tmp_path / "batch.csv"
    assert cli("--home", demo_store.settings.home, "batch", names, "--out", out, "--format", "csv").exit_code == 0
    assert response.content == out.read_bytes()
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["name", "type", "status"]
    assert rows[6][0].startswith("'=HYPERLINK")  # a formula is text in a spreadsheet


@pytest.mark.parametrize(("files", "data", "status", "fragment"), [
    ({"file": ("names.exe", b"MZ\x00\x00", "application/octet-stream")}, None, 400, "is not a CSV file"),
    ({"file": ("names.csv", b"Promega\x00\x00\x01", "text/csv")}, None, 400, "is not a text file"),
    ({"file": ("names.csv", b"abc\xff\xfe\xfd", "text/csv")}, None, 400, "is not UTF-8 or UTF-16 text"),
    (None, {"names": ""}, 400, "holds no names"),
    (None, {"names": "\n".join(f"Company {i}" for i in range(1001))}, 400, "over the limit of 1000"),
    (None, {"names": "name,type\nPromega,spaceship\n"}, 400, "unknown type 'spaceship'"),
    (None, {"names": "x" * 300}, 400, "a name of 300 characters"),
])
def test_batch_bad_input_is_one_line(web, files: Any, data: Any, status: int, fragment: str) -> None:
    for path in ("/batch", "/api/batch"):
        assert_error(web.post(path, files=files, data=data), status, fragment)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-16-be"])
def test_batch_csv_saved_as_unicode_text_is_read(encoding: str) -> None:
    """Excel's "Unicode Text" and Notepad save UTF-16 (with a BOM, or big-endian without one)."""
    from pipeline.batch import read_names

    names = read_names("name,type\nPromega,company\nCafé Systems,\n".encode(encoding))
    assert [(n.name, n.type) for n in names] == [("Promega", "company"), ("Café Systems", None)]


def test_batch_upload_over_the_limit_is_413(web) -> None:
    big = b"Promega\n" * 200_000  # 1.6 MB
    assert_error(web.post("/api/batch", files={"file": ("big.csv", big, "text/csv")}), 413, "limit")
    assert_error(web.post("/api/batch", json={"names": "Promega"}), 400, '"names"')


# -- HEAD -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/search?q=DNA", "/api/entities", "/batch", "/static/app.css"])
def test_head_is_answered_like_get_without_a_body(web, path: str) -> None:
    get, head = web.get(path), web.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]


# -- watches and alerts ---------------------------------------------------------------------------


@pytest.fixture
def own(make_pipeline, tmp_path: Path) -> tuple[Any, TestClient]:
    """A pipeline on a fresh data home holding one article, and a client of the app over it."""
    from pipeline.ingest import ingest

    pipe = make_pipeline(allow_private=True)
    first = tmp_path / "first.txt"
    first.write_text(article_text())
    assert ingest([str(first)], pipe.settings, pipeline=pipe).ok
    app = create_app(pipe.settings, pipeline=pipe)
    with TestClient(app, base_url=BASE) as client:
        yield pipe, client


def test_watches_add_list_remove_from_the_page_and_the_api(own) -> None:
    pipe, client = own
    assert 'id="no-watches"' in client.get("/watches").text
    added = client.post("/watches", data={"name": "iris-scanners", "query": "iris scanners sold to police",
                                          "company": "Orbitex, Zentrix", "threshold": "0.6"},
                        follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"].startswith("/watches?done=")
    listing = client.get("/watches").text
    assert "iris-scanners" in listing and "company: Orbitex, Zentrix" in listing
    assert client.get("/api/watches").json() == cli_json(pipe.settings.home, "watch", "list", "--json")
    assert client.get("/api/watches").json()[0]["filters"] == {"company": ["Orbitex", "Zentrix"]}
    assert_error(client.post("/watches", data={"name": "iris-scanners", "query": "x"}), 400, "already exists")
    assert_error(client.post("/watches", data={"name": "no-query"}), 400, "needs --query or --entity")
    assert_error(client.post("/watches", data={"name": "bad/name", "query": "x"}), 400, "is not valid")
    assert_error(client.post("/watches", data={"name": "t", "query": "x", "threshold": "high"}), 400, "not a number")
    made = client.post("/api/watches", json={"name": "orbitex", "entity": "Orbitex Dynamics", "region": ["Zanzibar"]})
    assert made.status_code == 201 and made.json()["filters"] == {"region": ["Zanzibar"]}
    assert [w["name"] for w in client.get("/api/watches").json()] == ["iris-scanners", "orbitex"]
    removed = client.post("/watches/iris-scanners/remove", follow_redirects=False)
    assert removed.status_code == 303
    assert client.delete("/api/watches/orbitex").json()["name"] == "orbitex"
    assert client.get("/api/watches").json() == []
    assert_error(client.delete("/api/watches/orbitex"), 404, "no watch named 'orbitex'")


def test_cross_site_forms_change_nothing(own) -> None:
    _pipe, client = own
    evil = {"Origin": "https://evil.example"}
    assert_error(client.post("/watches", data={"name": "x", "query": "y"}, headers=evil), 403, "cross-site")
    assert_error(client.post("/ingest", data={"urls": "https://example.org/a"}, headers=evil), 403, "cross-site")
    assert_error(client.post("/api/ingest", json={"urls": ["https://example.org/a"]},
                             headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross-site")
    assert_error(client.post("/watches", data={"name": "x", "query": "y"}, headers={"Origin": "null"}), 403,
                 "cross-site")  # no Fetch Metadata: an opaque origin is not ours
    assert_error(client.post("/watches", data={"name": "x", "query": "y"}, headers={"Sec-Fetch-Site": "same-site"}),
                 403, "cross-site")  # a sibling subdomain is another site's page
    assert client.get("/api/watches").json() == [] and client.get("/api/ingest").json() == []
    # a browser's own form: Fetch Metadata says same-origin (Origin may be "null" under strict policies)
    ok = client.post("/watches", data={"name": "x", "query": "y"},
                     headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"}, follow_redirects=False)
    assert ok.status_code == 303


# -- add coverage ---------------------------------------------------------------------------------


NEW_SENTENCE = "Orbitex Dynamics sold hovercraft iris scanners to the Zanzibar harbour police in 2024."


def wait_for(client: TestClient, job_id: str, seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = client.get(f"/api/ingest/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s")


def test_add_coverage_takes_a_gzip_compressed_page(own) -> None:
    _pipe, client = own
    sentence = "Quillmark Optics shipped gait-recognition cameras to the Borealis transit police in 2023."
    html = article_html(title="Gait cameras for the transit police").replace("</h1>", f"</h1>\n<p>{sentence}</p>")
    tarball = ("pages.tar.gz", gzip.compress(b"not an article"), "application/gzip")
    assert_error(client.post("/api/ingest", files=[("files", tarball)]), 400,
                 "'pages.tar.gz' is not a supported file type")
    saved = ("saved-page.html.gz", gzip.compress(html.encode()), "application/gzip")
    job = wait_for(client, client.post("/api/ingest", files=[("files", saved)]).json()["job"])
    assert job["state"] == "done" and job["report"]["added"] == 1, job
    hits = client.get("/api/search", params={"q": "Quillmark gait-recognition cameras Borealis", "limit": 3}).json()
    assert sentence in [h["text"] for h in hits["hits"]]


def test_add_coverage_uploads_and_urls_with_progress_and_alerts(own) -> None:
    _pipe, client = own
    assert client.post("/api/watches", json={"name": "iris", "query": "hovercraft iris scanners"}).status_code == 201
    html = article_html(title="Iris scanners for the harbour police", extra_body=f"<p>{NEW_SENTENCE}</p>")
    with LocalServer({"/report.html": page(html), "/robots.txt": page("", "text/plain")}) as server:
        upload = ("report.txt", article_text(NEW_SENTENCE, "The scanners were delivered in crates."), "text/plain")
        pdf_like = ("notes.exe", b"MZ", "application/octet-stream")
        assert_error(client.post("/ingest", data={"urls": ""}, files=[("files", pdf_like)]), 400,
                     "'notes.exe' is not a supported file type")
        response = client.post("/ingest", data={"urls": f"# a comment\n{server.url('/report.html')}\n\n"},
                               files=[("files", upload)], follow_redirects=False)
        assert response.status_code == 303
        job_id = response.headers["location"].rsplit("/", 1)[1]
        job = wait_for(client, job_id)
    assert job["state"] == "done" and job["total"] == job["done"] == 2
    report = job["report"]
    assert set(report) == {"added", "updated", "unchanged", "skipped", "failed", "sources"}  # dualuse ingest --json
    assert (report["added"], report["failed"]) == (2, 0)
    by_label = {job["labels"][s["source"]]: s for s in report["sources"]}
    assert by_label["report.txt"]["status"] == "added" and by_label["report.txt"]["claims"] > 0
    assert by_label[server.url("/report.html")]["status"] == "added"
    # the new claims are searchable at once, and the watch raised alerts for them
    hits = client.get("/api/search", params={"q": "hovercraft iris scanners Zanzibar", "limit": 3}).json()["hits"]
    assert NEW_SENTENCE in [h["text"] for h in hits]
    alerts = client.get("/api/alerts").json()
    assert {a["watch"] for a in alerts} == {"iris"} and len(alerts) == 2  # one per document
    assert "hovercraft iris scanners" in client.get("/alerts").text
    # the finished job's page: every source, no refresh
    text = client.get(f"/ingest/jobs/{job_id}").text
    assert 'http-equiv="refresh"' not in text and "Done: 2 added" in text and "report.txt" in text
    assert f'href="/ingest/jobs/{job_id}"' in client.get("/ingest").text
    # the same file again: the same stored source, nothing duplicated
    documents = client.get("/api/entities").json()
    again = client.post("/api/ingest", files=[("files", upload)])
    assert again.status_code == 202
    job2 = wait_for(client, again.json()["job"])
    upload_source = next(s["source"] for s in report["sources"] if job["labels"][s["source"]] == "report.txt")
    assert job2["report"]["unchanged"] == 1 and job2["report"]["sources"][0]["source"] == upload_source
    renamed = client.post("/api/ingest", files=[("files", ("same-bytes-new-name.txt", upload[1], "text/plain"))])
    job3 = wait_for(client, renamed.json()["job"])
    assert job3["report"]["unchanged"] == 1 and job3["report"]["sources"][0]["source"] == upload_source
    assert client.get("/api/entities").json() == documents
    assert len(client.get("/api/alerts").json()) == 2


def test_job_waits_for_another_writer_and_says_so(own) -> None:
    pipe, client = own
    holder = hold_in_process(pipe.settings.home)
    try:
        submitted = client.post("/api/ingest", files=[("files", ("w.txt", article_text(NEW_SENTENCE), "text/plain"))])
        job_id = submitted.json()["job"]
        deadline = time.monotonic() + 30
        while client.get(f"/api/ingest/{job_id}").json()["state"] != "waiting":
            assert time.monotonic() < deadline, "the job never reported waiting"
            time.sleep(0.1)
        job = client.get(f"/api/ingest/{job_id}").json()
        assert f"a test holder (pid {holder.pid}" in job["waiting_for"]
        text = client.get(f"/ingest/jobs/{job_id}").text
        assert 'http-equiv="refresh" content="2"' in text and "Waiting for a test holder" in text
    finally:
        holder.kill()
        holder.wait()
    assert wait_for(client, job_id)["report"]["added"] == 1


def test_private_addresses_stay_blocked_by_default(make_pipeline) -> None:
    pipe = make_pipeline()  # allow_private is off, as it is by default
    with TestClient(create_app(pipe.settings, pipeline=pipe), base_url=BASE) as client:
        job = client.post("/api/ingest", json={"urls": ["http://127.0.0.1:9/x", "http://169.254.169.254/latest"]})
        report = wait_for(client, job.json()["job"])["report"]
    assert report["failed"] == 2 and {s["reason"] for s in report["sources"]} == {"blocked"}


@pytest.mark.parametrize(("body", "fragment"), [
    ({"urls": ["file:///etc/passwd"]}, "is not an http(s) URL"),
    ({"urls": ["/etc/passwd"]}, "is not an http(s) URL"),
    ({"urls": "https://example.org"}, '"urls"'),
    ({"urls": []}, "nothing to ingest"),
    ({"urls": [f"https://example.org/{i}" for i in range(201)]}, "over the limit of 200"),
])
def test_add_coverage_bad_input(own, body: dict[str, Any], fragment: str) -> None:
    _pipe, client = own
    assert_error(client.post("/api/ingest", json=body), 400, fragment)
    assert client.get("/api/ingest").json() == []


def test_add_coverage_limits_and_unknown_jobs(own, monkeypatch: pytest.MonkeyPatch) -> None:
    _pipe, client = own
    import pipeline.web.actions as actions

    monkeypatch.setattr(actions, "MAX_UPLOAD_BYTES", 1000)
    assert_error(client.post("/ingest", files=[("files", ("big.txt", b"x" * 5000, "text/plain"))]), 413, "limit")
    monkeypatch.setattr(actions, "MAX_UPLOAD_BYTES", 10_000_000)
    monkeypatch.setattr(actions, "MAX_FILE_BYTES", 100)
    assert_error(client.post("/ingest", files=[("files", ("big.txt", b"x" * 500, "text/plain"))]), 413, "big.txt")
    assert_error(client.get("/api/ingest/nope"), 404, "no ingest job 'nope'")
    assert_error(client.get("/ingest/jobs/nope"), 404, "no ingest job 'nope'")
    assert client.get("/api/ingest").json() == []
