"""Extract stage: raw bytes -> main text and metadata. Pure functions, no I/O.

* HTML: trafilatura (comments excluded, metadata on), then the plain-text furniture filter.
* PDF: pypdf's text layer, de-hyphenated and re-flowed into paragraphs.
* Text/Markdown: optional YAML front matter (title, published, url, outlet/site, author), the
  furniture filter, and a leading headline taken as the title.

The output text has one paragraph per line, separated by a blank line; every offset downstream
points into exactly this string.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from datetime import date, datetime
from typing import Any

import yaml

from pipeline.boilerplate import clean_lines
from pipeline.errors import SourceError
from pipeline.language import detect_language
from pipeline.records import Document, Fetched, SkipReason, SourceKind
from pipeline.text_decode import decode_text, unicode_encoding

MIN_WORDS = 10
"""A document with fewer words of main text than this is treated as empty or boilerplate-only."""

UNSPACED_RE = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
"""Letters of scripts written without spaces between words (Thai, Lao, Burmese, Khmer, Japanese kana,
Chinese characters): counted as about two a word, or a Chinese article has "three words"."""

FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def extract(raw: Fetched) -> Document:
    """Dispatch on the source kind. Raises ``SourceError`` with a typed reason."""
    if raw.kind is SourceKind.HTML:
        fields = _extract_html(raw)
    elif raw.kind is SourceKind.PDF:
        fields = _extract_pdf(raw)
    else:
        fields = _extract_text(raw)
    text = fields.pop("text")
    if word_count(text) < MIN_WORDS:
        reason = SkipReason.BOILERPLATE if fields.pop("had_markup", False) else SkipReason.EMPTY
        raise SourceError(
            raw.source, reason,
            "no article text found" + (" (only page furniture)" if reason is SkipReason.BOILERPLATE else ""),
            hint="check that the page is an article and not an index, login or error page",
        )
    fields.pop("had_markup", None)
    lang = detect_language(text)
    return Document(
        doc_id=raw.doc_id,
        source=raw.source,
        locator=raw.locator,
        kind=raw.kind,
        text=text,
        raw_sha256=raw.sha256,
        lang=lang,
        url=fields.pop("url", None) or raw.url,
        **fields,
    )


def word_count(text: str) -> int:
    """Words of ``text`` in any script: spaced words, plus unspaced letters at about two a word."""
    unspaced = len(UNSPACED_RE.findall(text))
    return len(UNSPACED_RE.sub(" ", text).split()) + unspaced // 2


def normalise_text(text: str) -> str:
    """Unicode NFC, unify line endings, strip control characters; keep no-break spaces and curly
    quotes as they are (they are part of the evidence)."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def decode(raw: Fetched) -> str:
    """The body as text: UTF-8 or UTF-16/32 by their BOM (or BOM-less UTF-16), else UTF-8, else
    cp1252 (which decodes almost anything); ``binary`` when NUL bytes say it is not text."""
    text = decode_text(raw.body, ("utf-8", "cp1252", "latin-1"))
    if text is None:
        raise SourceError(raw.source, SkipReason.BINARY, "binary data, not text",
                          hint="give an .html, .txt, .md or .pdf file")
    return normalise_text(text)


def _date(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        match = re.match(r"(\d{4}-\d{2}-\d{2})", value.strip())
        return match.group(1) if match else None
    return None


# ---------------------------------------------------------------------------------------------
# HTML


def _extract_html(raw: Fetched) -> dict[str, Any]:
    import trafilatura  # heavy-ish import kept out of module import time

    html = decode(raw)  # checks for binary data
    # trafilatura gets the bytes and sniffs an 8-bit charset itself (meta charset); UTF-16/32, which
    # its sniffing does not read, goes to it decoded
    wide = unicode_encoding(raw.body) not in (None, ("utf-8", 3))
    result = trafilatura.extract(
        html if wide else raw.body, url=raw.url, output_format="json", with_metadata=True,
        include_comments=False, include_tables=True, deduplicate=False,
    )
    data: dict[str, Any] = json.loads(result) if result else {}
    text = clean_lines(normalise_text(data.get("text") or ""), dedupe=False)
    return {
        "text": text,
        "had_markup": bool(re.search(r"<(body|div|p)\b", html[:200000], re.IGNORECASE)),
        "title": (data.get("title") or None),
        "published": _date(data.get("date")),
        "site": data.get("sitename") or data.get("hostname") or None,
        "author": data.get("author") or None,
    }


# ---------------------------------------------------------------------------------------------
# PDF


def _extract_pdf(raw: Fetched) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw.body))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceError(raw.source, SkipReason.UNREADABLE, "PDF is password-protected")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
    except SourceError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(raw.source, SkipReason.UNREADABLE, f"not a readable PDF ({exc})") from exc
    text = "\n\n".join(reflow_pdf_page(p) for p in pages if p.strip())
    if not text.strip():
        raise SourceError(
            raw.source, SkipReason.NO_TEXT_PDF, "PDF has no text layer (scanned image?)",
            hint="run OCR (e.g. ocrmypdf) on it first",
        )
    title = (meta.title if meta else None) or None
    published = None
    if meta is not None:
        try:
            published = _date(meta.creation_date)
        except (ValueError, TypeError):
            published = None
    return {"text": clean_lines(normalise_text(text)), "title": title, "published": published,
            "author": (meta.author if meta else None) or None}


def reflow_pdf_page(page: str) -> str:
    """Join layout line breaks into paragraphs: de-hyphenate, and merge a line into the previous one
    unless the previous ends a sentence and the line looks like a new paragraph."""
    out: list[str] = []
    for line in (ln.strip() for ln in page.splitlines()):
        if not line:
            if out and out[-1]:
                out.append("")
            continue
        if out and out[-1]:
            prev = out[-1]
            if prev.endswith("-") and line[:1].islower():
                out[-1] = prev[:-1] + line
                continue
            ends_sentence = prev.endswith((".", "?", "!", ":", "”", '"'))
            if not ends_sentence or line[:1].islower():
                out[-1] = prev + " " + line
                continue
        out.append(line)
    return "\n".join(p for p in out if p)


# ---------------------------------------------------------------------------------------------
# Plain text and Markdown


def _extract_text(raw: Fetched) -> dict[str, Any]:
    text = decode(raw)
    meta: dict[str, Any] = {}
    match = FRONT_MATTER_RE.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
            meta = loaded if isinstance(loaded, dict) else {}
        except yaml.YAMLError:
            meta = {}
        text = text[match.end():]
    lines = [re.sub(r"^#{1,6}\s+", "", ln.strip()) for ln in text.splitlines()]  # Markdown headings
    title = meta.get("title")
    published = _date(meta.get("published") or meta.get("date"))
    author = meta.get("author") or None
    # The head of a text dump: section labels ("Security"), a dateline, a byline, the headline.
    head = [i for i, ln in enumerate(lines) if ln][:5]
    for n, i in enumerate(head):
        line = lines[i]
        if len(line.split()) <= 2 and n + 1 < len(head) and len(lines[head[n + 1]].split()) > 2 \
                and not _parse_dateline(line):
            lines[i] = ""  # section label
        elif (dateline := _parse_dateline(line)) is not None:
            published = published or dateline
            lines[i] = ""
        elif BYLINE_RE.match(line):
            author = author or BYLINE_RE.match(line).group(1).strip()  # type: ignore[union-attr]  # matched above
            lines[i] = ""
        else:
            if not title and _looks_like_headline(line):
                title = line
            break
    return {
        "text": clean_lines("\n".join(lines)),
        "title": title or None,
        "published": published,
        "site": meta.get("outlet") or meta.get("site") or None,
        "author": author,
        "url": meta.get("url") or None,
    }


BYLINE_RE = re.compile(r"^by\s+([A-Z][^.!?]{2,80})$", re.IGNORECASE)


def _parse_dateline(line: str) -> str | None:
    """A line that is only a date ("September 26, 2023", "2021-06-17", "Feb. 21, 2019 5:04 pm ET")."""
    if len(line) > 40 or not re.search(r"\b(19|20)\d{2}\b", line):
        return None
    import dateparser  # maintained date parser (a Prefect dependency already); loaded only here

    parsed = dateparser.parse(line, languages=["en"], settings={"STRICT_PARSING": True})
    return parsed.date().isoformat() if parsed else None


def _looks_like_headline(line: str) -> bool:
    words = line.split()
    return 2 < len(words) <= 25 and not line.endswith((".", ",", ";"))
