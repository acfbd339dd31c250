"""Boilerplate removal for text that arrives without HTML structure (plain-text files, PDFs,
and as a last pass over trafilatura's output).

trafilatura removes page furniture using the DOM; a ``.txt`` dump of a web page has lost the DOM,
so comment forms, cookie banners, share widgets and "About <publisher>" blurbs come through as
ordinary lines. These rules catch the recurring shapes of that furniture on the web at large
(WordPress comment forms, cookie notices, republication lines, publisher blurbs), not phrases of
any one site. A trailing section is cut only in the last part of a text, so an article that
discusses cookies or comment sections keeps its body.
"""

from __future__ import annotations

import re

# A line matching any of these is furniture wherever it appears.
LINE_PATTERNS = [
    r"^(this|our) (web)?site uses cookies\b.*",
    # cookie banners speak to the reader about this site; an article about consent does not
    r"^(accept|reject|allow|manage|customi[sz]e)( all)? cookies\.?$",
    r"^.{0,120}\b(we|this (web)?site|our (web)?site) uses? cookies\b.*",
    r"^.{0,120}\byou (accept|agree|consent) to (our|the) (use of )?cookies\b.*",
    r"^by (continuing to use|using) (this|our) (web)?site\b.*",
    r"^(this|the) (article|story|piece|report) (was|is) (originally |first )?"
    r"(published|posted|republished) (in|on|by|with)\b.*",
    r"^(originally )?(published|republished) (with permission )?(in|on|by) [A-Z].{0,80}$",
    r"^read (the )?(more|full (story|article)|news source|original( article)?)\b.{0,40}$",
    r"^(share|tweet|email|print)( (this|on \w+))?( (article|story|page))?:?$",
    r"^(share|follow us) on (facebook|twitter|x|linkedin|whatsapp)\b.{0,40}$",
    r"^sign up for (our|the) .{0,60}newsletter.*",
    r"^subscribe( now)?( to (our|the) .{0,60})?\.?$",
    r"^advertisement$",
    r"^(related|recommended|more from|most read|trending)( (articles|stories|posts|reading))?:?$",
    r"^you are commenting using your .{0,40}account\b.*",
    r"^(fill in your details below|connecting to %s|%d bloggers like this).*",
    r"^(log out|change)\s*/.*",
    r"^(notify me of (new|follow-up) (comments|posts)).*",
    r"^.{0,60}'?s views are (his|her|their|my) own\b.*",
    r"^all rights reserved\.?$",
    r"^(©|\(c\)|copyright) ?\d{4}.{0,100}$",
]
LINE_RES = [re.compile(p, re.IGNORECASE) for p in LINE_PATTERNS]

# A line matching one of these opens a trailing block (comments, site widget, publisher blurb):
# everything from it to the end is furniture, when it sits in the last part of the text.
TAIL_START_PATTERNS = [
    r"^(leave a (reply|comment)|(\d+ )?comments?( \(\d+\))?|post a comment|"
    r"join the (conversation|discussion))$",
    r"^about (the |this )?[A-Z][\w&'’.\- ]{1,60}$",
    r"^about the (author|authors|writer)s?\b.*",
    r"^(sources?|references?|notes?|citations?):( .{0,300})?$",  # a trailing source list
    r"^(related|recommended|more from .{1,40}|you (may|might) also like|further reading)"
    r"( (articles|stories|posts|reading))?:?$",
]
TAIL_RES = [re.compile(p, re.IGNORECASE) for p in TAIL_START_PATTERNS]

# "<Organisation> is a nonprofit/non-governmental ... organisation ..." – the standard blurb a
# publisher or NGO appends to everything it releases (press releases' "About X" without the heading).
BLURB_RE = re.compile(
    r"^(the )?[A-Z][\w&'’.\- ]{1,80}\b(is|are) (an?|the) ((leading|independent|international|global|"
    r"non-?profit|nonprofit|not-for-profit|non-?governmental|nongovernmental|non-partisan|nonpartisan|"
    r"charitable|registered|world'?s?)[ ,]+)+.{0,200}\b(organi[sz]ation|charity|group|provider|leader|company|"
    r"newsroom|outlet|publisher)\b",
)

TAIL_FRACTION = 0.6  # trailing blocks are only cut when they start past this share of the text


def _is_heading(line: str) -> bool:
    """A short title-like line without final punctuation (a widget or section heading)."""
    words = line.split()
    return 0 < len(words) <= 8 and not line.rstrip().endswith((".", "?", "!", ":", "”", '"'))


def clean_lines(text: str, *, dedupe: bool = True) -> str:
    """Drop furniture lines and trailing furniture blocks; collapse repeated lines.

    Works line by line on a text whose paragraphs are separated by newlines; returns the kept lines
    joined by blank lines (one paragraph per line). ``dedupe`` drops a long line seen before; off
    for HTML, where trafilatura has the DOM and a repeated paragraph is more often real content
    (measured: it cost 0.4 points of recall on the extraction benchmark).
    """
    lines = [ln.strip() for ln in text.splitlines()]
    total = sum(len(ln) for ln in lines) or 1
    kept: list[str] = []
    seen_long: set[str] = set()
    consumed = 0
    for i, line in enumerate(lines):
        position = consumed / total
        consumed += len(line)
        if not line:
            continue
        if position >= TAIL_FRACTION and _starts_tail(lines, i):
            break
        if any(rx.match(line) for rx in LINE_RES):
            continue
        key = " ".join(line.lower().split())
        if dedupe and len(key) > 30:
            if key in seen_long:  # the same republication line or caption twice
                continue
            seen_long.add(key)
        kept.append(line)
    return "\n\n".join(kept)


def _starts_tail(lines: list[str], i: int) -> bool:
    line = lines[i]
    if any(rx.match(line) for rx in TAIL_RES):
        return True
    if BLURB_RE.match(line):
        return True
    # A bare heading directly followed by a publisher blurb ("Human Rights Watch" / "Human Rights
    # Watch is a nonprofit ... organisation").
    if _is_heading(line):
        nxt = next((ln for ln in lines[i + 1:] if ln), "")
        if BLURB_RE.match(nxt) and nxt.lower().startswith(line.lower().removeprefix("about ").strip()[:12].lower()):
            return True
    return False
