"""Training the span typer (``pipeline.span_typer``) and measuring it where it was not trained.

Training examples are the tagger's candidates with labels:
* the dev sets (``devset``, ``devset-wide``): a candidate is what the gold lists say its text is
  (compared with ``ner_score.norm``), 'other' for the gold's other organisations, else 'none';
* generated sentences with invented names (``synthetic``): vendors, products, agencies and places
  that no list holds, in the ways coverage writes about them, so context carries as much as form.
The knowledge base's features are dropped from half of the examples (``KB_DROPOUT``), so the model
learns to type a name the KB does not hold from its form and context.

``cross_validate`` is leave-topic-out: for each of the wide set's 20 topics, a model is trained on
the other 19 (with the five-document set and the generated sentences) and scores the held-out
topic's documents, with the full knowledge base and with the set's gold names removed from it; the
five-document set is scored by a model trained on the wide set alone. Only held-out figures are
reported. The lexicon of common lower-case words comes from the extraction benchmark's article
bodies (unlabelled news, MIT).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.evaluation.devset import load_scorer, require_shared
from pipeline.evaluation.entities import CLASS_OF_LABEL, Tagged, leave_kb_out_tagger, score_set
from pipeline.evaluation.sets import EvalSet, load_set
from pipeline.extract import extract
from pipeline.fetch import load_file
from pipeline.records import Mention
from pipeline.settings import Settings
from pipeline.span_typer import LABELS, TYPER_PATH, Candidate, SpanTyper
from pipeline.tag import Tagger

KB_DROPOUT = 0.5
REGULARISATION = 0.5  # scikit-learn's C: inverse L2 strength
LABEL_OF_CLASS = {v: k for k, v in CLASS_OF_LABEL.items()}
VERSION = "1"
OWN_WEIGHT = 0.5  # an occurrence's own scores against its name's mean in the document
THRESHOLD = 0.5
"""Chosen by leave-topic-out on the wide set, among own weight 0-1, threshold 0.4-0.6, C 0.1-2 and
KB dropout 0.2-1 (the model card lists the figures)."""


@dataclass
class Labelled:
    doc_id: str
    text: str
    candidates: list[Candidate]
    labels: list[str]


def lexicon_from_benchmark(min_count: int = 3) -> frozenset[str]:
    """Lower-case words seen at least ``min_count`` times in the benchmark's article bodies."""
    truth = json.loads((require_shared() / "article-extraction-benchmark" / "ground-truth.json").read_text("utf-8"))
    counts: Counter[str] = Counter()
    for item in truth.values():
        counts.update(w for w in re.findall(r"\b[a-z][a-z'-]{1,30}\b", item.get("articleBody") or ""))
    return frozenset(w for w, n in counts.items() if n >= min_count)


def gold_labels(gold: dict[str, Any], candidates: Sequence[Candidate], norm: Any) -> list[str]:
    by_norm: dict[str, str] = {}
    for cls, label in LABEL_OF_CLASS.items():
        for name in gold.get(cls) or []:
            by_norm.setdefault(norm(name), label)
    for name in gold.get("other_orgs") or []:
        by_norm.setdefault(norm(name), "other")
    return [by_norm.get(norm(c.text), "none") for c in candidates]


def label_set(tagger: Tagger, settings: Settings, evalset: EvalSet, lexicon: frozenset[str]) -> list[Labelled]:
    norm = load_scorer("ner_score").norm
    out = []
    for doc_id, path in evalset.docs.items():
        text = extract(load_file(str(path), settings)).text
        cands = tagger.candidates(text, lexicon)
        out.append(Labelled(doc_id, text, cands, gold_labels(evalset.gold_entities[doc_id], cands, norm)))
    return out


# -- generated sentences -----------------------------------------------------------------------

_ONSET = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cr", "dr", "gr",
          "kr", "pr", "st", "tr", "th", "sh", "vel", "mar", "cor", "hal", "ner")
_VOWEL = ("a", "e", "i", "o", "u", "ai", "ea", "io", "y")
_CODA = ("", "n", "r", "l", "s", "x", "th", "nd", "rk", "m", "ll", "v")
COMPANY_TAILS = ("Genomics", "Systems", "Technologies", "Labs", "Vision", "Security", "Analytics", "Networks",
                 "Biosciences", "Robotics", "Dynamics", "Software", "Forensics", "Intelligence", "Group", "AI", "",
                 "", "", "Inc.", "Ltd", "Solutions", "Telecom")
PRODUCT_TAILS = ("", " 40", " X2", " Pro", " 7", "Scan", "Trace", "Sense", "Link", " Suite", " 300")
AGENCY_FORMS = ("{R} Police Bureau", "Ministry of {W}", "{R} Public Security Department",
                "{R} Border Guard Directorate", "National {W} Agency", "{R} Sheriff's Office",
                "{R} Police Department", "Department of {W} Security", "{R} Intelligence Service",
                "{R} Customs Authority", "{R} Interior Ministry", "{R} Transit Police")
REGION_FORMS = ("{N}", "{N} Province", "{N} County", "{N}", "{N} Region", "{N}")
WORDS = ("Homeland", "Internal", "State", "Public", "Civil", "Border", "Digital", "Information", "Justice")
TEMPLATES = (
    "{C} supplied its {P} kit to the {A} in {R}.",
    "{C} sold {P} systems to the {A}, procurement records show.",
    "The {A} bought {P} units from {C} in 2021, according to a tender published in {R}.",
    "Researchers said {C}'s {P} software was used by the {A} to track activists in {R}.",
    "A spokesperson for {C} said the company complies with export rules in {R}.",
    "{C}, a {R}-based maker of surveillance cameras, declined to comment.",
    "Documents show that the {A} signed a contract with {C} for its {P} platform.",
    "{C} said it had stopped selling {P} to police in {R}.",
    "Officials at the {A} said the {P} system helped identify suspects.",
    "The {A} in {R} denied using {P}.",
    "In a statement, {C} said {P} is sold only to law enforcement agencies.",
    "{C} shares fell after reports that its {P} reached the {A}.",
    "Police in {R} have used {C} equipment since 2019.",
    "The report names {C} as a supplier of the {A}.",
    "{C} and its subsidiary {C2} marketed {P} to authorities in {R}.",
    "The {A} uses {P}, a tool made by {C}, to scan phones at checkpoints in {R}.",
)


def _name(rng: random.Random, syllables: int) -> str:
    word = "".join(rng.choice(_ONSET) + rng.choice(_VOWEL) + rng.choice(_CODA) for _ in range(syllables))
    return word.capitalize()


def synthetic(n: int = 400, seed: int = 7) -> list[tuple[str, dict[str, list[str]]]]:
    """``n`` one-sentence documents with invented names, and their gold lists."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        company = (_name(rng, rng.choice((1, 2, 2, 3))) + " " + rng.choice(COMPANY_TAILS)).strip()
        company2 = (_name(rng, 2) + " " + rng.choice(COMPANY_TAILS)).strip()
        tail = rng.choice(PRODUCT_TAILS)
        product = _name(rng, rng.choice((1, 2))) + tail
        if rng.random() < 0.3:
            product = _name(rng, 1) + _name(rng, 1)  # CamelCase
        region_name = _name(rng, rng.choice((2, 3)))
        region = rng.choice(REGION_FORMS).format(N=region_name)
        agency = rng.choice(AGENCY_FORMS).format(R=_name(rng, 2), W=rng.choice(WORDS))
        text = rng.choice(TEMPLATES).format(C=company, C2=company2, P=product, A=agency, R=region)
        gold = {"companies": [c for c in (company, company2) if c in text], "products": [product] if product in text
                else [], "agencies": [agency] if agency in text else [], "regions": [region] if region in text else []}
        docs.append((text, gold))
    return docs


def label_synthetic(tagger: Tagger, lexicon: frozenset[str], n: int = 400) -> list[Labelled]:
    norm = load_scorer("ner_score").norm
    out = []
    for i, (text, gold) in enumerate(synthetic(n)):
        cands = tagger.candidates(text, lexicon)
        out.append(Labelled(f"synthetic-{i}", text, cands, gold_labels(gold, cands, norm)))
    return out


# -- fitting -------------------------------------------------------------------------------------


KB_FEATURES = ("kb=", "src=KB_")
"""Features that come from the knowledge base (its types for the name, its phrase matches)."""


def _without_kb(features: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in features.items() if not k.startswith(KB_FEATURES)}


def fit(data: Iterable[Labelled], lexicon: frozenset[str], *, seed: int = 0) -> SpanTyper:
    """A multinomial logistic regression over the candidates of ``data`` (each example once with
    the KB's features and, for ``KB_DROPOUT`` of them, once more without)."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(seed)
    rows: list[dict[str, float]] = []
    targets: list[str] = []
    for item in data:
        for cand, label in zip(item.candidates, item.labels, strict=True):
            rows.append(cand.features)
            targets.append(label)
            if rng.random() < KB_DROPOUT and any(k.startswith(KB_FEATURES) for k in cand.features):
                rows.append(_without_kb(cand.features))
                targets.append(label)
    vec = DictVectorizer(sparse=True)
    x = vec.fit_transform(rows)
    model = LogisticRegression(C=REGULARISATION, max_iter=2000)
    model.fit(x, targets)
    meta = {"version": VERSION, "examples": len(rows), "own_weight": OWN_WEIGHT, "threshold": THRESHOLD}
    return SpanTyper.from_sklearn(model, list(vec.get_feature_names_out()), LABELS, meta, lexicon=lexicon)


def predict(tagger: Tagger, typer: SpanTyper, data: Sequence[Labelled]) -> Tagged:
    out: Tagged = {}
    for item in data:
        mentions: list[Mention] = tagger.learned_mentions(item.candidates, typer)
        out[item.doc_id] = tuple(mentions)
    return out


# -- cross-validation and the shipped model ----------------------------------------------------------


def cross_validate(settings: Settings, log: Any = print) -> dict[str, Any]:
    """Leave-topic-out figures on the wide set (full KB and leave-KB-out) and the five-document set
    scored by a model trained on the wide set only."""
    lexicon = lexicon_from_benchmark()
    tagger = Tagger(settings)
    tagger.use_typer(None)
    wide, five = load_set("devset-wide"), load_set("devset")
    lko = leave_kb_out_tagger(settings, wide, tagger)
    lko.use_typer(None)
    log("labelling candidates ...")
    wide_full = label_set(tagger, settings, wide, lexicon)
    wide_lko = {x.doc_id: x for x in label_set(lko, settings, wide, lexicon)}
    five_full = label_set(tagger, settings, five, lexicon)
    five_lko_tagger = leave_kb_out_tagger(settings, five, tagger)
    five_lko_tagger.use_typer(None)
    five_lko = label_set(five_lko_tagger, settings, five, lexicon)
    gen = label_synthetic(tagger, lexicon)
    full_pred: Tagged = {}
    lko_pred: Tagged = {}
    for topic in wide.topic_names:
        train = [x for x in wide_full if wide.topics[x.doc_id] != topic] + five_full + gen
        typer = fit(train, lexicon)
        held = [x for x in wide_full if wide.topics[x.doc_id] == topic]
        full_pred.update(predict(tagger, typer, held))
        lko_pred.update(predict(lko, typer, [wide_lko[x.doc_id] for x in held]))
        log(f"  fold {topic}: trained on {len(train)} documents")
    typer = fit(wide_full + gen, lexicon)
    return {
        "devset-wide": {"leave_topic_out": score_set(wide, full_pred),
                        "leave_topic_out_leave_kb_out": score_set(wide, lko_pred)},
        "devset": {"trained_on_wide_only": score_set(five, predict(tagger, typer, five_full)),
                   "trained_on_wide_only_leave_kb_out": score_set(five, predict(five_lko_tagger, typer, five_lko))},
    }


def train_shipped(settings: Settings) -> SpanTyper:
    """The shipped model: every dev document of both sets and the generated sentences."""
    lexicon = lexicon_from_benchmark()
    tagger = Tagger(settings)
    tagger.use_typer(None)
    data = (label_set(tagger, settings, load_set("devset-wide"), lexicon)
            + label_set(tagger, settings, load_set("devset"), lexicon) + label_synthetic(tagger, lexicon))
    typer = fit(data, lexicon)
    typer.meta["trained_on"] = ["devset-wide", "devset", "synthetic"]
    typer.save(TYPER_PATH)
    return typer
