"""Canonical names within one document.

The knowledge base canonicalises names it knows. For the rest, a document usually introduces a
name in full and then shortens it ("Hangzhou Xinyue Biotechnology Co., Ltd." ... "Hangzhou Xinyue";
"Thermo Fisher Scientific" ... "Thermo Fisher"; "Bingtuan Public Security Bureau" ... "Public Security
Bureau"; "Xinjiang Production and Construction Corps (XPCC)" ... "XPCC"). Shorter forms of the same
type are mapped onto the one longer name they abbreviate, when exactly one fits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.kb import KnowledgeBase
from pipeline.records import Mention

LINKABLE = {"company", "product", "agency", "ngo", "media", "academic", "other_org"}
SUFFIX_LINKED = {"agency", "media"}  # "Public Security Bureau" -> "Bingtuan Public Security Bureau"; "Times"

# "Xinjiang Police Department", "Chinese government police" -> "Xinjiang police", "Chinese police":
# one force, however the article names it.
POLICE_RE = re.compile(r"^(?P<place>.+?)(\s+government)?\s+police(\s+(department|force|service))?$", re.IGNORECASE)
# "Xinjiang region", "Guangdong Province" -> the place itself.
REGION_NOUN_RE = re.compile(r"^(?P<place>.+?)\s+(region|province|prefecture|county|state|territory|city)$",
                            re.IGNORECASE)


def normal_name(label: str, name: str, kb: KnowledgeBase) -> str:
    """Canonical form of a name the KB does not know, by the conventions of its type."""
    if label == "agency" and (m := POLICE_RE.match(name)):
        return f"{m.group('place')} police"
    if label == "region" and (m := REGION_NOUN_RE.match(name)):
        place = kb.lookup(m.group("place"), "region")
        if place is not None:
            return place.name
    return name


def _words(name: str) -> list[str]:
    return name.casefold().split()


def _acronym(name: str) -> str:
    return "".join(w[0] for w in re.findall(r"[A-Za-z][\w'’-]*", name) if w[0].isupper())


def _expands(short: str, long: str, etype: str) -> bool:
    s, lw = _words(short), _words(long)
    if len(s) == 1 and short.isupper() and 2 <= len(short) <= 6 and len(lw) > 1:
        return _acronym(long) == short  # "BDO" -> "Bureau of Digital Oversight"
    if len(s) >= len(lw):
        return False
    if lw[: len(s)] == s:  # prefix: "Thermo Fisher" -> "Thermo Fisher Scientific"
        return True
    # suffix, for bodies and outlets: "Public Security Bureau" -> "Bingtuan Public Security Bureau",
    # "Times" -> "New York Times"
    return etype in SUFFIX_LINKED and (len(s) >= 2 or etype == "media") and lw[-len(s):] == s


def canonicalise(mentions: Sequence[Mention], kb: KnowledgeBase) -> list[Mention]:
    mentions = [
        m if kb.by_name(m.label, m.canonical) is not None
        else Mention(m.text, m.label, normal_name(m.label, m.canonical, kb), m.start, m.end, m.parent)
        for m in mentions
    ]
    by_type: dict[str, set[str]] = {}
    for m in mentions:
        if m.label in LINKABLE:
            by_type.setdefault(m.label, set()).add(m.canonical)
    mapping: dict[tuple[str, str], str] = {}
    for etype, names in by_type.items():
        for short in names:
            if kb.by_name(etype, short) is not None:
                continue  # a KB entity in its own right: "Congress" does not become another body
            targets = [long for long in names if long != short and _expands(short, long, etype)]
            # the longest distinct target wins only when the targets nest ("Thermo Fisher" ->
            # "Thermo Fisher Scientific" rather than to two different firms)
            targets.sort(key=len, reverse=True)
            if targets and all(_expands(t, targets[0], etype) or t == targets[0] for t in targets):
                mapping[(etype, short)] = targets[0]
    out = []
    for m in mentions:
        target = mapping.get((m.label, m.canonical))
        if target:
            # follow chains ("PSB" -> "Public Security Bureau" -> "Bingtuan Public Security Bureau")
            while (m.label, target) in mapping:
                target = mapping[(m.label, target)]
            m = Mention(m.text, m.label, target, m.start, m.end, m.parent)
        out.append(m)
    return out
