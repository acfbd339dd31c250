"""Dossier outputs: HTML, Markdown, JSON and CSV, with untrusted article text in every field.

Text in a dossier comes from third-party articles: nothing in it may become markup, a script, a
javascript: link, a broken Markdown table or a spreadsheet formula."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pipeline.dossier import ChainRow, Dossier, DossierClaim, DossierSource, build_dossier
from pipeline.dossier_render import chain_csv, md, md_link, render, sources_csv, to_html, to_markdown
from pipeline.event_dates import EventDate
from pipeline.kb import load_kb
from pipeline.settings import Settings
from pipeline.stance import STANCES

SCRIPT = "<script>alert(1)</script>"
QUOTES = '"quotes"'
IMG = "<img src=x onerror=alert(1)>"
JS_URL = "javascript:alert(1)"
HOSTILE = f"{SCRIPT} {QUOTES} {IMG} a|b"
FORMULAS = ("=", "+", "-", "@")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def dclaim(cid: str, text: str, *, stance: str = "fact", doc_id: str = "d1", url: str | None = JS_URL,
           title: str | None = HOSTILE, published: str | None = "2021-01-15", products: tuple[str, ...] = (),
           agencies: tuple[str, ...] = (), regions: tuple[str, ...] = (),
           dates: tuple[EventDate, ...] = ()) -> DossierClaim:
    return DossierClaim(claim_id=cid, text=text, stance=stance, doc_id=doc_id, source=f"/tmp/{SCRIPT}.md", url=url,
                        title=title, published=published, start=0, end=len(text), companies=(HOSTILE,),
                        products=products, agencies=agencies, regions=regions, event_dates=dates)


def dsource(doc_id: str, *, url: str | None = JS_URL, title: str | None = HOSTILE,
            published: str | None = "2021-01-15", site: str | None = SCRIPT) -> DossierSource:
    return DossierSource(doc_id=doc_id, source=f"/tmp/{SCRIPT}.md", url=url, title=title, site=site,
                         published=published, sha256="a" * 64, text_sha256="b" * 64, group=doc_id,
                         content_type="text/markdown", claims=1)


def hostile_dossier() -> Dossier:
    """Every text field carries markup, quotes, pipes or a formula; every URL is javascript:."""
    claims = (
        dclaim("c1", f"{HOSTILE} sold kits in February 2019.", products=(IMG,), agencies=("=HYPERLINK(\"x\")",),
               regions=("+SUM(A1)",), dates=(EventDate("2019-02", "month", 0, 13, f"{SCRIPT}"),)),
        dclaim("c2", "=cmd|' /C calc'!A0 is what the police bought.", stance="allegation", products=("-2+3",),
               agencies=("@SUM(1)",), regions=(QUOTES,)),
        dclaim("c3", f"The company said {IMG} was never sold.", stance="company_statement", url=None, title=None,
               published=None),
    )
    chain = (
        ChainRow(IMG, "=HYPERLINK(\"x\")", "+SUM(A1)", ("c1",)),
        ChainRow("-2+3", "@SUM(1)", QUOTES, ("c2",)),
        ChainRow(None, None, f"{SCRIPT}|x", ("c3",)),
    )
    sources = (dsource("d1"), dsource("d2", url="https://example.org/ok", title="@SUM(2)", site="=1+1"))
    return Dossier(company=f"{SCRIPT} Corp", entity_id="company:x", aliases=(QUOTES, IMG, "x|y"), country=SCRIPT,
                   parent=IMG, brands=(f"{SCRIPT} Brand",), products=(IMG,), chain=chain, claims=claims,
                   sources=sources)


def empty_dossier() -> Dossier:
    return Dossier(company="Nobody Inc.", entity_id="company:nobody-inc", aliases=(), country=None, parent=None,
                   brands=(), products=(), chain=(), claims=(), sources=(), since="2030-01-01")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def parse(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def assert_safe_html(html: str) -> list[tuple[str, dict[str, str | None]]]:
    low = html.lower()
    assert "<script" not in low
    assert "<img src=x" not in low
    assert 'href="javascript:' not in low and "href='javascript:" not in low
    tags = parse(html)
    assert "script" not in {t for t, _ in tags}
    for tag, attrs in tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if "href" in attrs:
            assert (attrs["href"] or "").startswith(("#", "http://", "https://")), attrs
        if tag == "img":
            assert (attrs["src"] or "").startswith(("data:image/png;base64,", "images/")), attrs
    return tags


def md_tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def assert_tables_intact(text: str) -> None:
    tables = md_tables(text)
    for table in tables:
        widths = {unescaped_pipes(line) for line in table}
        assert len(widths) == 1, table


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# ---------------------------------------------------------------------------------------------
# HTML


def test_html_escapes_everything_from_content() -> None:
    html = to_html(hostile_dossier(), {})
    tags = assert_safe_html(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&#34;quotes&#34;" in html or "&quot;quotes&quot;" in html
    # the javascript: URL may be shown as text, never linked
    assert not [a for _, a in tags if JS_URL in (a.get("href") or "")]
    assert any(a.get("href") == "https://example.org/ok" for _, a in tags)
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert title and "&lt;script&gt;" in title.group(1)


def test_html_internal_links_resolve() -> None:
    d = hostile_dossier()
    html = to_html(d, {})
    tags = parse(html)
    ids = {a["id"] for _, a in tags if a.get("id")}
    targets = {(a.get("href") or "")[1:] for _, a in tags if (a.get("href") or "").startswith("#")}
    assert targets and targets <= ids
    assert {f"claim-{c.claim_id}" for c in d.claims} <= ids
    assert {f"stance-{s}" for s in STANCES} <= ids


def test_html_with_embedded_pictures() -> None:
    d = hostile_dossier()
    html = render(d, "html")
    tags = assert_safe_html(html)
    srcs = {a.get("id"): a.get("src") or "" for t, a in tags if t == "img"}
    assert set(srcs) == {"timeline-chart", "network-graph"}
    for src in srcs.values():
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_html_image_paths_are_escaped_attributes() -> None:
    html = to_html(hostile_dossier(), {"timeline": 'images/t.png" onerror="alert(1)', "network": "images/n.png"})
    assert_safe_html(html)


# ---------------------------------------------------------------------------------------------
# Markdown


def test_md_escapes_markup_and_table_pipes() -> None:
    assert md(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md("a|b") == "a\\|b"
    assert md("*bold* _it_ `code` [x](y) ~s~ back\\slash") == \
        "\\*bold\\* \\_it\\_ \\`code\\` \\[x\\](y) \\~s\\~ back\\\\slash"
    assert md("a &amp; b") == "a &amp;amp; b"
    assert md("two\nlines\t and  spaces") == "two lines and spaces"
    assert md(None) == "" and md("") == ""


def test_md_link_only_links_http() -> None:
    assert md_link("click", JS_URL) == "click"
    assert md_link(None, JS_URL) == "javascript:alert(1)"
    assert md_link("x|y", "data:text/html,<b>") == "x\\|y"
    assert md_link("t", "https://e.org/a b(c)<d>") == "[t](https://e.org/a%20b%28c%29%3Cd%3E)"
    assert md_link(SCRIPT, "http://e.org/") == "[&lt;script&gt;alert(1)&lt;/script&gt;](http://e.org/)"
    assert md_link(None, None) == ""


def test_markdown_escapes_everything_from_content() -> None:
    text = to_markdown(hostile_dossier(), {})
    assert "<script" not in text.lower() and "<img" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "](javascript:" not in text
    assert "a\\|b" in text and "x\\|y" in text
    assert_tables_intact(text)
    assert text.startswith("# Dossier: &lt;script&gt;alert(1)&lt;/script&gt; Corp\n")
    for stance in STANCES:
        assert re.search(rf"^### .* \({len(hostile_dossier().by_stance()[stance])}\)$", text, re.M)


def test_markdown_url_with_a_pipe_keeps_the_table_intact() -> None:
    d = replace(hostile_dossier(), sources=(dsource("d1", url="https://example.org/search?q=dna|police"),))
    assert_tables_intact(to_markdown(d, {}))


# ---------------------------------------------------------------------------------------------
# CSV


def test_chain_csv_neutralises_formulas() -> None:
    d = hostile_dossier()
    rows = csv_rows(chain_csv(d))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["vendor", "product", "agency", "region"]
    assert len(body) == len(d.chain)
    col = {name: i for i, name in enumerate(header)}
    first = body[0]
    assert first[col["agency"]] == "'=HYPERLINK(\"x\")"
    assert first[col["region"]] == "'+SUM(A1)"
    second = body[1]
    assert second[col["product"]] == "'-2+3" and second[col["agency"]] == "'@SUM(1)"
    assert second[col["example_claim"]] == "'=cmd|' /C calc'!A0 is what the police bought."
    assert second[col["claims"]] == "1" and second[col["claim_ids"]] == "c2"
    for row in body:
        assert all(not cell.startswith(FORMULAS) for cell in row), row


def test_sources_csv_neutralises_formulas() -> None:
    rows = csv_rows(sources_csv(hostile_dossier()))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    assert {"doc_id", "title", "url", "snapshot_sha256"} <= set(header)
    assert [r[col["title"]] for r in body] == [HOSTILE, "'@SUM(2)"]
    assert body[1][col["outlet"]] == "'=1+1"
    assert body[0][col["snapshot_sha256"]] == "a" * 64
    for row in body:
        assert all(not cell.startswith(FORMULAS) for cell in row), row


def test_csv_neutralises_a_tab_prefix() -> None:
    d = replace(hostile_dossier(), chain=(ChainRow("\tcmd", None, None, ("c1",)),))
    [row] = csv_rows(chain_csv(d))[1:]
    assert row[1] == "'\tcmd"


@pytest.mark.parametrize("value", ["line one\rline two", "\r=1+1"])
def test_csv_cell_with_a_carriage_return_stays_in_its_row(value: str) -> None:
    d = replace(hostile_dossier(), chain=(ChainRow(value, None, None, ("c1",)),))
    rows = csv_rows(chain_csv(d))[1:]
    assert len(rows) == 1
    assert rows[0][1].lstrip("'") == value


# ---------------------------------------------------------------------------------------------
# JSON and empty dossiers


def test_json_keeps_content_verbatim() -> None:
    j = json.loads(render(hostile_dossier(), "json"))
    assert j["company"] == f"{SCRIPT} Corp"
    assert j["claims"][0]["url"] == JS_URL  # data, not markup: consumers decide
    assert [c["claim_id"] for c in j["claims"]] == ["c1", "c2", "c3"]
    assert j["chain"][2]["product"] is None
    assert {t["kind"] for t in j["timeline"]} == {"published", "event"}


@pytest.mark.parametrize("fmt", ["md", "html", "json", "csv"])
def test_empty_dossier_renders(fmt: str) -> None:
    out = render(empty_dossier(), fmt)
    if fmt == "json":
        j = json.loads(out)
        assert j["counts"] == {"documents": 0, "independent_sources": 0, "claims": 0, "chain_rows": 0}
        assert j["date_span"] == {"first": None, "last": None} and j["timeline"] == []
    elif fmt == "csv":
        assert out.startswith("vendor,product,agency,region,") and out.count("\n") == 1
    elif fmt == "html":
        assert_safe_html(out)
        for phrase in ("no dated documents", "No dated claims: no timeline chart.", "No chain links: no network graph.",
                       "The claims name no product, agency or region with this company.", "No claim is dated",
                       "Sources (0)"):
            assert phrase in out
        assert "<img" not in out
        assert "claims published 2030-01-01 to …" in out
    else:
        for phrase in ("**Date span:** no dated documents", "No dated claims: no timeline chart.",
                       "No claim is dated.", "## Sources (0)", "claims published 2030-01-01 to …"):
            assert phrase in out
        assert out.count("None.") == len(STANCES)


def test_only_event_dates_timeline() -> None:
    d = hostile_dossier()
    undated = tuple(replace(c, published=None) for c in d.claims)
    sources = tuple(dsource(s.doc_id, published=None) for s in d.sources)
    d = Dossier(company="X", entity_id="company:x", aliases=(), country=None, parent=None, brands=(), products=(),
                chain=d.chain, claims=undated, sources=sources)
    assert [e.kind for e in d.timeline()] == ["event"]
    html = render(d, "html")
    assert "no dated documents" in html
    assert "event stated" in html and "2019-02" in html
    assert_safe_html(html)


# ---------------------------------------------------------------------------------------------
# an ingested hostile document, end to end


HOSTILE_DOC = f"""---
title: '{SCRIPT} "quotes" {IMG}'
published: 2021-01-15
url: "{JS_URL}"
outlet: "{SCRIPT}"
---

Cellebrite sold its UFED phone extraction tool {SCRIPT} to police in Belarus, {QUOTES} {IMG} | pipe, records say.

Cellebrite said on Monday that it had stopped sales to Belarus in 2020 after the reports.
"""


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory, shared_tagger: Any, shared_embedder: Any) -> Any:
    from pipeline.ingest import Pipeline, ingest

    folder = tmp_path_factory.mktemp("hostile-docs")
    (folder / "hostile.md").write_text(HOSTILE_DOC, encoding="utf-8")
    settings = Settings.load(home=tmp_path_factory.mktemp("hostile-home"))
    pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
    report = ingest([str(folder)], settings, pipeline=pipe)
    assert report.ok and report.summary()["added"] == 1, report.to_json()
    yield pipe
    pipe.close()


def test_ingested_hostile_document_renders_safely(hostile_store, tmp_path: Path) -> None:
    d = build_dossier(hostile_store.store, load_kb(), "cellebrite")
    assert d.company == "Cellebrite" and len(d.claims) == 2
    [source] = d.sources
    assert source.url == JS_URL and source.title == f'{SCRIPT} "quotes" {IMG}'
    assert any(SCRIPT in c.text for c in d.claims)
    html = render(d, "html")
    assert_safe_html(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = render(d, "md")
    assert "<script" not in text and "<img" not in text and "](javascript:" not in text
    assert_tables_intact(text)
    assert "\\| pipe" in text
    for row in csv_rows(sources_csv(d))[1:] + csv_rows(chain_csv(d))[1:]:
        assert all(not cell.startswith(FORMULAS) for cell in row), row
    j = json.loads(render(d, "json"))
    assert j["sources"][0]["url"] == JS_URL
