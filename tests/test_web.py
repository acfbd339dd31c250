"""The web app and HTTP API (``dualuse serve``): the API answers exactly what the CLI's ``--json``
prints, pages render their key elements, untrusted text stays inert, bad input is a one-line 4xx,
the token and cross-site checks hold, and documents ingested by another process are found at once.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.settings import PROJECT_ROOT
from pipeline.web.app import create_app
from tests.helpers import BASE, XSS, article_text, assert_error, assert_one_line_error, cli, cli_json


@pytest.fixture(scope="module")
def web(demo_store) -> TestClient:
    return TestClient(create_app(demo_store.settings, pipeline=demo_store.pipe), base_url=BASE)


# -- the API is the CLI's JSON -------------------------------------------------------------------


@pytest.mark.parametrize(("params", "args"), [
    ({"q": "police bought DNA equipment through resellers"}, []),
    ({"q": "DNA equipment", "company": "Promega", "limit": "5"}, ["--company", "Promega", "--limit", "5"]),
    ({"q": "spyware journalists", "mode": "dense", "limit": "3"}, ["--mode", "dense", "--limit", "3"]),
    ({"q": "DNA sequencers police", "by": "document", "limit": "3"}, ["--by", "document", "--limit", "3"]),
    ({"q": "DNA", "since": "2019-01-01", "until": "2030-12-31"}, ["--since", "2019-01-01", "--until", "2030-12-31"]),
])
def test_api_search_equals_cli_json(web, demo_store, params: dict[str, str], args: list[str]) -> None:
    response = web.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    expected = cli_json(demo_store.settings.home, "search", "--json", *args, params["q"])
    assert response.json() == expected
    assert expected.get("hits") or expected.get("documents")


def test_api_claim_entities_alerts_dossier_equal_cli(web, demo_store) -> None:
    home = demo_store.settings.home
    cid = web.get("/api/search", params={"q": "DNA sequencers", "limit": 1}).json()["hits"][0]["claim_id"]
    assert web.get(f"/api/claims/{cid}").json() == cli_json(home, "show", "--json", cid)
    assert web.get("/api/entities").json() == cli_json(home, "entities", "--json")
    assert web.get("/api/entities", params={"type": "company", "limit": 3}).json() == \
        cli_json(home, "entities", "--json", "--type", "company", "--limit", "3")
    assert web.get("/api/alerts", params={"since": "2020-01-01"}).json() == \
        cli_json(home, "alerts", "--json", "--since", "2020-01-01")
    got = web.get("/api/dossier/thermo fisher", params={"since": "2010-01-01"}).json()
    want = cli_json(home, "dossier", "Thermo Fisher", "--format", "json", "--since", "2010-01-01")
    for d in (got, want):
        d.pop("generated_at")
    assert got == want and got["claims"]


def test_api_dossier_validates_against_the_schema(web) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((PROJECT_ROOT / "pipeline" / "schemas" / "dossier.schema.json").read_text())
    jsonschema.validate(web.get("/api/dossier/Promega").json(), schema)


def test_openapi_lists_the_api(web) -> None:
    paths = web.get("/api/openapi.json").json()["paths"]
    assert {"/api/search", "/api/claims/{claim_id}", "/api/entities", "/api/dossier/{name}",
            "/api/alerts", "/api/batch", "/api/watches", "/api/watches/{name}", "/api/ingest",
            "/api/ingest/{job_id}"} <= set(paths)
    assert {"get", "post"} <= set(paths["/api/watches"]) and "delete" in paths["/api/watches/{name}"]
    assert "post" in paths["/api/ingest"] and "post" in paths["/api/batch"]
    assert not [p for p in paths if not p.startswith("/api/")]  # pages are not part of the API
    assert web.get("/docs").status_code == 404  # Swagger UI would load scripts from a CDN


# -- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "params", "status", "fragment"), [
    ("/api/search", {"q": "   "}, 400, "the query is empty"),
    ("/api/search", {"q": "DNA", "limit": "0"}, 400, "--limit must be between 1 and 1000, got 0"),
    ("/api/search", {"q": "DNA", "limit": "ten"}, 400, "--limit 'ten' is not a whole number"),
    ("/api/search", {"q": "DNA", "since": "2019-02-30"}, 400, "--since '2019-02-30' is not a date"),
    ("/api/search", {"q": "DNA", "mode": "magic"}, 400, "unknown search mode 'magic'"),
    ("/api/search", {"q": "DNA", "by": "page"}, 400, "unknown --by 'page'"),
    ("/api/search", {"q": "DNA", "company": "Promega Wisconsin"}, 400, "no company named 'Promega Wisconsin'"),
    ("/api/claims/deadbeef", {}, 404, "no claim with id 'deadbeef'"),
    ("/api/dossier/Nobody Corp", {}, 404, "no company named 'Nobody Corp' in the store"),
    ("/api/dossier/Promega", {"since": "soon"}, 400, "--since 'soon' is not a date"),
    ("/api/entities", {"type": "planet"}, 400, "unknown entity type 'planet'"),
    ("/api/alerts", {"since": "yesterday"}, 400, "--since 'yesterday' is not an ISO date or time"),
    ("/search", {"q": ""}, 400, "the query is empty"),
    ("/search", {"q": "DNA", "limit": "0"}, 400, "--limit must be between 1 and 1000"),
    ("/search", {"q": "DNA", "until": "2019-13-01"}, 400, "--until '2019-13-01' is not a date"),
    ("/search", {"q": "DNA", "offset": "-1"}, 400, "offset must be 0 or more"),
    ("/search", {"q": "DNA", "company": "Nobody Corp"}, 400, "no company named 'Nobody Corp'"),
    ("/claims/deadbeef", {}, 404, "no claim with id"),
    ("/entities/company/Nobody Corp", {}, 404, "no company named 'Nobody Corp'"),
    ("/dossier/Nobody Corp", {}, 404, "no company named 'Nobody Corp'"),
    ("/dossier/Nobody Corp.json", {}, 404, "no company named 'Nobody Corp'"),
])
def test_bad_input_is_a_one_line_4xx(web, path: str, params: dict[str, str], status: int, fragment: str) -> None:
    assert_error(web.get(path, params=params), status, fragment)


def test_empty_store_is_503(settings_factory, shared_tagger, shared_embedder) -> None:
    from pipeline.ingest import Pipeline

    settings = settings_factory()
    pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
    client = TestClient(create_app(settings, pipeline=pipe), base_url=BASE)
    assert_error(client.get("/api/search", params={"q": "DNA"}), 503, "the store is empty")
    assert_error(client.get("/search", params={"q": "DNA"}), 503, "the store is empty")
    assert client.get("/").status_code == 200 and "The store is empty" in client.get("/").text
    assert client.get("/api/entities").json() == []


# -- pages ------------------------------------------------------------------------------------------


def test_home_page(web) -> None:
    r = web.get("/")
    assert r.status_code == 200
    assert 'name="q"' in r.text and 'id="counts"' in r.text
    assert 'href="/entities/company/Thermo%20Fisher%20Scientific"' in r.text
    assert "<script" not in r.text.lower()


def test_search_page_highlights_facets_and_links(web) -> None:
    r = web.get("/search", params={"q": "DNA sequencers police"})
    assert r.status_code == 200
    assert r.text.count('class="hit"') == 10
    assert "<mark>DNA</mark>" in r.text or "<mark>sequencers</mark>" in r.text
    assert 'id="facet-company"' in r.text and 'id="facet-year"' in r.text and 'id="facet-source"' in r.text
    facet = re.search(r'id="facet-company".*?<a href="([^"]+)">([^<]+)</a> <span class="n">\((\d+)\)', r.text, re.S)
    assert facet, r.text
    url, company = facet.group(1).replace("&amp;", "&"), facet.group(2)
    assert url.startswith("/search?q=DNA+sequencers+police&company=")
    claim = re.search(r'href="/claims/([0-9a-f]+)"', r.text)
    assert claim and web.get(f"/claims/{claim.group(1)}").status_code == 200
    filtered = web.get(url)
    assert filtered.status_code == 200 and 'id="active-filters"' in filtered.text
    api = web.get("/api/search", params={"q": "DNA sequencers police", "company": company}).json()
    assert all(company in h["entities"]["company"] for h in api["hits"])
    assert filtered.text.count('class="hit"') == len(api["hits"]) > 0


def test_facet_counts_are_bounded_by_what_the_filter_finds(web) -> None:
    """A facet "X (n)" counts claims tagged X among the ranking's top claims: the search filtered on
    X, taken as deep, finds at least n claims (copies included)."""
    r = web.get("/search", params={"q": "DNA sequencers police"})
    facets = re.findall(r'<a href="/search\?[^"]*?&amp;company=[^"]+">([^<]+)</a> <span class="n">\((\d+)\)', r.text)
    assert len(facets) >= 2, r.text
    for company, n in facets[:4]:
        company = html.unescape(company)
        hits = web.get("/api/search", params={"q": "DNA sequencers police", "company": company,
                                              "limit": 200}).json()["hits"]
        found = sum(1 + len(h["also_reported_by"]) for h in hits)
        assert 0 < int(n) <= found, (company, n, found)


def test_search_page_pages_through_results(web) -> None:
    first = web.get("/search", params={"q": "DNA", "limit": 3})
    second = web.get("/search", params={"q": "DNA", "limit": 3, "offset": 3})
    ids = lambda r: re.findall(r'<li class="hit" id="hit-([0-9a-f]+)"', r.text)  # noqa: E731
    wide = [h["claim_id"] for h in web.get("/api/search", params={"q": "DNA", "limit": 6}).json()["hits"]]
    assert ids(first) == wide[:3] and ids(second) == wide[3:6]
    assert 'rel="next" href="/search?q=DNA&amp;limit=3&amp;offset=3"' in first.text
    assert 'rel="prev"' in second.text and 'start="4"' in second.text


def test_claim_entity_and_dossier_pages(web, demo_store) -> None:
    hit = web.get("/api/search", params={"q": "DNA", "company": "Thermo Fisher", "limit": 1}).json()["hits"][0]
    r = web.get(f"/claims/{hit['claim_id']}")
    assert r.status_code == 200
    detail = web.get(f"/api/claims/{hit['claim_id']}").json()
    assert f'<td class="hash" id="snapshot">{detail["snapshot_sha256"]}</td>' in r.text
    assert '<mark id="claim">' in r.text and 'id="stance"' in r.text
    assert 'href="/dossier/Thermo%20Fisher%20Scientific"' in r.text

    e = web.get("/entities/company/thermo fisher")
    assert e.status_code == 200
    assert '<h1 id="entity-name">Thermo Fisher Scientific</h1>' in e.text
    assert 'id="chain-summary"' in e.text and 'id="latest"' in e.text
    if demo_store.with_devset:  # the brand is named only in the shared dev-set articles
        assert "Applied Biosystems" in e.text
    # the timeline: claims per publication year, adding up to the entity's claims, each year a search
    years = re.findall(r'<tr><td>(?:<a href="([^"]+)">)?(\d{4}|undated)(?:</a>)?</td><td>(\d+)</td>', e.text)
    claims = int(re.search(r'id="claim-count">(\d+)<', e.text).group(1))
    assert years and sum(int(n) for _, _, n in years) == claims
    url, year, n = next(y for y in years if y[0])
    found = web.get("/api/search", params={"q": "Thermo Fisher Scientific", "company": "Thermo Fisher Scientific",
                                           "since": f"{year}-01-01", "until": f"{year}-12-31", "limit": 1000}).json()
    assert sum(1 + len(h["also_reported_by"]) for h in found["hits"]) == int(n)
    assert html.unescape(url).startswith("/search?q=Thermo+Fisher+Scientific&company=Thermo+Fisher+Scientific&since=")

    d = web.get("/dossier/Thermo Fisher")
    assert d.status_code == 200 and 'id="web-nav"' in d.text and 'id="chain"' in d.text
    assert "'unsafe-inline'" in d.headers["content-security-policy"]
    assert "'unsafe-inline'" not in e.headers["content-security-policy"]
    links = re.findall(r'href="(/dossier/[^"]+)" download', d.text)
    assert [link.split("/dossier/Thermo%20Fisher%20Scientific")[1] for link in links] == \
        [".html", ".md", ".json", ".csv", "/pack.zip"]
    for suffix, kind in ((".html", "text/html"), (".md", "text/markdown"), (".csv", "text/csv"),
                         (".json", "application/json")):
        got = web.get(f"/dossier/Thermo%20Fisher%20Scientific{suffix}")
        assert got.status_code == 200 and got.headers["content-type"].startswith(kind)
        assert got.headers["content-disposition"] == f'attachment; filename="dossier-thermo-fisher-scientific{suffix}"'
    pack = web.get("/dossier/Thermo%20Fisher%20Scientific/pack.zip")
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(pack.content)) as zf:
        assert {"dossier.html", "dossier.json", "chain.csv", "MANIFEST.sha256"} <= set(zf.namelist())


# -- untrusted text ---------------------------------------------------------------------------------


def test_xss_in_documents_and_queries_is_inert(make_pipeline, tmp_path: Path) -> None:
    from pipeline.ingest import ingest

    pipe = make_pipeline()
    doc = tmp_path / "evil.md"
    doc.write_text(f"---\ntitle: {XSS} Promega report\npublished: 2021-03-04\nurl: javascript:alert(1)\n---\n\n"
                   + article_text(f"Promega sold DNA kits {XSS} to police in Xinjiang last spring."))
    assert ingest([str(doc)], pipe.settings, pipeline=pipe).ok
    client = TestClient(create_app(pipe.settings, pipeline=pipe), base_url=BASE)
    pages = [client.get("/search", params={"q": f"DNA kits {XSS}"}), client.get("/"),
             client.get("/entities/company/Promega")]
    hit = client.get("/api/search", params={"q": "DNA kits police Xinjiang", "limit": 1}).json()["hits"][0]
    pages.append(client.get(f"/claims/{hit['claim_id']}"))
    pages.append(client.get("/dossier/Promega"))
    pages.append(client.get("/search", params={"q": "DNA", "company": XSS}))
    for r in pages:
        assert r.status_code in (200, 400), r.text
        lower = r.text.lower()
        assert "<script" not in lower and "<img src=x" not in lower and 'href="javascript' not in lower
        assert "onerror=\"alert" not in lower
    assert "&lt;script&gt;" in pages[0].text  # shown as text
    assert "script-src 'none'" in pages[0].headers["content-security-policy"]


# -- access -------------------------------------------------------------------------------------------


def test_token_required_when_set(demo_store) -> None:
    client = TestClient(create_app(demo_store.settings, pipeline=demo_store.pipe, token="s3cret-token"),
                        base_url="http://192.0.2.10:8000")
    assert_error(client.get("/api/entities"), 401, "a token is required")
    assert_error(client.get("/"), 401, "a token is required")
    assert client.get("/api/entities", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/entities", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert client.get("/login", params={"token": "nope"}, follow_redirects=False).status_code == 401
    login = client.get("/login", params={"token": "s3cret-token"}, follow_redirects=False)
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "s3cret-token" not in cookie
    assert client.get("/").status_code == 200  # the cookie now rides along


def test_cross_site_writes_and_foreign_hosts_refused(web) -> None:
    assert_error(web.post("/api/search", headers={"Origin": "https://evil.example"}), 403, "cross-site")
    assert_error(web.post("/search", headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross-site")
    assert web.post("/api/search", headers={"Origin": BASE}).status_code == 405  # same origin: just no such POST
    assert_error(web.get("/", headers={"Host": "rebound.evil.example"}), 400, "not served here")
    headers = web.get("/").headers
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'self'" in headers["content-security-policy"]


def test_serve_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    result = cli("--home", tmp_path, "serve", "--host", "0.0.0.0")
    assert_one_line_error(result, 2, "refusing to serve on 0.0.0.0 without a token", "DUALUSE_WEB_TOKEN")


# -- one writer, fresh reads --------------------------------------------------------------------------


NEW_CLAIM = "Orbitex Dynamics shipped forty hovercraft iris scanners to the Zanzibar harbour police in March 2024."


def test_documents_ingested_by_another_process_are_found(make_pipeline, tmp_path: Path) -> None:
    from pipeline.ingest import ingest

    pipe = make_pipeline()
    first = tmp_path / "first.txt"
    first.write_text(article_text())
    assert ingest([str(first)], pipe.settings, pipeline=pipe).ok
    app = create_app(pipe.settings, pipeline=pipe)
    client = TestClient(app, base_url=BASE)
    query = "hovercraft iris scanners Zanzibar harbour police"

    def top(mode: str) -> list[str]:
        r = client.get("/api/search", params={"q": query, "mode": mode, "limit": 3})
        assert r.status_code == 200, r.text
        return [h["text"] for h in r.json()["hits"]]

    assert NEW_CLAIM not in top("hybrid") + top("dense") + top("keyword")  # the indexes are loaded now
    from pipeline import keyword

    held = keyword.current(pipe.store, pipe.settings.keyword_path)
    assert held is not None
    second = tmp_path / "second.txt"
    second.write_text(article_text(NEW_CLAIM))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUALUSE_")}
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(pipe.settings.home), "ingest",
                           "--no-prefect", str(second)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr

    engine = app.state.engine
    assert top("dense")[0] == NEW_CLAIM  # scored exactly from the store beside the stale index
    assert top("hybrid")[0] == NEW_CLAIM
    assert engine.index.delta and engine.index.reopens == 0
    assert top("keyword")[0] == NEW_CLAIM  # from the keyword index the other process built
    now = keyword.current(engine.store, pipe.settings.keyword_path)
    assert now is not None and now is not held and now.fingerprint == engine.store.claims_fingerprint()
    assert "Orbitex Dynamics shipped forty <mark>hovercraft</mark>" in client.get("/search", params={"q": query}).text

    engine.index.reopen_after = 0  # past the threshold: the chromadb client is opened afresh
    client.get("/api/search", params={"q": "x"})  # nothing changed since: no reopen
    assert engine.index.reopens == 0
    (tmp_path / "third.txt").write_text(article_text("A third note about nothing new at all, written for tests."))
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(pipe.settings.home), "ingest",
                           "--no-prefect", str(tmp_path / "third.txt")], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert top("dense")[0] == NEW_CLAIM
    assert engine.index.reopens == 1 and not engine.index.delta  # the reopened index itself has it
    assert top("hybrid")[0] == NEW_CLAIM


def test_stored_snapshots_download_checked_and_never_rendered(make_pipeline, tmp_path: Path) -> None:
    from pipeline.ingest import ingest
    from pipeline.store import Store

    pipe = make_pipeline()
    doc = tmp_path / "report.html"
    doc.write_text("<html><head><title>Scanner report</title></head><body><article><p>"
                   + article_text().replace("\n\n", "</p><p>") + f"</p><p>{XSS}</p></article></body></html>")
    assert ingest([str(doc)], pipe.settings, pipeline=pipe).ok
    client = TestClient(create_app(pipe.settings, pipeline=pipe), base_url=BASE)
    page = client.get("/search", params={"q": "DNA sequencers"})
    link = re.search(r'class="snapshot-link" href="(/documents/[0-9a-f]+/snapshot)"', page.text)
    assert link, page.text
    raw = client.get(link.group(1))
    assert raw.status_code == 200 and raw.content == doc.read_bytes()
    assert raw.headers["content-disposition"].startswith("attachment")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-security-policy"].startswith("sandbox")
    cid = re.search(r'href="/claims/([0-9a-f]+)"', page.text).group(1)
    detail = client.get(f"/api/claims/{cid}").json()
    claim_page = client.get(f"/claims/{cid}").text
    assert f'href="/snapshots/{detail["snapshot_sha256"]}"' in claim_page
    assert client.get(f"/snapshots/{detail['snapshot_sha256']}").content == doc.read_bytes()
    assert_error(client.get("/snapshots/" + "0" * 64), 404, "no stored snapshot")
    assert_error(client.get("/snapshots/../../etc/passwd"), 404, "")
    assert_error(client.get("/documents/nope/snapshot"), 404, "no document with id 'nope'")
    # altered on disk: refused, not served
    path = Store.snapshot_file(pipe.settings.snapshots_path, detail["snapshot_sha256"])
    path.write_bytes(path.read_bytes() + b"tampered")
    assert_error(client.get(f"/snapshots/{detail['snapshot_sha256']}"), 503, "does not match its SHA-256")
    path.unlink()
    assert_error(client.get(f"/snapshots/{detail['snapshot_sha256']}"), 404, "file is missing")
