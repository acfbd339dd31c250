"""The learned span typer: what a candidate name is (company, product, agency, region, another
organisation, or not a name), from its form and its context, for names no list holds.

Candidates come from the tagger (spaCy's entities of every naming label, runs of proper nouns and
acronyms, knowledge-base matches and the product/force patterns). Each is described by sparse
features that never spell out the name itself: where it came from, what the knowledge base says of
it (a strong prior, not the decision), the form rules of ``entity_rules`` (agency heads, company
suffixes, NGO and media words), its shape (capitals, digits, length, an acronym in brackets after
it) and the words around it. Words inside the name are used only when they are common lower-case
English words (``lexicon``: the head noun "safety" in a firm's name, "police" in a force's), so a
model trained on annotated coverage learns how vendors, products and agencies are written about,
not which ones were in that coverage.

A multinomial logistic regression (trained by ``pipeline/evaluation/typer_training.py`` with
scikit-learn) scores every candidate; probabilities are averaged over the occurrences of one name in
a document (a name keeps its type through an article), and overlapping candidates are resolved best
first. The model is a JSON file of weights (``models/span-typer/weights.json``), read with numpy:
no pickle, and inference needs nothing but this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.entity_rules import (
    ACADEMIC_RE,
    AGENCY_HEAD_RE,
    COMPANY_CUES_RE,
    COMPANY_FORM_RE,
    INTERGOV_RE,
    MEDIA_CUES_RE,
    MEDIA_RE,
    NGO_CUES_RE,
    NGO_RE,
    agency_by_form,
    classify_org,
    is_generic_government,
)
from pipeline.kb import KnowledgeBase, clean_surface, norm_key
from pipeline.linear_model import LinearModel
from pipeline.settings import MODELS_DIR

LABELS = ("none", "company", "product", "agency", "region", "other")
"""What a candidate can be; 'other' is an organisation that is none of the four (NGO, media, lab)."""
TYPER_PATH = MODELS_DIR / "span-typer" / "weights.json"
CONNECTORS = {"of", "for", "and", "&", "de", "la", "del", "du", "on"}
CONTEXT = 3  # words each side
NUMERIC_ENTS = {"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate span: character offsets into the document, its text, its features."""

    start: int
    end: int
    text: str
    key: str  # norm_key of the text: occurrences of one name share it
    features: dict[str, float]
    kb_type: str | None  # the knowledge base's type for the text, if it has exactly one


def _word(token: Any) -> str:
    """A context word as a feature value: proper nouns and numbers by shape only."""
    if token.like_num:
        return "<num>"
    if token.pos_ == "PROPN" or (token.is_title and not token.is_sent_start):
        return "<Name>"
    if token.is_upper and len(token.text) > 1:
        return "<ACR>"
    return str(token.lower_)


def span_features(span: Any, sources: Iterable[str], kb: KnowledgeBase, lexicon: frozenset[str]) -> Candidate:
    """Features of one candidate ``span`` (a spaCy Span); ``sources`` name what proposed it."""
    doc = span.doc
    text = span.text
    name = clean_surface(text)
    f: dict[str, float] = {"bias": 1.0}
    for src in sources:
        f[f"src={src}"] = 1.0
    known = kb.candidates(name)
    types = sorted({k.etype for k in known})
    kb_type = None
    if types:
        for t in types:
            f[f"kb={t}"] = 1.0
        if len(types) == 1:
            kb_type = types[0]
    if kb.is_nonentity(name):
        f["kb_nonentity"] = 1.0
    words = name.split()
    n = len(words)
    f[f"ntok={min(n, 4)}"] = 1.0
    forms = (("intergov", INTERGOV_RE.match), ("agency_head", AGENCY_HEAD_RE.search), ("agency", agency_by_form),
             ("company", COMPANY_FORM_RE.search), ("ngo", NGO_RE.search), ("media", MEDIA_RE.search),
             ("academic", ACADEMIC_RE.search), ("generic_government", is_generic_government))
    for tag, test in forms:  # the form rules of entity_rules, as evidence rather than decisions
        if test(name):
            f[f"form_{tag}"] = 1.0
    sentence = span.sent.text if span.sent is not None else text
    f[f"rule={classify_org(name, sentence)}"] = 1.0
    context = sentence.replace(text, " ")
    for rx, tag in ((COMPANY_CUES_RE, "cue_company"), (NGO_CUES_RE, "cue_ngo"), (MEDIA_CUES_RE, "cue_media")):
        if rx.search(context):
            f[tag] = 1.0
    if name.isupper() and len(name) >= 2 and name.replace(".", "").isalpha():
        f["shape_acronym"] = 1.0
    if re.search(r"[a-z][A-Z]", name):
        f["shape_camel"] = 1.0
    if any(ch.isdigit() for ch in name):
        f["shape_digit"] = 1.0
    if "-" in name:
        f["shape_hyphen"] = 1.0
    if name[:1].islower():
        f["shape_lower_start"] = 1.0
    if "." in name:
        f["shape_dot"] = 1.0
    if any(w.lower() in CONNECTORS for w in words[1:-1]):
        f["shape_connector"] = 1.0
    sentence_start = span.sent.start if span.sent is not None else 0
    if span.start == sentence_start:
        f["sent_start"] = 1.0
    for pos, w in ((0, words[0]), (n - 1, words[-1])):
        low = w.lower().strip(".,'’")
        if low in lexicon:
            f[f"{'first' if pos == 0 and n > 1 else 'last'}={low}"] = 1.0
    for w in words[1:-1]:
        low = w.lower()
        if low in lexicon:
            f[f"in={low}"] = 1.0
    for i in range(1, CONTEXT + 1):
        if span.start - i >= 0:
            f[f"L{i}={_word(doc[span.start - i])}"] = 1.0
        if span.end + i - 1 < len(doc):
            f[f"R{i}={_word(doc[span.end + i - 1])}"] = 1.0
    if span.start >= 1 and span.end < len(doc) and doc[span.start - 1].text == "(" and doc[span.end].text == ")":
        f["in_brackets"] = 1.0
    if span.end + 2 < len(doc) and doc[span.end].text == "(" and doc[span.end + 1].is_upper:
        f["acronym_after"] = 1.0
    if span.end < len(doc) and doc[span.end].tag_ == "POS":
        f["possessive"] = 1.0
    if (head := _appositive_head(doc, span.end)) is not None:  # "Gaggle, a school safety software"
        f[f"appos={head}"] = 1.0
    if span.start >= 2 and doc[span.start - 1].lower_ in NAMING_VERBS:  # "the tool, called Gaggle"
        k = span.start - 2
        k -= doc[k].text == ","
        if k >= 0 and doc[k].pos_ == "NOUN":
            f[f"called={doc[k].lower_}"] = 1.0
    lo, hi = max(0, span.start - 6), min(len(doc), span.end + 6)
    for token in (*doc[lo:span.start], *doc[span.end:hi]):
        if token.is_alpha and not token.is_stop and token.is_lower:
            f[f"ctx={token.lower_}"] = 0.5
    return Candidate(span.start_char, span.end_char, text, norm_key(name), f, kb_type)


NAMING_VERBS = frozenset({"called", "named", "dubbed", "branded"})


def _appositive_head(doc: Any, end: int) -> str | None:
    """The head noun of an appositive right after a name ("X, a Leeds-based DNA firm," -> "firm"):
    the last noun of the run of adjectives and nouns after ", a/an/the"; what the name is."""
    if end + 2 >= len(doc) or doc[end].text != "," or doc[end + 1].lower_ not in {"a", "an", "the"}:
        return None
    head = None
    for token in doc[end + 2: end + 10]:
        if token.pos_ in {"ADJ", "NOUN", "PROPN", "NUM"} or token.text == "-" or token.tag_ == "HYPH" \
                or (token.pos_ == "VERB" and token.tag_ == "VBN"):
            if token.pos_ == "NOUN":
                head = token.lower_
            continue
        break
    return head


class SpanTyper(LinearModel):
    """The trained weights: ``scores`` per candidate, ``name_probabilities`` averaged per name."""

    def __init__(self, labels: Sequence[str], features: dict[str, int], weights: np.ndarray, bias: np.ndarray,
                 meta: dict[str, Any] | None = None, lexicon: frozenset[str] = frozenset()) -> None:
        super().__init__(labels, features, weights, bias, meta)
        self.lexicon = lexicon
        self.own_weight = float(self.meta.get("own_weight", 0.0))
        """How much an occurrence's own scores count against the name's mean in the document."""
        self.threshold = float(self.meta.get("threshold", 0.5))

    @classmethod
    def load(cls, path: Path = TYPER_PATH) -> SpanTyper:
        args, extra = cls.read(path)
        return cls(**args, lexicon=frozenset(extra.get("lexicon", ())))

    def save(self, path: Path, **extra: Any) -> None:
        super().save(path, lexicon=sorted(self.lexicon), **extra)

    def scores(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Per-candidate label probabilities (rows: candidates, columns: ``labels``)."""
        return super().probabilities([c.features for c in candidates])

    def name_probabilities(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """``scores`` mixed with their mean over the other occurrences of the same name in the
        document: one name, one type through an article."""
        probs = self.scores(candidates)
        if not len(candidates):
            return probs
        groups: dict[str, list[int]] = {}
        acronym_of: dict[str, str] = {}  # "Integrated Fixed Towers (IFT)": IFT is the same name
        ordered = sorted(range(len(candidates)), key=lambda i: candidates[i].start)
        for n, i in enumerate(ordered):
            cand = candidates[i]
            if "acronym_after" in cand.features:
                nxt = next((candidates[j] for j in ordered[n + 1:] if candidates[j].start > cand.end), None)
                if nxt is not None and nxt.text.isupper() and nxt.start - cand.end <= 3:
                    acronym_of.setdefault(nxt.key, group_key(cand.key))
        for i, cand in enumerate(candidates):
            key = group_key(cand.key)
            groups.setdefault(acronym_of.get(key, key), []).append(i)
        mixed = probs.copy()
        for rows in groups.values():
            if len(rows) > 1:
                mean = probs[rows].mean(axis=0)
                mixed[rows] = (1.0 - self.own_weight) * mean + self.own_weight * probs[rows]
        return mixed


def group_key(key: str) -> str:
    """A name's key with a plural last word made singular ("integrated fixed towers" ->
    "integrated fixed tower"): one name in one document, however its number."""
    if len(key) > 4 and key.endswith("s") and not key.endswith(("ss", "us", "is")):
        return key[:-1]
    return key


def resolve(candidates: Sequence[Candidate], probs: np.ndarray, labels: Sequence[str],
            threshold: float = 0.5) -> list[tuple[Candidate, str, float]]:
    """Non-overlapping (candidate, label, confidence), best first: a candidate is kept when its best
    label is a name's (not 'none') with at least ``threshold`` of the probability mass; regions may
    sit inside an agency's name ('Xinjiang' in 'Xinjiang Public Security Bureau')."""
    none = labels.index("none")
    # longest first among the confident (a maximal name, "U.S. Customs and Border Protection",
    # before the shorter name inside it), then the more confident
    order = sorted(range(len(candidates)),
                   key=lambda i: (-int(1.0 - probs[i][none] >= threshold), -(candidates[i].end - candidates[i].start),
                                  -(1.0 - probs[i][none])))
    taken: list[tuple[Candidate, str, float]] = []
    for i in order:
        cand = candidates[i]
        p = probs[i].copy()
        p[none] = 0.0
        best = int(np.argmax(p))
        confidence = float(p[best])
        if confidence < threshold or math.isnan(confidence):
            continue
        label = labels[best]
        clash = [t for t in taken if t[0].start < cand.end and cand.start < t[0].end]
        if clash and not (label == "region" and all(t[1] == "agency" and t[0].start <= cand.start
                                                    and cand.end <= t[0].end for t in clash)):
            continue
        taken.append((cand, label, confidence))
    return sorted(taken, key=lambda t: t[0].start)
