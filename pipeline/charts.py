"""The dossier's pictures: a timeline chart and a company -> product -> agency -> region network.

PNG bytes from matplotlib (Agg, no display) with networkx for the layered layout. PNG rather than
SVG because entity names and titles are untrusted text: in a raster image they cannot carry markup
into the HTML page that embeds it. matplotlib is imported inside the functions: it costs about half
a second and only dossiers need it.
"""

from __future__ import annotations

import io
import itertools
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.dossier import Dossier

MAX_NODES = 36
"""Nodes drawn in the network (the most-cited links win); the chain table lists every row."""
LAYERS = ("company", "product", "agency", "region")
COLOURS = {"company": "#1f4e79", "product": "#b35806", "agency": "#542788", "region": "#1b7837"}


def _as_date(value: str) -> date | None:
    try:
        if len(value) == 4:
            return date(int(value), 7, 1)
        if len(value) == 7:
            return date(int(value[:4]), int(value[5:7]), 15)
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _png(fig: object) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return buf.getvalue()


def timeline_png(dossier: Dossier) -> bytes | None:
    """Claims per day on two lanes: when they were reported, and the event dates they state.
    None when nothing is dated."""
    counts: dict[str, Counter[date]] = {"published": Counter(), "event": Counter()}
    for entry in dossier.timeline():
        when = _as_date(entry.date)
        if when is not None:
            counts[entry.kind][when] += 1
    if not counts["published"] and not counts["event"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 2.6))
    lanes = (("event", "events the claims state", "#b35806", 1),
             ("published", "reported (publication date)", "#1f4e79", 0))
    for kind, label, colour, y in lanes:
        if counts[kind]:
            xs = sorted(counts[kind])
            sizes = [30 + 25 * counts[kind][x] for x in xs]
            ax.scatter(xs, [y] * len(xs),  # type: ignore[arg-type]  # matplotlib plots dates; its stubs say floats
                       s=sizes, c=colour, alpha=0.7, label=f"{label} ({sum(counts[kind].values())})")
    ax.set_yticks([0, 1], ["reported", "events"])
    ax.set_ylim(-0.7, 1.7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{dossier.company}: {len(dossier.claims)} claims over time (dot size = number of claims)",
                 fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def network_png(dossier: Dossier) -> bytes | None:
    """Company -> products -> agencies -> regions, edges weighted by the claims stating them.
    None when the chain is empty."""
    if not dossier.chain:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    weight: Counter[tuple[tuple[str, str], tuple[str, str]]] = Counter()
    root = ("company", dossier.company)
    for row in dossier.chain:
        path = [root] + [(kind, name) for kind, name in
                         (("product", row.product), ("agency", row.agency), ("region", row.region)) if name]
        for a, b in itertools.pairwise(path):
            weight[(a, b)] += len(row.claims)
    score: Counter[tuple[str, str]] = Counter()
    for (a, b), w in weight.items():
        score[a] += w
        score[b] += w
    keep = {root} | {n for n, _ in score.most_common(MAX_NODES)}
    graph = nx.DiGraph()
    for node in keep:
        graph.add_node(node, layer=LAYERS.index(node[0]))
    for (a, b), w in weight.items():
        if a in keep and b in keep:
            graph.add_edge(a, b, weight=w)
    pos = nx.multipartite_layout(graph, subset_key="layer")
    height = max(3.0, 0.42 * max(Counter(n[0] for n in graph.nodes).values()))
    fig, ax = plt.subplots(figsize=(11, height))
    widths = [0.6 + 1.4 * min(graph.edges[e]["weight"], 10) / 10 for e in graph.edges]
    nx.draw_networkx_edges(graph, pos, ax=ax, width=widths, alpha=0.35, arrows=False)
    for kind in LAYERS:
        nodes = [n for n in graph.nodes if n[0] == kind]
        nx.draw_networkx_nodes(graph, pos, nodelist=nodes, node_color=COLOURS[kind], node_size=120, ax=ax,
                               label=kind)
    labels = {n: (n[1] if len(n[1]) <= 38 else n[1][:36] + "…") for n in graph.nodes}
    for node, (x, y) in pos.items():  # labels beside their dots, away from the edges
        right = node[0] != "company"
        ax.text(x + (0.015 if right else -0.015), y, labels[node], fontsize=7.5, va="center",
                ha="left" if right else "right")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=8, frameon=False)
    dropped = len(set(score) | {root}) - len(keep)
    more = f"; {dropped} less-cited entities not drawn" if dropped > 0 else ""
    ax.set_title(f"{dossier.company}: company → products → agencies → regions (edge width = claims){more}",
                 fontsize=10)
    ax.axis("off")
    ax.margins(x=0.22)
    return _png(fig)
