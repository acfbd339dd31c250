"""Companies a query describes instead of naming: "the Israeli spyware maker", "the Wisconsin
DNA-testing company", "a Shenzhen-based camera firm", "US-made forensic DNA gear".

Researchers often know where a vendor sits and what it sells before they know (or bother to type)
its name. A place the knowledge base knows (a region name or alias, or a demonym: "Israeli",
"American") followed closely by words for a line of business is read as such a description. It is
matched against the KB's companies: the place against a company's headquarters (``hq``: city,
state or province) and country, the words against its sector and its products' categories. Only
companies that the store has claims about count, and only when the description picks out few of
them (``Settings.describe_max``); search then boosts their claims (and their products' claims) as it
does for entities a query names.

A place is not read as a vendor's home when it describes who acted or where something happened:
"Chinese police", "security forces in western China" (the scan stops at such words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.kb import KnowledgeBase, norm_key
from pipeline.store import Store

SECTOR_WORDS: dict[str, tuple[str, ...]] = {
    "surveillance": ("surveillance", "camera", "cctv", "video", "analytics", "monitoring"),
    "spyware": ("spyware", "hacking", "hacker", "malware", "exploit", "implant", "intrusion", "cyber"),
    "forensics": ("forensic", "forensics", "cracking", "unlocking"),
    "biometrics": ("biometric", "facial", "face", "recognition", "fingerprint", "iris"),
    "telecom": ("telecom", "telecommunications", "carrier", "network", "wireless"),
    "censorship": ("censorship", "filtering", "firewall", "dpi", "internet"),
    "chips": ("chip", "chipmaker", "semiconductor", "processor", "gpu"),
    "biotech": ("biotech", "biotechnology", "dna", "genetic", "gene", "genome", "genomic", "genotyping",
                "sequencing", "sequencer", "lab", "laboratory", "reagent", "life", "sciences"),
    "cloud": ("cloud", "hosting", "datacenter"),
    "defence": ("defence", "defense", "arms", "weapons", "military", "aerospace", "drone"),
    "data-broker": ("broker",),
    "other": (),
}
"""Words a researcher uses for a company's line of business (whole words, singular)."""

COMPANY_NOUNS = frozenset({"company", "firm", "maker", "manufacturer", "vendor", "supplier", "giant", "provider",
                           "developer", "corporation", "startup", "business", "contractor", "producer", "seller",
                           "exporter"})
"""A place and one of these alone ("the Massachusetts firm") describe one company; the plural ("American
firms") speaks of a class, so it needs words for a line of business too."""

GENERIC_CATEGORY_WORDS = frozenset({"analysis", "system", "other", "management", "data", "app", "platform",
                                    "device", "operating", "social", "messaging", "phone", "computer",
                                    "location", "detection", "database", "rapid", "lawful", "media"})
"""Words of product categories too broad to describe a company ("data analytics", "phone forensics")."""

STOP_WORDS = frozenset({
    "police", "policing", "authorities", "authority", "government", "governments", "officials", "official",
    "forces", "force", "ministry", "bureau", "bureaus", "agency", "agencies", "army", "military", "state",
    "court", "courts", "regulators", "lawmakers", "people", "citizens", "residents", "journalists",
    "activists", "users", "customers", "buyers", "to", "against", "on", "at", "by", "for", "into", "and",
    "or", "with", "than", "about",
})
"""Words that end a description: past them, the place is where something happened or who acted."""

WINDOW = 4
"""Words after a place (or before a "from X" / "in X") read as its description."""

TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*\.?")


@dataclass(frozen=True)
class Profile:
    """What a query may say about one KB company: where it is and what it does."""

    name: str
    places: frozenset[str]  # region canonical names: HQ city / state / province, country
    words: frozenset[str]  # sector and product-category words, singular
    ancestors: tuple[str, ...]  # parent companies, nearest first


@dataclass(frozen=True)
class Description:
    """A place in a query and the words after it (or before a "from X") that describe a company there."""

    place: str  # region canonical name
    words: frozenset[str]  # singular, lower case
    one_company: bool  # a singular company noun ("firm", "maker") is among the words


def singular(word: str) -> str:
    word = word.lower().rstrip(".")
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


_PROFILES: dict[str, tuple[list[Profile], dict[str, str]]] = {}


def profiles(kb: KnowledgeBase) -> tuple[list[Profile], dict[str, str]]:
    """Company profiles and the demonym -> region map of a KB (built once per KB version)."""
    cached = _PROFILES.get(kb.version)
    if cached is not None:
        return cached
    categories: dict[str, set[str]] = {}
    for ent in kb.entities.values():
        if ent.etype == "product" and ent.vendor and ent.kind:
            words = {singular(w) for w in re.findall(r"[a-z]+", ent.kind.lower())} - GENERIC_CATEGORY_WORDS
            categories.setdefault(ent.vendor, set()).update(words)
    out = []
    for ent in kb.entities.values():
        if ent.etype != "company":
            continue
        words = set(SECTOR_WORDS.get(ent.kind or "", ())) | categories.get(ent.name, set())
        places = {p for p in (*ent.hq, ent.country) if p}
        ancestors: list[str] = []
        parent = ent.parent
        while parent and parent not in ancestors and parent != ent.name:
            ancestors.append(parent)
            parent_ent = kb.by_name("company", parent)
            parent = parent_ent.parent if parent_ent else None
        if places:
            out.append(Profile(ent.name, frozenset(places), frozenset(words), tuple(ancestors)))
    demonyms = {norm_key(d): ent.name for ent in kb.entities.values() if ent.etype == "region"
                for d in ent.demonyms}
    _PROFILES[kb.version] = (out, demonyms)
    return out, demonyms


def descriptions(text: str, kb: KnowledgeBase) -> list[Description]:
    """Each place in the query (a KB region name or alias in capitals, or a demonym) with the words
    that describe a company there: up to ``WINDOW`` words after it ("the Wisconsin DNA-testing
    company", "Madison-based"), or before "from X" / "based in X" ("a camera maker from China")."""
    _, demonyms = profiles(kb)
    tokens = [m.group(0) for m in TOKEN_RE.finditer(text)]
    words = [w.lower().rstrip(".") for w in tokens]
    found: list[Description] = []
    i = 0
    while i < len(tokens):
        place, width = _place_at(tokens, i, kb, demonyms)
        if place is None:
            i += 1
            continue
        described = _scan(words[i + width:i + width + WINDOW])
        before = words[i - 1] if i > 0 else ""
        start = None
        if before == "from":
            start = i - 1
        elif before == "in" and i > 1 and words[i - 2] in ("based", "headquartered"):
            start = i - 2
        if start is not None:
            described += _scan(list(reversed(words[max(0, start - WINDOW):start])))
        if described:
            found.append(Description(place, frozenset(singular(w) for w in described),
                                     any(w in COMPANY_NOUNS for w in described)))
        i += width
    return found


def _place_at(tokens: list[str], i: int, kb: KnowledgeBase, demonyms: dict[str, str]) -> tuple[str | None, int]:
    """The region named by the longest capitalised phrase (up to four words) starting at ``i``."""
    for n in range(min(4, len(tokens) - i), 0, -1):
        span = tokens[i:i + n]
        if not all(t[:1].isupper() for t in span):
            continue
        phrase = " ".join(span)
        for form in dict.fromkeys((phrase, phrase.rstrip("."))):
            ent = kb.lookup(form, "region")
            name = ent.name if ent is not None else demonyms.get(norm_key(form))
            if name is not None:
                return name, n
    return None, 0


def _scan(words: list[str]) -> list[str]:
    """``words`` in order up to the first that ends a description."""
    out = []
    for w in words:
        if w in STOP_WORDS:
            break
        out.append(w)
    return out


def matching_profiles(found: list[Description], kb: KnowledgeBase,
                      exclude: set[str] | frozenset[str] = frozenset()) -> list[Profile]:
    """KB companies that a description fits: located at its place (HQ or country) and doing what its
    words say; for "the <place> firm", which says nothing of the business, any company there. A
    brand or subsidiary matched together with its parent is left to the parent."""
    company_profiles, _ = profiles(kb)
    matched: dict[str, Profile] = {}
    for desc in found:
        there = [p for p in company_profiles if desc.place in p.places]
        doing = [p for p in there if desc.words & p.words]
        for prof in doing or (there if desc.one_company else []):
            matched[prof.name] = prof
    return [p for p in matched.values()
            if p.name not in exclude and not any(a in matched for a in p.ancestors)]


def described_companies(text: str, store: Store, kb: KnowledgeBase, max_matches: int,
                        exclude: set[str] | frozenset[str] = frozenset()) -> list[tuple[str, list[str]]]:
    """Companies the query describes by place and line of business, with the store's entity ids for
    each (the company, its brands and subsidiaries, and their products). Empty when the description
    fits no company with claims in the store, or more than ``max_matches``."""
    found = descriptions(text, kb)
    if not found:
        return []
    present = []
    for prof in matching_profiles(found, kb, exclude):
        ids = store.resolve_entity("company", prof.name)
        if ids and store.has_claims(ids):
            family = {prof.name, *_descendant_names(kb, prof.name)}
            products = [pid for ent in kb.entities.values() if ent.etype == "product" and ent.vendor in family
                        for pid in store.resolve_entity("product", ent.name)]
            present.append((prof.name, ids + products))
            if len(present) > max_matches:
                return []
    return present


def _descendant_names(kb: KnowledgeBase, name: str) -> set[str]:
    out: set[str] = set()
    frontier = {name}
    while frontier:
        children = {e.name for e in kb.entities.values()
                    if e.etype == "company" and e.parent in frontier and e.name not in out}
        out |= children
        frontier = children
    return out
