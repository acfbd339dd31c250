"""Bytes a user calls text -> str: the Unicode encodings text files really come in.

Editors and office suites save "Unicode text" as UTF-16 with a byte-order mark (Windows Notepad,
Excel's "Unicode Text" export), others as UTF-8 with a BOM. A NUL byte is how binary data is told
from text, and UTF-16 is full of them, so the BOM (or, without one, the pattern of NULs that ASCII
text makes in UTF-16) is read before that test. ``codecs`` holds the BOMs; no detector library is
needed for these cases (charset detection of 8-bit text stays with trafilatura for HTML).
"""

from __future__ import annotations

import codecs

BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SNIFF = 8192


def unicode_encoding(data: bytes) -> tuple[str, int] | None:
    """(codec, BOM length) when ``data`` starts with a BOM or is BOM-less UTF-16 of mostly ASCII
    text (every other byte NUL); None otherwise."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    head = data[:SNIFF]
    if len(head) >= 16:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
            return "utf-16-le", 0
        if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
            return "utf-16-be", 0
    return None


def decode_text(data: bytes, fallbacks: tuple[str, ...] = ("utf-8", "cp1252")) -> str | None:
    """The text of ``data``, or None when it is binary (NUL bytes outside a Unicode encoding) or
    does not decode. A BOM is read and dropped; without one, each fallback codec is tried in turn."""
    found = unicode_encoding(data)
    if found is not None:
        codec, skip = found
        try:
            return data[skip:].decode(codec)
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:SNIFF]:
        return None
    for codec in fallbacks:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return None
