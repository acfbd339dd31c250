"""Event dates stated in a claim: "in February 2019", "from May 2019 to June 2021", "In 2015",
"on March 3, 2021", and weekdays relative to the article's date ("said Wednesday").

A pure function of the claim text and its document's publication date. Written with regular
expressions rather than ``dateparser.search_dates``: that function reads common words as dates
("may", "march", "sun", "second"), invents a day and month for a bare year, and costs milliseconds
per sentence; a dossier over 10,000 claims needs none of that. Only explicit calendar expressions
and weekday names are read; everything else is left undated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"), 1)}
MONTH_ABBR = {m[:3]: i for m, i in MONTHS.items()} | {"sept": 9}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_MONTH = r"(?P<month>January|February|March|April|May|June|July|August|September|October|November|December|" \
         r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
_YEAR = r"(?P<year>(?:19[5-9]\d|20[0-4]\d))"
PATTERNS = (
    # March 3, 2021 / March 3 2021
    ("day", re.compile(rf"\b{_MONTH}\s+(?P<day>[0-3]?\d)(?:st|nd|rd|th)?,?\s+{_YEAR}\b")),
    # 3 March 2021
    ("day", re.compile(rf"\b(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\s+{_MONTH}\s+{_YEAR}\b")),
    # 2021-03-03
    ("day", re.compile(r"\b(?P<year>(?:19[5-9]\d|20[0-4]\d))-(?P<mnum>[01]\d)-(?P<day>[0-3]\d)\b")),
    # February 2019 / Feb. 2019
    ("month", re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b")),
    # a bare year, not part of a number, an amount or an identifier ("$2019", "2,019", "2019-nCoV")
    ("year", re.compile(r"(?<![\w$€£¥.,/-])(?P<year>(?:19[5-9]\d|20[0-4]\d))(?![\w%/-]|[.,]\d)")),
)
CURRENCY_BEFORE_RE = re.compile(r"[$€£¥]\s*$")  # "$ 2000" is an amount (the dev texts space it so)
WEEKDAY_RE = re.compile(r"\b(?:on |last |this |as recently as )?(?P<weekday>Monday|Tuesday|Wednesday|Thursday|Friday|"
                        r"Saturday|Sunday)\b")


@dataclass(frozen=True, slots=True)
class EventDate:
    """A date the text states. ``value`` is ISO at its precision: "2019", "2019-02" or "2019-02-21"."""

    value: str
    precision: str  # year | month | day
    start: int  # offsets into the claim text
    end: int
    surface: str

    def sort_key(self) -> str:
        return self.value


def _month(name: str) -> int:
    key = name.lower().rstrip(".")
    return MONTHS.get(key) or MONTH_ABBR[key[:4] if key.startswith("sept") else key[:3]]


def event_dates(text: str, published: str | None = None) -> list[EventDate]:
    """Dates stated in ``text``, in order of appearance, most precise reading of each span."""
    taken: list[tuple[int, int]] = []
    found: list[EventDate] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b in taken)

    for precision, pattern in PATTERNS:
        for m in pattern.finditer(text):
            if not free(m.start(), m.end()) or CURRENCY_BEFORE_RE.search(text, 0, m.start()):
                continue
            year = int(m.group("year"))
            groups = m.groupdict()
            try:
                if precision == "year":
                    value = f"{year:04d}"
                else:
                    month = int(groups["mnum"]) if groups.get("mnum") else _month(groups["month"])
                    if precision == "month":
                        value = f"{year:04d}-{month:02d}"
                    else:
                        value = date(year, month, int(groups["day"])).isoformat()
            except (ValueError, KeyError):  # "February 30, 2019", an unknown abbreviation
                continue
            taken.append((m.start(), m.end()))
            found.append(EventDate(value, precision, m.start(), m.end(), m.group(0)))
    pub = _parse_published(published)
    if pub is not None:
        for m in WEEKDAY_RE.finditer(text):
            if not free(m.start(), m.end()):
                continue
            # News convention: "said Wednesday" is the latest such weekday on or before publication.
            back = (pub.weekday() - WEEKDAYS.index(m.group("weekday").lower())) % 7
            day = pub - timedelta(days=back)
            taken.append((m.start(), m.end()))
            found.append(EventDate(day.isoformat(), "day", m.start("weekday"), m.end(), m.group("weekday")))
    found.sort(key=lambda d: d.start)
    return found


def _parse_published(published: str | None) -> date | None:
    if not published:
        return None
    try:
        return date.fromisoformat(published[:10])
    except ValueError:
        return None
