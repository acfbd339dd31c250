"""The web app as a person uses it: uvicorn on a free 127.0.0.1 port, driven by Debian's chromium
through Playwright (``executable_path``; nothing downloaded). Home -> search -> a company facet ->
a claim -> the company's dossier -> the JSON download, with a screenshot of the search page (also
copied to /tmp/dualuse-web-search.png for a person to look at)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

SHOT_COPY = Path("/tmp/dualuse-web-search.png")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(settings: Any, pipe: Any) -> Iterator[str]:
    """uvicorn serving the app for ``settings`` on a free 127.0.0.1 port, in a thread."""
    import uvicorn

    from pipeline.web.app import create_app

    port = free_port()
    app = create_app(settings, pipeline=pipe)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        app.state.engine.jobs.close()


@pytest.fixture(scope="module")
def server(demo_store) -> Iterator[str]:
    with serving(demo_store.settings, demo_store.pipe) as url:
        yield url


def shoot(page: Any, name: str, tmp_path: Path) -> Path:
    """A full-page screenshot, also copied to /tmp/dualuse-web-NAME.png for a person to look at."""
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, Path(f"/tmp/dualuse-web-{name}.png"))
    from PIL import Image

    with Image.open(shot) as im:
        colours = im.convert("RGB").resize((128, 100)).getcolors(maxcolors=100000)
        assert colours is not None and len(colours) > 10, f"{name}: a blank page"
    return shot


def watch_console(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append("dialog: " + d.message), d.dismiss()))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def test_search_facet_claim_dossier_download(server: str, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(server + "/")
    assert page.locator("#counts").is_visible()
    assert page.locator("#top-companies tbody tr").count() > 0
    page.fill("input[name=q]", "police bought DNA sequencers")
    page.click("form.search button[type=submit]")
    page.wait_for_url("**/search?q=police+bought+DNA+sequencers*")
    hits = page.locator("li.hit")
    assert hits.count() == 10
    assert page.locator("li.hit mark").count() > 0
    assert page.locator("#facet-company li").count() > 0 and page.locator("#facet-year li").count() > 0
    shot = tmp_path / "search.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, SHOT_COPY)

    facet = page.locator("#facet-company li a").first
    company = facet.inner_text()
    facet.click()
    page.wait_for_load_state("load")
    assert "company=" in page.url
    assert company in page.locator("#active-filters").inner_text()
    assert page.locator("li.hit").count() > 0
    for chips in page.locator("li.hit p.chips").all():
        assert company in chips.inner_text()

    page.locator("li.hit a.claim-link").first.click()
    page.wait_for_load_state("load")
    assert "/claims/" in page.url
    assert page.locator("#paragraph mark#claim").is_visible()
    assert len(page.locator("#snapshot").inner_text()) == 64

    page.locator(f'a.dossier-link[href="/dossier/{quote(company, safe="")}"]').click()
    page.wait_for_load_state("load")
    assert page.locator("#web-nav").is_visible()
    assert page.locator("#summary h1").inner_text() == company
    assert page.locator("#chain").is_visible() and page.locator("#sources tbody tr").count() > 0

    with page.expect_download() as info:
        page.locator("#downloads a", has_text="JSON").click()
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(str(saved))
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["company"] == company and data["claims"]
    assert not dialogs and not errors, (dialogs, errors)

    from PIL import Image

    with Image.open(shot) as im:
        assert im.width == 1280 and im.height >= 1000
        colours = im.convert("RGB").resize((128, 100)).getcolors(maxcolors=100000)
        assert colours is not None and len(colours) > 20  # text and highlights, not a blank page
    context.close()


def click_and_load(page: Any, selector: str) -> None:
    """Click what leads to another page and wait for that page (a form post, a link)."""
    with page.expect_navigation():
        page.click(selector)


def test_batch_search_with_a_csv(server: str, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems = watch_console(page)
    names = tmp_path / "names.csv"
    names.write_text('name,type\nThermo Fisher,\nPromega,company\nXinjiang police,agency\nNo Such Vendor,\n'
                     '"<script>alert(1)</script>",\n', encoding="utf-8")
    page.goto(server + "/")
    page.click("header nav a:text('Batch search')")
    page.wait_for_url("**/batch")
    page.set_input_files("#batch-form input[type=file]", str(names))
    click_and_load(page, "#batch-form button[type=submit]")
    rows = page.locator("#batch-results tbody tr")
    assert rows.count() == 5
    assert "found" in rows.nth(0).inner_text() and "Thermo Fisher Scientific" in rows.nth(0).inner_text()
    assert "not found" in rows.nth(3).inner_text()
    assert "<script>alert(1)</script>" in rows.nth(4).inner_text()  # shown as text, not run
    shoot(page, "batch", tmp_path)

    with page.expect_download() as info:
        page.click("#batch-download button")
    saved = tmp_path / "batch.csv"
    info.value.save_as(str(saved))
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("name,type,status") and len(lines) == 6
    assert lines[1].startswith("Thermo Fisher,,found,company,Thermo Fisher Scientific,")

    click_and_load(page, "#batch-results a:text('Promega')")
    assert "/entities/company/Promega" in page.url
    assert page.locator("h1").inner_text().startswith("Promega")
    shoot(page, "entity", tmp_path)
    assert not problems, problems
    context.close()


def test_watch_add_coverage_and_alert(make_pipeline, browser: Any, tmp_path: Path) -> None:
    from pipeline.ingest import ingest
    from tests.helpers import article_text

    pipe = make_pipeline()
    seed = tmp_path / "seed.txt"
    seed.write_text(article_text())
    assert ingest([str(seed)], pipe.settings, pipeline=pipe).ok
    report = tmp_path / "harbour-report.txt"
    report.write_text(article_text("Orbitex Dynamics sold hovercraft iris scanners to the Zanzibar harbour "
                                   "police in 2024."), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch_console(page)
    with serving(pipe.settings, pipe) as url:
        page.goto(url + "/watches")
        page.fill("#watch-form input[name=name]", "iris-scanners")
        page.fill("#watch-form input[name=query]", "hovercraft iris scanners")
        click_and_load(page, "#watch-form button[type=submit]")
        assert page.locator("#done").inner_text() == "added watch iris-scanners"
        assert page.locator("#watches tbody tr").count() == 1
        shoot(page, "watches", tmp_path)

        page.click("header nav a:text('Add coverage')")
        page.set_input_files("#ingest-form input[type=file]", str(report))
        page.click("#ingest-form button[type=submit]")
        page.wait_for_url("**/ingest/jobs/*")
        # no JavaScript: the page refreshes itself until the job is done
        page.wait_for_selector("#job-state.state-done", timeout=120_000)
        assert "1 added" in page.locator("#job-state").inner_text()
        assert "harbour-report.txt" in page.locator("#job-sources").inner_text()
        assert page.locator("#job-progress").get_attribute("value") == "1"
        shoot(page, "job", tmp_path)

        click_and_load(page, "header nav a:text('Alerts')")
        assert page.locator("#alerts tbody tr").count() == 1
        assert "hovercraft iris scanners" in page.locator("#alerts").inner_text()
        shoot(page, "alerts", tmp_path)
        click_and_load(page, "#alerts a[href^='/claims/'] >> nth=0")
        assert "hovercraft iris scanners" in page.locator("#paragraph").inner_text()

        page.goto(url + "/watches")
        click_and_load(page, "#watches button:text('Remove')")
        assert page.locator("#done").inner_text() == "removed watch iris-scanners"
        assert page.locator("#no-watches").is_visible()
    assert not problems, problems
    context.close()
