"""Extract stage: HTML (trafilatura), PDF (pypdf), text/Markdown, typed skip reasons, language."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import SourceError
from pipeline.extract import extract
from pipeline.fetch import load_file
from pipeline.records import Fetched, SourceKind
from pipeline.settings import Settings
from tests.helpers import ARTICLE_SENTENCES, article_html, article_text, build_pdf


def raw(body: bytes | str, kind: SourceKind, source: str = "doc") -> Fetched:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return Fetched(source=source, locator=f"/abs/{source}", kind=kind, body=data)


COOKIE_BANNER = """<div id="cookie-banner" class="cookie-notice">
<p>This website uses cookies to improve your experience. Accept all cookies to keep browsing.</p>
<button>Accept</button></div>"""
COMMENT_FORM = """<section id="comments" class="comments"><h3>Leave a Reply</h3>
<form id="commentform" action="/wp-comments-post.php" method="post">
<p>Your email address will not be published. Required fields are marked *</p>
<textarea name="comment"></textarea><p>Notify me of follow-up comments by email.</p>
<input type="submit" value="Post Comment"></form></section>"""


def test_html_article_title_text_and_furniture_dropped() -> None:
    html = article_html(extra_body=COMMENT_FORM).replace("<header>", COOKIE_BANNER + "<header>")
    doc = extract(raw(html, SourceKind.HTML, "story.html"))
    assert doc.title == "Police bought DNA sequencers from a European vendor"
    assert doc.published == "2021-06-11"
    assert doc.lang == "en"
    for sentence in ARTICLE_SENTENCES:
        assert sentence in doc.text
    for furniture in ("cookies", "Leave a Reply", "email address will not be published",
                      "Notify me", "All rights reserved"):
        assert furniture not in doc.text
    assert doc.doc_id == raw(html, SourceKind.HTML, "story.html").doc_id
    assert doc.kind is SourceKind.HTML


def test_html_text_is_one_paragraph_per_line() -> None:
    doc = extract(raw(article_html(), SourceKind.HTML))
    paragraphs = doc.text.split("\n\n")
    assert all(p and "\n" not in p for p in paragraphs)
    assert ARTICLE_SENTENCES[0] in paragraphs


def test_boilerplate_only_html_page() -> None:
    html = f"""<!doctype html><html><head><title>Example News</title></head><body>{COOKIE_BANNER}
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/login">Log in</a></nav>
{COMMENT_FORM}<footer><p>Copyright 2021 Example News. All rights reserved.</p></footer></body></html>"""
    with pytest.raises(SourceError) as info:
        extract(raw(html, SourceKind.HTML, "index.html"))
    assert info.value.reason in ("boilerplate", "empty")


def test_pdf_with_text_layer() -> None:
    pdf = build_pdf([
        "The provincial police bought forty DNA sequencers from a vendor",
        "in 2019, procurement records show. The vendor said it did not",
        "know how the equipment was used after the sale to the bureau.",
        "",
        "Lawmakers asked the vendor to explain its sales process in detail.",
    ], title="Sequencer procurement report", creation="D:20210611120000Z")
    doc = extract(raw(pdf, SourceKind.PDF, "report.pdf"))
    assert doc.title == "Sequencer procurement report"
    assert doc.published == "2021-06-11"
    # layout line breaks are re-flowed into one paragraph; the blank line starts a new one
    assert doc.text.split("\n\n") == [
        "The provincial police bought forty DNA sequencers from a vendor in 2019, procurement records "
        "show. The vendor said it did not know how the equipment was used after the sale to the bureau.",
        "Lawmakers asked the vendor to explain its sales process in detail.",
    ]


def test_pdf_without_text_layer() -> None:
    with pytest.raises(SourceError) as info:
        extract(raw(build_pdf([]), SourceKind.PDF, "scan.pdf"))
    assert info.value.reason == "no-text-pdf"


def test_corrupt_pdf_is_unreadable() -> None:
    with pytest.raises(SourceError) as info:
        extract(raw(b"%PDF-1.4\nthis is not really a pdf", SourceKind.PDF, "bad.pdf"))
    assert info.value.reason == "unreadable"


def test_binary_file_named_txt(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(SourceError) as info:
        extract(load_file(str(path), settings))
    assert info.value.reason == "binary"


@pytest.mark.parametrize("body", [b"", b"   \n\n\t \n", b"Too short to be an article."])
def test_empty_text(body: bytes) -> None:
    with pytest.raises(SourceError) as info:
        extract(raw(body, SourceKind.TEXT, "empty.txt"))
    assert info.value.reason == "empty"


def test_markdown_front_matter() -> None:
    md = """---
title: "Vendors and the provincial police"
published: 2021-06-11
url: https://example.org/story
outlet: Example Outlet
author: test author
---

# A heading that is not the title

""" + article_text()
    doc = extract(raw(md, SourceKind.TEXT, "note.md"))
    assert doc.title == "Vendors and the provincial police"
    assert doc.published == "2021-06-11"
    assert doc.url == "https://example.org/story"
    assert doc.site == "Example Outlet"
    assert doc.author == "test author"
    assert "title:" not in doc.text and "---" not in doc.text
    assert doc.text.startswith("A heading that is not the title\n\n")  # '#' stripped
    assert ARTICLE_SENTENCES[-1] in doc.text


def test_text_dateline_byline_and_headline() -> None:
    txt = "World\n\nSeptember 26, 2023\n\nBy Jane Reporter\n\n" \
          "Police in the province bought DNA sequencers from a foreign vendor\n\n" + article_text()
    doc = extract(raw(txt, SourceKind.TEXT, "dump.txt"))
    assert doc.published == "2023-09-26"
    assert doc.author == "Jane Reporter"
    assert doc.title == "Police in the province bought DNA sequencers from a foreign vendor"
    assert "September 26, 2023" not in doc.text
    assert "By Jane Reporter" not in doc.text
    assert not doc.text.startswith("World")  # the section label is dropped
    assert ARTICLE_SENTENCES[0] in doc.text


def test_text_normalisation_keeps_nbsp_and_curly_quotes() -> None:
    sentence = ("The vendor\u2019s statement said \u201cwe comply\u201d and named Thermo\u00a0Fisher "
                "as a rival supplier.")
    doc = extract(raw("\r\n".join([sentence, *ARTICLE_SENTENCES]), SourceKind.TEXT, "crlf.txt"))
    assert sentence in doc.text
    assert "\r" not in doc.text


def test_cp1252_text_decodes() -> None:
    body = ("Caf\u00e9 owners said the police bought sequencers \u2013 " + " ".join(ARTICLE_SENTENCES)).encode("cp1252")
    doc = extract(raw(body, SourceKind.TEXT, "legacy.txt"))
    assert "Caf\u00e9 owners" in doc.text and "\u2013" in doc.text


FRENCH = ("La police r\u00e9gionale a achet\u00e9 quarante s\u00e9quenceurs d'ADN aupr\u00e8s d'un fournisseur "
          "europ\u00e9en en 2019, selon les documents de passation de march\u00e9s. Les responsables ont "
          "d\u00e9clar\u00e9 que les machines serviraient \u00e0 constituer une base de "
          "donn\u00e9es g\u00e9n\u00e9tiques "
          "des habitants de la province, sans leur consentement.")


def test_non_english_detected() -> None:
    doc = extract(raw(FRENCH, SourceKind.TEXT, "fr.txt"))
    assert doc.lang == "fr"
    assert extract(raw(article_text(), SourceKind.TEXT, "en.txt")).lang == "en"


def test_ingest_skips_non_english(tmp_path: Path, make_pipeline) -> None:
    from pipeline.ingest import ingest

    path = tmp_path / "fr.txt"
    path.write_text(FRENCH, encoding="utf-8")
    pipe = make_pipeline()
    report = ingest([str(path)], pipe.settings, pipeline=pipe)
    [result] = report.results
    assert (result.status, result.reason) == ("skipped", "not-english")
    assert "'fr'" in (result.detail or "")
    assert pipe.store.stats()["documents"] == 0
    assert report.ok


CHINESE_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>警方采购DNA测序仪 | 新闻网</title>
</head><body><header><nav><a href="/">首页</a> <a href="/world">国际</a></nav></header>
<article><h1>警方采购DNA测序仪</h1>
<p>据采购记录显示，该地区公安局于2019年从一家欧洲供应商购买了四十台DNA测序仪。官员表示，这些机器将用于建立该省居民的基因数据库。</p>
<p>一个人权组织的研究人员表示，这些样本是在未经同意的情况下采集的，并且针对少数民族。供应商表示，它不知道该局在销售后如何使用其设备。</p>
<p>该公司发言人表示，公司遵守适用于其产品的所有出口管制规定。两个国家的立法者要求供应商解释其销售流程和尽职调查。</p>
</article><footer><p>版权所有 2021 新闻网</p></footer></body></html>"""


def test_chinese_article_page_is_not_english_not_boilerplate(tmp_path: Path, make_pipeline) -> None:
    from pipeline.ingest import ingest

    assert extract(raw(CHINESE_PAGE, SourceKind.HTML, "zh.html")).lang == "zh"
    path = tmp_path / "zh.html"
    path.write_text(CHINESE_PAGE, encoding="utf-8")
    pipe = make_pipeline()
    [result] = ingest([str(path)], pipe.settings, pipeline=pipe).results
    assert (result.status, result.reason) == ("skipped", "not-english")


@pytest.mark.parametrize(("encoding", "bom"), [("utf-16", True), ("utf-16-le", False), ("utf-16-be", False),
                                               ("utf-8-sig", True), ("utf-32", True)])
def test_unicode_text_files_are_read_as_text(tmp_path: Path, encoding: str, bom: bool) -> None:
    body = "---\ntitle: Sequencers for the bureau\n---\n\n" + article_text("Café owners were not asked.")
    path = tmp_path / "notes.txt"
    path.write_bytes(body.encode(encoding))
    doc = extract(load_file(str(path), Settings()))
    assert doc.title == "Sequencers for the bureau"
    assert ARTICLE_SENTENCES[0] in doc.text and "Café owners" in doc.text and "\ufeff" not in doc.text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_unicode_html_files_are_read_as_text(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(article_html().replace('<meta property', '<meta charset="utf-8"><meta property')
                     .encode(encoding))
    doc = extract(load_file(str(path), Settings()))
    assert ARTICLE_SENTENCES[0] in doc.text and doc.title == "Police bought DNA sequencers from a European vendor"


def test_binary_with_nul_bytes_is_still_binary() -> None:
    with pytest.raises(SourceError) as info:
        extract(raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 40, SourceKind.TEXT, "x.txt"))
    assert info.value.reason == "binary"
