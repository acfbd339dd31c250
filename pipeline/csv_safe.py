"""CSV that spreadsheets open safely: RFC 4180 (CRLF) and no formula injection (OWASP's advice)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any


def safe_cell(value: Any) -> Any:
    """Spreadsheet-safe: a cell starting with = + - @ is a formula in Excel and LibreOffice (CSV
    injection); such text gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; with "\n" a bare "\r" in a cell goes unquoted
    writer.writerow(header)
    writer.writerows([[safe_cell(v) for v in row] for row in rows])
    return buf.getvalue()
