"""Dossier outputs: HTML (Jinja2, autoescaped), Markdown, JSON, and CSV of chain rows and sources.

All text in a dossier comes from third-party articles and is untrusted: the HTML template escapes
everything (no ``|safe``), links only http(s) URLs, and Markdown escapes the characters that would
otherwise become markup or raw HTML in a Markdown viewer.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline.csv_safe import csv_text
from pipeline.dossier import STANCE_TITLES, Dossier, package_version

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = ("md", "html", "json", "csv")
MAX_IDS_SHOWN = 8
"""Claim ids listed per chain or timeline row in HTML and Markdown (the rest as "+N more"; JSON and
CSV list them all). A large company's rows would otherwise repeat thousands of ids."""
CHAIN_COLUMNS = ("vendor", "product", "agency", "region", "region_role", "claims", "claim_ids", "first_published",
                 "last_published", "sources", "example_claim", "linked_by")
SOURCE_COLUMNS = ("doc_id", "title", "outlet", "published", "url", "source", "claims", "snapshot_sha256",
                  "text_sha256", "syndication_group")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def to_json(d: Dossier) -> str:
    return json.dumps(d.to_json(), ensure_ascii=False, indent=2) + "\n"


def to_html(d: Dossier, images: dict[str, str]) -> str:
    """``images``: name (timeline, network) -> an image URL (a data: URI or a relative path)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    first, last = d.date_span
    return env.get_template("dossier.html.j2").render(
        d=d, counts=d.counts(), first=first, last=last, images=images, by_stance=d.by_stance(), titles=STANCE_TITLES,
        timeline=d.timeline_by_date(), max_ids=MAX_IDS_SHOWN, generator=f"dualuse {package_version()}")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: str | None) -> str:
    """Markdown-safe text: HTML metacharacters as entities, Markdown punctuation backslashed."""
    s = (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", " ".join(s.split()))


def md_link(label: str | None, url: str | None) -> str:
    if url and url.startswith(("http://", "https://")):
        safe = url
        for char, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E"), ("|", "%7C"),
                           ("[", "%5B"), ("]", "%5D")):
            safe = safe.replace(char, code)
        return f"[{md(label or url)}]({safe})"
    return md(label or url or "")


def to_markdown(d: Dossier, images: dict[str, str]) -> str:
    j = d.to_json()
    first, last = d.date_span
    out = [f"# Dossier: {md(d.company)}", "",
           f"*dualuse company dossier, generated {d.generated_at}*"
           + (f" · claims published {d.since or '…'} to {d.until or '…'}" if d.since or d.until else ""), "",
           f"- **Aliases seen:** {md('; '.join(d.aliases)) or 'none'}",
           f"- **Country:** {md(d.country) or 'not known'}",
           f"- **Parent:** {md(d.parent) or 'none recorded'}",
           f"- **Brands and subsidiaries:** {md('; '.join(d.brands)) or 'none recorded'}",
           f"- **Products named:** {md('; '.join(d.products)) or 'none named'}",
           f"- **Documents:** {j['counts']['documents']} ({j['counts']['independent_sources']} independent: "
           "syndicated copies counted once)",
           f"- **Claims:** {j['counts']['claims']}",
           f"- **Date span:** {f'{first} to {last}' if first else 'no dated documents'}", "",
           "## Pictures", ""]
    out.append(f"![Timeline of claims]({images['timeline']})" if images.get("timeline")
               else "No dated claims: no timeline chart.")
    out.append("")
    out.append(f"![Company, products, agencies and regions]({images['network']})" if images.get("network")
               else "No chain links: no network graph.")
    out += ["", "## The chain: vendor → product → agency → region", ""]
    if d.chain:
        out += ["| Vendor | Product | Agency | Region | Claims |", "|---|---|---|---|---|"]
        for r in d.chain:
            region = (md(r.region) or "—") + (" (headquarters)" if r.region_role else "")
            region += " (from the next sentence)" if r.linked_by == "context" else ""
            out.append(f"| {md(d.company)} | {md(r.product) or '—'} | {md(r.agency) or '—'} | {region} | "
                       f"{_ids(r.claims)} |")
    else:
        out.append("The claims name no product, agency or region with this company.")
    out += ["", "## Claims by stance", ""]
    for stance, claims in d.by_stance().items():
        out += [f"### {STANCE_TITLES[stance]} ({len(claims)})", ""]
        for c in claims:
            dates = f" · event dates: {', '.join(e.value for e in c.event_dates)}" if c.event_dates else ""
            follows = " · follows a claim naming the company" if c.linked_by == "context" else ""
            out += [f"> {md(c.text)}", "",
                    f"— {md_link(c.title or c.source, c.url)} · {c.published or 'undated'} · claim `{c.claim_id}`, "
                    f"chars {c.start}–{c.end} of document `{c.doc_id}`{dates}{follows}", ""]
        if not claims:
            out += ["None.", ""]
    out += ["## Timeline", ""]
    timeline = d.timeline_by_date()
    if timeline:
        out += ["| Date | Kind | What | Claims |", "|---|---|---|---|"]
        out += [f"| {date} | {'event stated' if kind == 'event' else 'published'} | {md('; '.join(what[:3]))} | "
                f"{_ids(ids)} |" for date, kind, ids, what in timeline]
    else:
        out.append("No claim is dated.")
    out += ["", f"## Sources ({len(d.sources)})", "",
            "| Title | Outlet | Published | URL or path | Claims | Snapshot SHA-256 |", "|---|---|---|---|---|---|"]
    out += [f"| {md(s.title) or 'untitled'} | {md(s.site)} | {s.published or 'undated'} | "
            f"{md_link(s.url, s.url) if s.url else md(s.source)} | {s.claims} | `{s.sha256}` |" for s in d.sources]
    return "\n".join(out) + "\n"


def _ids(ids: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(f"`{i}`" for i in ids[:MAX_IDS_SHOWN])
    return shown + (f" +{len(ids) - MAX_IDS_SHOWN} more" if len(ids) > MAX_IDS_SHOWN else "")


def chain_csv(d: Dossier) -> str:
    """One row per chain link, in the shape of an Atlas-of-Surveillance-style sheet: vendor,
    product, agency, region, evidence count and ids, date range, sources, an example quote."""
    claims = {c.claim_id: c for c in d.claims}
    rows = []
    for r in d.chain:
        cs = [claims[i] for i in r.claims if i in claims]
        dates = sorted(c.published[:10] for c in cs if c.published)
        urls = list(dict.fromkeys(c.url or c.source for c in cs))
        rows.append([d.company, r.product or "", r.agency or "", r.region or "", r.region_role or "", len(cs),
                     " ".join(r.claims), dates[0] if dates else "", dates[-1] if dates else "", " ".join(urls),
                     cs[0].text if cs else "", r.linked_by])
    return csv_text(CHAIN_COLUMNS, rows)


def sources_csv(d: Dossier) -> str:
    return csv_text(SOURCE_COLUMNS, [[s.doc_id, s.title or "", s.site or "", s.published or "", s.url or "", s.source,
                                  s.claims, s.sha256, s.text_sha256, s.group] for s in d.sources])


def render(d: Dossier, fmt: str, images: dict[str, str] | None = None) -> str:
    """One output format; pictures for md/html are drawn here unless ``images`` are given."""
    if fmt == "json":
        return to_json(d)
    if fmt == "csv":
        return chain_csv(d)
    if images is None:
        images = embedded_images(d)
    return to_html(d, images) if fmt == "html" else to_markdown(d, images)


def embedded_images(d: Dossier) -> dict[str, str]:
    from pipeline.charts import network_png, timeline_png

    out = {}
    for name, png in (("timeline", timeline_png(d)), ("network", network_png(d))):
        if png is not None:
            out[name] = data_uri(png)
    return out
