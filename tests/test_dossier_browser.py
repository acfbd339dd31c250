"""The HTML dossier as a person sees it: rendered by a real headless Chromium (Debian's package,
driven by Playwright with ``executable_path``; nothing is downloaded), screenshotted, and checked
for its key sections, its pictures actually decoding, and untrusted text staying inert.

`make test` installs Debian's chromium when it is missing and it can (root); elsewhere these tests
skip with the reason shown.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.dossier import build_dossier
from pipeline.dossier_render import render
from pipeline.kb import load_kb

XSS = '<script>window.__pwned = 1; alert(1)</script><img src=x onerror="window.__pwned = 2">'


def _open(browser: Any, html_path: Path) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(html_path.as_uri())
    page.wait_for_load_state("load")
    return page, dialogs


def test_dossier_html_renders_with_its_sections_and_pictures(demo_store, browser, tmp_path: Path) -> None:
    d = build_dossier(demo_store.pipe.store, load_kb(), "Thermo Fisher")
    html = tmp_path / "dossier.html"
    html.write_text(render(d, "html"), encoding="utf-8")
    page, dialogs = _open(browser, html)
    shot = tmp_path / "dossier.png"
    page.screenshot(path=str(shot), full_page=True)

    assert page.locator("#summary h1").inner_text() == "Thermo Fisher Scientific"
    for section in ("#pictures", "#chain", "#claims", "#timeline", "#sources"):
        assert page.locator(section).is_visible(), section
    assert page.locator("#chain tbody tr").count() == len(d.chain) > 0
    assert page.locator("#sources tbody tr").count() == len(d.sources) > 0
    shown_claims = page.locator("#claims blockquote").count()
    assert shown_claims == len(d.claims) > 0
    for stance in ("allegation", "company_statement", "official_statement", "fact"):
        assert page.locator(f"#stance-{stance} h3").is_visible()
    # the pictures are real images the browser decoded, not broken icons
    for img in ("#timeline-chart", "#network-graph"):
        width = page.eval_on_selector(img, "el => el.complete ? el.naturalWidth : 0")
        assert width > 300, img
    # every chain row's claim links point at a claim on the page
    first_link = page.locator("#chain tbody tr a.cid").first.get_attribute("href")
    assert first_link and page.locator(first_link).count() == 1
    assert not dialogs

    from PIL import Image  # matplotlib's dependency

    with Image.open(shot) as im:
        assert im.width == 1200 and im.height > 2000  # a full page, not a blank viewport
        colours = im.convert("RGB").resize((120, 200)).getcolors(maxcolors=100000)
        assert colours is not None and len(colours) > 50  # text, tables and charts, not an empty page
    page.close()


def test_untrusted_text_stays_inert_in_the_browser(demo_store, browser, tmp_path: Path) -> None:
    d = build_dossier(demo_store.pipe.store, load_kb(), "Thermo Fisher")
    claim = replace(d.claims[0], text=XSS, title=XSS, url="javascript:window.__pwned=3")
    source = replace(d.sources[0], title=XSS, url="javascript:window.__pwned=4", site=XSS)
    evil = replace(d, company=XSS, aliases=(XSS,), claims=(claim, *d.claims[1:]), sources=(source, *d.sources[1:]))
    html = tmp_path / "evil.html"
    html.write_text(render(evil, "html"), encoding="utf-8")
    page, dialogs = _open(browser, html)
    page.wait_for_timeout(300)
    assert not dialogs
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("script").count() == 0
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert XSS in page.locator("#summary h1").inner_text()  # shown as text, for the reader to see
    page.close()
