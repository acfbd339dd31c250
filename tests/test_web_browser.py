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
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

SHOT_COPY = Path("/tmp/dualuse-web-search.png")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(demo_store) -> Iterator[str]:
    import uvicorn

    from pipeline.web.app import create_app

    port = free_port()
    app = create_app(demo_store.settings, pipeline=demo_store.pipe)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


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
