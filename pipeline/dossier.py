"""Company dossiers: everything the stored coverage says about one vendor.

``build_dossier`` is a pure read of the canonical store (plus the knowledge base for country,
parent and product vendors): the company's claims (its own mentions, its brands and subsidiaries,
and its products), the chain of product -> agency -> region links those claims state, claims by
stance, a timeline by publication and by stated event date, and every source with the hash of the
snapshot it was taken from. Rendering lives in ``dossier_render``; the JSON contract is
``pipeline/schemas/dossier.schema.json``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.errors import UsageError
from pipeline.event_dates import EventDate, event_dates
from pipeline.kb import KnowledgeBase
from pipeline.records import entity_id
from pipeline.search import check_date
from pipeline.stance import STANCES
from pipeline.store import Store

SCHEMA_VERSION = 1
STANCE_TITLES = {
    "allegation": "Allegations (third parties say)",
    "company_statement": "Company statements and responses",
    "official_statement": "Official statements and actions",
    "fact": "Reported facts and records",
}
HQ_BEFORE_RE = re.compile(r"(?:based|headquartered|located|incorporated)\s+in\s+(?:[\w.'’ -]+,\s*)?$", re.IGNORECASE)
HQ_AFTER_RE = re.compile(r"^(?:,\s*[\w.'’ ]+)?-based\b", re.IGNORECASE)
THE_BEFORE_RE = re.compile(r"\b[Tt]he\s+$")
HQ_ANAPHOR_RE = re.compile(r"(?:,\s*[\w.'’ ]+)?-based\s+(?:[a-z][\w-]*\s+){0,3}"
                           r"(?:company|firm|maker|manufacturer|vendor|supplier|group|giant)\b")
_NOT_VERB = (r"(?!(?:sold|sells?|bought|buys?|supplied|supplies|supply|provided|provides?|distributed|distributes?|"
             r"delivered|delivers?|shipped|ships?|said|says|resold|resells?|installed|installs?|offered|offers?|"
             r"marketed|markets?|used|uses?|acquired|acquires?|purchased|purchases?|imported|imports?|exported|"
             r"exports?|is|was|are|were|has|had|have|did|does|will|would)\b)(?![a-z-]*ed\b)")
HQ_GAP_RE = re.compile(rf"(?:,\s*[\w.'’ ]+)?-based\s+(?:{_NOT_VERB}[a-z][\w-]*\s+){{0,4}}(?:the\s+)?")
APPOSITIVE_RE = re.compile(r"^,?\s+(?:(?:is|was)\s+)?(?:(?:an?|the)\s+(?:[\w.-]+\s+){0,5})?"
                           r"(?:based|headquartered|located|incorporated)\s+in\s+(?:[\w.'’ -]+,\s*)?$")
CONTEXT_WINDOW = 1
"""How many claims after one about the company still count as about it (``context_claims``)."""
PRODUCT_REACH = 3
"""How many claims back "the tool" may refer to the company's product last named (``implied_products``)."""
PRODUCT_ANAPHOR_RE = re.compile(
    r"\b(?:the|its|this|that|their)\s+(?:[\w-]+\s+){0,2}?(?:tool|test|software|system|app|application|platform|"
    r"product|technology|tech|device|camera|kit|service|program|programme|towers?|drones?|database|scanner|"
    r"algorithm|feature)s?\b", re.IGNORECASE)
APPOSITIVE_BASED_RE = re.compile(r"^,\s+(?:an?|the)\s+(?:[\w-]+\s+){0,5}(?:[\w.'’ ]+,\s*)?$")


@dataclass(frozen=True, slots=True)
class DossierClaim:
    claim_id: str
    text: str
    stance: str
    doc_id: str
    source: str
    url: str | None
    title: str | None
    published: str | None
    start: int
    end: int
    companies: tuple[str, ...]
    products: tuple[str, ...]
    agencies: tuple[str, ...]
    regions: tuple[str, ...]
    event_dates: tuple[EventDate, ...]
    hq_regions: tuple[str, ...] = ()  # regions named only as where the company is based
    linked_by: str = "name"  # "name": the claim names the company or its product; "context": see context_claims
    implied_products: tuple[str, ...] = ()  # the product "the tool" refers to (implied_products)

    def to_json(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id, "text": self.text, "stance": self.stance, "source": self.source,
            "url": self.url, "title": self.title, "published": self.published, "doc_id": self.doc_id,
            "start": self.start, "end": self.end,
            "entities": {"company": list(self.companies), "product": list(self.products),
                         "agency": list(self.agencies), "region": list(self.regions)},
            "headquarters_regions": list(self.hq_regions), "linked_by": self.linked_by,
            "implied_products": list(self.implied_products),
            "event_dates": [{"date": d.value, "precision": d.precision, "text": d.surface} for d in self.event_dates],
        }


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One vendor -> product -> agency -> region link and the claims that state it. ``region_role``
    is "headquarters" for a region the claims name as where the company is based (kept, so every
    region link the coverage states is a row, but not mistaken for where the products went)."""

    product: str | None
    agency: str | None
    region: str | None
    claims: tuple[str, ...]
    region_role: str | None = None
    linked_by: str = "name"  # "context" when no stating claim names the company itself

    def to_json(self) -> dict[str, Any]:
        return {"product": self.product, "agency": self.agency, "region": self.region, "claims": list(self.claims),
                "region_role": self.region_role, "linked_by": self.linked_by}


@dataclass(frozen=True, slots=True)
class DossierSource:
    doc_id: str
    source: str
    url: str | None
    title: str | None
    site: str | None
    published: str | None
    sha256: str
    text_sha256: str
    group: str
    content_type: str | None
    claims: int

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "url": self.url, "title": self.title, "published": self.published,
                "sha256": self.sha256, "doc_id": self.doc_id, "site": self.site, "text_sha256": self.text_sha256,
                "syndication_group": self.group, "claims": self.claims}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    date: str
    kind: str  # published | event
    precision: str
    claim_id: str
    text: str  # the date as the text states it (event) or the document title (published)


@dataclass(frozen=True)
class Dossier:
    company: str
    entity_id: str
    aliases: tuple[str, ...]
    country: str | None
    parent: str | None
    brands: tuple[str, ...]
    products: tuple[str, ...]
    chain: tuple[ChainRow, ...]
    claims: tuple[DossierClaim, ...]
    sources: tuple[DossierSource, ...]
    since: str | None = None
    until: str | None = None
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def independent_sources(self) -> int:
        """Documents, with syndicated copies (one MinHash group) counted once."""
        return len({s.group for s in self.sources})

    @property
    def date_span(self) -> tuple[str | None, str | None]:
        dates = sorted(s.published[:10] for s in self.sources if s.published)
        return (dates[0], dates[-1]) if dates else (None, None)

    def by_stance(self) -> dict[str, list[DossierClaim]]:
        out: dict[str, list[DossierClaim]] = {s: [] for s in STANCES}
        for c in self.claims:
            out.setdefault(c.stance, []).append(c)
        return out

    def timeline(self) -> list[TimelineEntry]:
        """Claims by publication date, and by every event date their text states."""
        entries = []
        for c in self.claims:
            if c.published:
                entries.append(TimelineEntry(c.published[:10], "published", "day", c.claim_id, c.title or c.source))
            for d in c.event_dates:
                entries.append(TimelineEntry(d.value, "event", d.precision, c.claim_id, d.surface))
        return sorted(entries, key=lambda e: (e.date, e.kind, e.claim_id))

    def counts(self) -> dict[str, int]:
        return {"documents": len(self.sources), "independent_sources": self.independent_sources,
                "claims": len(self.claims), "chain_rows": len(self.chain)}

    def timeline_by_date(self) -> list[tuple[str, str, list[str], list[str]]]:
        """The timeline grouped per (date, kind): (date, kind, claim ids, what: titles or date phrases)."""
        groups: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for e in self.timeline():
            ids, what = groups.setdefault((e.date, e.kind), ([], []))
            ids.append(e.claim_id)
            if e.text not in what:
                what.append(e.text)
        return [(date, kind, ids, what) for (date, kind), (ids, what) in groups.items()]

    def to_json(self) -> dict[str, Any]:
        first, last = self.date_span
        return {
            "schema_version": SCHEMA_VERSION,
            "company": self.company, "entity_id": self.entity_id, "aliases": list(self.aliases),
            "country": self.country, "parent": self.parent,
            "brands_and_subsidiaries": list(self.brands), "products": list(self.products),
            "counts": self.counts(),
            "date_span": {"first": first, "last": last},
            "filters": {"since": self.since, "until": self.until},
            "chain": [r.to_json() for r in self.chain],
            "claims": [c.to_json() for c in self.claims],
            "timeline": [{"date": e.date, "kind": e.kind, "precision": e.precision, "claim_id": e.claim_id,
                          "text": e.text} for e in self.timeline()],
            "sources": [s.to_json() for s in self.sources],
            "generated_at": self.generated_at, "generator": f"dualuse {package_version()}",
        }


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dualuse")
    except PackageNotFoundError:  # running from a source tree without installing
        return "unknown"


# -- name resolution ---------------------------------------------------------------------------

def resolve_company(store: Store, kb: KnowledgeBase, name: str) -> tuple[str, str]:
    """(entity id, canonical name) of the company ``name`` denotes: its canonical name or any alias
    seen in the store or known to the knowledge base, any case. Unknown or ambiguous names raise a
    UsageError listing the closest candidates."""
    clean = " ".join(name.split())
    if not clean:
        raise UsageError("the company name is empty", hint="give a name, e.g. dualuse dossier 'Thermo Fisher'")
    matches = store.match_names(clean)
    known = kb.lookup(clean, "company")
    if known is not None:
        eid = entity_id("company", known.name)
        if eid in store.entity_names([eid]):
            matches.append((eid, "company", known.name))
    companies = {eid: canonical for eid, etype, canonical in matches if etype == "company"}
    if len(companies) == 1:
        return next(iter(companies.items()))
    if len(companies) > 1:
        # a brand and its parent sharing an alias: the parent's dossier rolls the brand up anyway
        roots = store.family_roots(list(companies))
        if len(roots) == 1:
            return roots[0], companies[roots[0]]
        raise UsageError(f"'{clean}' names several companies: " + "; ".join(sorted(companies.values())),
                         hint="give the full canonical name")
    others = [(etype, canonical) for _eid, etype, canonical in matches]
    if not others and (product := kb.lookup(clean, "product")) is not None:  # a KB alias the store never saw
        others = [("product", product.name)]
    for etype, canonical in others:
        product = kb.by_name("product", canonical) if etype == "product" else None
        if product is not None and product.vendor:
            raise UsageError(f"'{clean}' is a product of {product.vendor}, not a company",
                             hint=f"try: dualuse dossier '{product.vendor}'")
    if others:
        etype, canonical = others[0]
        raise UsageError(f"'{clean}' is a known {etype} ({canonical}), not a company",
                         hint="dossiers are for companies; see 'dualuse entities --type company'")
    near = store.closest_entities("company", clean)
    hint = ("closest known companies: " + "; ".join(near)) if near else \
        "no company is known yet; ingest documents first"
    raise UsageError(f"no company named '{clean}' in the store", hint=hint)


# -- building ------------------------------------------------------------------------------------

def build_dossier(store: Store, kb: KnowledgeBase, name: str, since: str | None = None,
                  until: str | None = None) -> Dossier:
    since, until = check_date("--since", since), check_date("--until", until)
    if since and until and since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    company_id, company = resolve_company(store, kb, name)
    family = store.with_descendants([company_id])
    names = store.entity_names(family)
    family_names = {names[e][1] for e in family if e in names}
    kb_products = {entity_id("product", p.name) for p in kb.entities.values()
                   if p.etype == "product" and p.vendor in family_names}
    own_products = sorted(store.entity_names(sorted(kb_products)))
    claim_ids = store.claims_mentioning(family + own_products, since, until)
    rows = store.claim_rows(claim_ids)
    # Products the coverage names beside the company whose vendor the KB does not know are the
    # company's within those documents ("Acme's new X-200 scanner").
    named = {p for r in rows.values() for p in r.entities.get("product", [])}
    unattributed = sorted(entity_id("product", p) for p in named
                          if (known := kb.by_name("product", p)) is None or not known.vendor)
    if unattributed:
        extra = store.claims_mentioning(unattributed, since, until, doc_ids=sorted({r.doc_id for r in rows.values()}))
        rows.update(store.claim_rows([c for c in extra if c not in rows]))
    named = set(rows)
    order = store.document_claims(sorted({r.doc_id for r in rows.values()}))
    thread_entities = store.claim_entity_ids([c for ids in order.values() for c in ids])
    rows.update(store.claim_rows(context_claims(order, thread_entities,
                                                set(family) | set(own_products) | set(unattributed))))
    implied = implied_products(order, thread_entities, {c: r.text for c, r in rows.items()},
                               set(own_products) | set(unattributed))
    own_product_names = set(names_of(store, own_products + unattributed))
    implied_ids = sorted(set(implied.values()))
    implied_names = dict(zip(implied_ids, names_of(store, implied_ids), strict=True))
    docs = store.documents_info(sorted({r.doc_id for r in rows.values()}))
    spans = store.mention_spans(list(docs))
    claims: list[DossierClaim] = []
    for r in rows.values():
        hq = hq_regions(r.text, r.start, spans.get(r.doc_id, []), set(family))
        claims.append(DossierClaim(
            claim_id=r.claim_id, text=r.text, stance=r.stance or "fact", doc_id=r.doc_id, source=r.source,
            url=r.url, title=r.title, published=r.published, start=r.start, end=r.end,
            companies=tuple(r.entities.get("company", [])),
            products=tuple(p for p in r.entities.get("product", []) if p in own_product_names),
            agencies=tuple(r.entities.get("agency", [])),
            regions=tuple(g for g in r.entities.get("region", []) if entity_id("region", g) not in hq),
            hq_regions=tuple(g for g in r.entities.get("region", []) if entity_id("region", g) in hq),
            event_dates=tuple(event_dates(r.text, r.published)),
            linked_by="name" if r.claim_id in named else "context",
            implied_products=(implied_names[implied[r.claim_id]],) if r.claim_id in implied else (),
        ))
    claims.sort(key=lambda c: (c.published or "9999", c.doc_id, c.start))
    per_doc: dict[str, int] = {}
    for c in claims:
        per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    sources = sorted(
        (DossierSource(d["doc_id"], d["source"], d["url"], d["title"], d["site"], d["published"], d["raw_sha256"],
                       d["content_sha256"], d["group_id"], d["content_type"], per_doc.get(d["doc_id"], 0))
         for d in docs.values()),
        key=lambda s: (s.published or "9999", s.source))
    entry = kb.by_name("company", company)
    parent_id = names.get(company_id, ("", "", None))[2]
    aliases = sorted({a for a in store.aliases_of([company_id]).get(company_id, []) if a != company})
    return Dossier(
        company=company, entity_id=company_id, aliases=tuple(aliases),
        country=entry.country if entry else None,
        parent=(entry.parent if entry and entry.parent else (names_of(store, [parent_id])[0] if parent_id else None)),
        brands=tuple(sorted(family_names - {company})),
        products=tuple(sorted(own_product_names & {p for c in claims for p in c.products})),
        chain=tuple(chain_rows(claims, kb, doc_regions(store, spans))), claims=tuple(claims), sources=tuple(sources),
        since=since, until=until,
    )


def context_claims(order: dict[str, list[str]], entities: dict[str, set[str]], subject: set[str],
                   window: int = CONTEXT_WINDOW) -> list[str]:
    """Claims that name no company and none of ``subject`` (the company's entity ids and its
    products') but follow a claim about it in the same document, at most ``window`` claims on: the
    coverage going on about the same vendor ("The company also sells internet filtering technology
    to Pakistan", "Regulators in Germany are examining the test"). A claim naming another company
    or another vendor's product ends the run. ``order``: doc id -> claim ids in text order;
    ``entities``: claim id -> entity ids."""
    out = []
    for ids in order.values():
        ours, gap = False, window
        for cid in ids:
            named = entities.get(cid, set())
            if named & subject or any(e.startswith(("company:", "product:")) for e in named):
                ours, gap = bool(named & subject), 0
            elif ours and gap < window:
                gap += 1
                out.append(cid)
    return out


def implied_products(order: dict[str, list[str]], entities: dict[str, set[str]], texts: dict[str, str],
                     products: set[str], reach: int = PRODUCT_REACH) -> dict[str, str]:
    """claim id -> the company product (entity id) a claim that names none refers to by a phrase
    such as "the tool" or "its software": the product last named at most ``reach`` claims before
    in the same document, while no other product has been named since."""
    out: dict[str, str] = {}
    for ids in order.values():
        last: str | None = None
        since = reach
        for cid in ids:
            named = {e for e in entities.get(cid, set()) if e.startswith("product:")}
            if named:
                ours = named & products
                last, since = (sorted(ours)[0] if len(ours) == 1 and ours == named else None), 0
                continue
            since += 1
            if last is not None and since <= reach and cid in texts and PRODUCT_ANAPHOR_RE.search(texts[cid]):
                out[cid] = last
    return out


def doc_regions(store: Store, spans: dict[str, list[tuple[str, int, int]]]) -> list[str]:
    """Names of the regions the documents mention anywhere."""
    return [n for _eid, (_t, n, _p) in store.entity_names(
        sorted({e for ms in spans.values() for e, _s, _e in ms if e.startswith("region:")})).items()]


def names_of(store: Store, entity_ids: list[str]) -> list[str]:
    names = store.entity_names(entity_ids)
    return [names[e][1] if e in names else e.split(":", 1)[-1] for e in entity_ids]


def hq_regions(text: str, offset: int, mentions: Iterable[tuple[str, int, int]], family: set[str]) -> set[str]:
    """Region ids the claim names only as where the company itself is based ("Promega, a
    biotechnology company based in Madison, Wisconsin", "Waltham, Massachusetts-based Thermo
    Fisher"): not where its products went. A region that locates someone else ("a Chinese company
    based in Urumqi", "its Xinjiang-based distributor") stays."""
    end = offset + len(text)
    inside = [(eid, s, e) for eid, s, e in mentions if s >= offset and e <= end]
    out = set()
    for i, (eid, s, e) in enumerate(inside):
        if not eid.startswith("region:"):
            continue
        before, after = text[: s - offset], text[e - offset:]
        if HQ_AFTER_RE.match(after):  # "<region>-based [lowercase words] <company>"
            nxt = next(((n_eid, n_s) for n_eid, n_s, _ in inside[i + 1:] if not n_eid.startswith("region:")), None)
            names_company = nxt and nxt[0] in family and HQ_GAP_RE.fullmatch(text[e - offset: nxt[1] - offset])
            anaphor = THE_BEFORE_RE.search(before) and HQ_ANAPHOR_RE.match(after)  # "The Waltham-based company"
            prev = _previous_company(inside, i)  # "Thermo Fisher, a large US-based manufacturer"
            appositive = prev is not None and prev[0] in family and \
                APPOSITIVE_BASED_RE.match(text[prev[1] - offset: s - offset])
            if names_company or anaphor or appositive:
                out.add(eid)
        elif HQ_BEFORE_RE.search(before):  # "<company>, a ... company based in <region>"
            prev = _previous_company(inside, i)
            if prev is not None and prev[0] in family and APPOSITIVE_RE.match(text[prev[1] - offset: s - offset]):
                out.add(eid)
    return out


def _previous_company(inside: list[tuple[str, int, int]], i: int) -> tuple[str, int] | None:
    """The nearest company mention before mention ``i``: (entity id, end offset)."""
    for eid, _s, e in reversed(inside[:i]):
        if eid.startswith("company:"):
            return eid, e
    return None


def specific_regions(regions: Iterable[str], kb: KnowledgeBase) -> list[str]:
    """Regions without the countries that contain another region named beside them (Xinjiang, not
    China and Xinjiang)."""
    regions = list(dict.fromkeys(regions))
    containing = set()
    for r in regions:
        entry = kb.by_name("region", r)
        if entry is not None and entry.country:
            containing.add(entry.country)
    return [r for r in regions if r not in containing]


def chain_rows(claims: Iterable[DossierClaim], kb: KnowledgeBase, known_regions: Iterable[str] = ()) -> list[ChainRow]:
    """Product -> agency -> region links, each with the claims that state it. An agency is paired
    with the regions in its own name when there are any (the claim's, else the most specific of
    ``known_regions``, the regions its documents name), else with the claim's regions; regions no
    agency takes get a row of their own, and so does a region named as the company's base (marked
    "headquarters"). A claim naming no product takes the one it refers to ("the tool", see
    ``implied_products``). Claims naming no product, agency or region add none. A row is
    ``linked_by`` "context" when only claims that follow one naming the company state it."""
    links: dict[tuple[str | None, str | None, str | None, str | None], list[str]] = {}
    known_regions = list(known_regions)
    by: dict[str, str] = {}
    for c in claims:
        by[c.claim_id] = c.linked_by
        regions = specific_regions(c.regions, kb)
        products: list[str | None] = list(c.products) or list(c.implied_products) or [None]
        triples: list[tuple[str | None, str | None]] = []
        paired: set[str] = set()
        for agency in c.agencies:
            chosen = ([r for r in regions if _names(r, agency)]
                      or _longest(r for r in known_regions if _names(r, agency)) or regions)
            paired.update(chosen)
            triples.extend([(agency, r) for r in chosen] if chosen else [(agency, None)])
        triples.extend((None, r) for r in regions if r not in paired)
        if not triples and (c.products or c.implied_products):
            triples.append((None, None))
        for product in products:
            for link_agency, link_region in triples:
                links.setdefault((product, link_agency, link_region, None), []).append(c.claim_id)
        for region in c.hq_regions:
            links.setdefault((None, None, region, "headquarters"), []).append(c.claim_id)
    rows = [ChainRow(p, a, r, tuple(dict.fromkeys(ids)), role,
                     "name" if any(by[i] == "name" for i in ids) else "context")
            for (p, a, r, role), ids in links.items()]
    return sorted(rows, key=lambda row: (-len(row.claims), row.product or "~", row.agency or "~", row.region or "~"))


def _names(region: str, agency: str) -> bool:
    """Whether the agency's name contains the region's ("Salt Lake City Police")."""
    return re.search(rf"\b{re.escape(region)}\b", agency, re.IGNORECASE) is not None


def _longest(names: Iterable[str]) -> list[str]:
    """The names not contained in another of them ("Washington County", not also "Washington")."""
    names = list(dict.fromkeys(names))
    return [n for n in names if not any(n != m and _names(n, m) for m in names)]
