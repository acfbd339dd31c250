"""Stance of a claim: who is asserting it.

* ``company_statement`` – a company says or announces it (including denials);
* ``official_statement`` – a government body or office-holder says or does it (letters, denials);
* ``allegation`` – a third party (NGO, media, expert, a report) asserts something critical;
* ``fact`` – the article's own voice, or documents speaking (procurement records, contracts).

``classify_stance`` decides from attribution in the sentence: the speech verb ("said", "told",
"announced", "denied", "according to") and the words and tagged entities of whoever stands before it
(or after "according to"). English news conventions only; a pure function of the claim text and its
mentions.

``StanceReader`` is what the pipeline calls: the trained stance model (``models/stance/``, a
logistic regression over ``stance_features``: the rules' reading, the speaker's words and entity
types, the sentence's common words, quotation marks; trained by
``pipeline/evaluation/stance_training.py``), or the rules alone (``DUALUSE_STANCE_MODEL=rules``, or
no weights installed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.linear_model import LinearModel
from pipeline.records import Mention
from pipeline.settings import MODELS_DIR, Settings

STANCE_PATH = MODELS_DIR / "stance" / "weights.json"
STOPWORDS = frozenset({
    "the", "a", "an", "of", "to", "in", "and", "or", "that", "for", "on", "with", "as", "by", "at", "is", "was",
    "were", "be", "been", "it", "its", "this", "from", "has", "have", "had", "are", "which", "who", "their",
    "his", "her", "they", "he", "she", "we", "our", "not"})
WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]+")

STANCES = ("fact", "allegation", "company_statement", "official_statement")

SPEECH = (r"said|says|say|told|tells|announced|announces|denied|denies|stated|states|insisted|"
          r"confirmed|declined|responded|wrote|writes|argued|claimed|added|noted|warned|acknowledged|"
          r"maintained|alleged|alleges|identified|accused|criticized|criticised|urged|asked")
SPEECH_RE = re.compile(rf"\b({SPEECH})\b")
ACCORDING_RE = re.compile(r"\baccording to\b(?P<who>[^,.;]{1,120})", re.IGNORECASE)
IN_STATEMENT_RE = re.compile(r"\bin a statement\b", re.IGNORECASE)

DOCUMENTS_RE = re.compile(r"\b(documents?|records?|contracts?|filings?|data|papers?|tenders?|notices?)\b",
                          re.IGNORECASE)
COMPANY_WORDS_RE = re.compile(
    r"\b(company|companies|firm|spokes(wo)?man|spokesperson|general counsel|chief executive|ceo|executive|"
    r"vendor|manufacturer|maker)\b", re.IGNORECASE)
OFFICIAL_WORDS_RE = re.compile(
    r"\b(senator|sen\.|rep\.|representative|congressman|congresswoman|minister|ministry|government|"
    r"official|officials|commission|committee|congress|parliament|lawmakers?|department|bureau|embassy|"
    r"president|governor|administration|regulator|prosecutors?|police)\b", re.IGNORECASE)
THIRD_PARTY_WORDS_RE = re.compile(
    r"\b(report|reports|article|investigation|researchers?|experts?|professor|analysts?|activists?|"
    r"critics?|advocates?|group|watchdog|organi[sz]ation|newspaper|journal|times|post|member of)\b",
    re.IGNORECASE)


def _speaker_window(text: str) -> tuple[str, int, int] | None:
    """The words that name who asserts the sentence, with their character range."""
    if (m := ACCORDING_RE.search(text)) is not None:
        return m.group("who"), m.start("who"), m.end("who")
    verbs = list(SPEECH_RE.finditer(text))
    if not verbs:
        return None
    first = verbs[0]
    if first.start() < 0.7 * len(text):  # "X said ...": the subject before the verb
        before = text[: first.start()]
        clause = re.split(r"(?<![A-Z]\.)[;:]|\bthat\b", before)[-1]
        start = first.start() - len(clause)
        return clause, start, first.start()
    tail_start = text.rfind(",", 0, verbs[-1].start()) + 1  # "..., X said."
    return text[tail_start: verbs[-1].start()], tail_start, verbs[-1].start()


def classify_stance(text: str, mentions: Sequence[Mention] = (), offset: int = 0) -> str:
    """``mentions`` carry offsets into a larger text in which ``text`` starts at ``offset``."""
    mentions = _shift(mentions, offset)
    window = _speaker_window(text)
    if window is None:
        return "allegation" if "?" in text else "fact"
    who, start, end = window
    # The nearest subject first ("In a statement to the Times, the Xinjiang government denied"):
    # the words after the last comma; the whole clause when they say nothing (an appositive:
    # "Surya Deva, adjunct law professor at ..., said").
    cut = who.rfind(",")
    if cut >= 0 and who[cut + 1:].strip():
        near = _speaker_stance(text, who[cut + 1:], start + cut + 1, end, mentions)
        if near is not None:
            return near
    return _speaker_stance(text, who, start, end, mentions) or (
        ("company_statement" if any(m.label == "company" for m in mentions) else "official_statement")
        if IN_STATEMENT_RE.search(text) else "fact")


def _speaker_stance(text: str, who: str, start: int, end: int, mentions: Sequence[Mention]) -> str | None:
    labels = {m.label for m in mentions if start <= m.start and m.end <= end}
    if DOCUMENTS_RE.search(who) and not (labels & {"ngo", "media"}):
        return "fact"
    if "company" in labels or (COMPANY_WORDS_RE.search(who) and not OFFICIAL_WORDS_RE.search(who)):
        return "company_statement"
    if labels & {"ngo", "media", "academic"} or THIRD_PARTY_WORDS_RE.search(who):
        return "allegation"
    if "agency" in labels or OFFICIAL_WORDS_RE.search(who):
        return "official_statement"
    return None


def _shift(mentions: Sequence[Mention], offset: int) -> Sequence[Mention]:
    if not offset:
        return mentions
    return [Mention(m.text, m.label, m.canonical, m.start - offset, m.end - offset) for m in mentions]


def stance_features(text: str, mentions: Sequence[Mention] = (), offset: int = 0) -> dict[str, float]:
    """What the stance model reads of a sentence. Names are never features: capitalised words
    inside the sentence are skipped, entities count by their type."""
    mentions = _shift(mentions, offset)
    f: dict[str, float] = {"bias": 1.0, f"rule={classify_stance(text, mentions)}": 1.0}
    for found in WORD_RE.finditer(text):
        word = found.group(0)
        if word[0].isupper() and found.start() > 0:
            continue
        low = word.lower()
        if low not in STOPWORDS:
            f[f"w={low}"] = 1.0
    ordered = sorted(mentions, key=lambda mention: mention.start)
    for m in ordered:
        f[f"ent={m.label}"] = 1.0
    if ordered:
        f[f"first_ent={ordered[0].label}"] = 1.0
    window = _speaker_window(text)
    if window is None:
        f["no_speaker"] = 1.0
    else:
        who, start, end = window
        for m in ordered:
            if start <= m.start and m.end <= end:
                f[f"speaker_ent={m.label}"] = 1.0
        for word in re.findall(r"[a-z][a-z'-]+", who):
            f[f"speaker={word}"] = 1.0
    if re.search("[“”\"]", text):
        f["quote"] = 1.0
    if re.match("\\s*[“\"]", text):
        f["starts_quote"] = 1.0
    return f


class StanceReader:
    """The stance of a claim as the pipeline stores it: the trained model when installed and chosen
    (``settings.stance_model``), else the rules. Loads its weights once, on first use."""

    def __init__(self, settings: Settings, model: LinearModel | None = None) -> None:
        self.settings = settings
        self._model = model
        self._loaded = model is not None

    @property
    def model(self) -> LinearModel | None:
        if not self._loaded:
            self._loaded = True
            if self.settings.stance_model == "learned" and STANCE_PATH.is_file():
                self._model = LinearModel.load(STANCE_PATH)
        return self._model

    @property
    def version(self) -> str:
        return f"model{self.model.version}" if self.model is not None else "rules2"

    def classify(self, text: str, mentions: Sequence[Mention] = (), offset: int = 0) -> str:
        model = self.model
        if model is None:
            return classify_stance(text, _shift(mentions, offset))
        return model.predict(stance_features(text, mentions, offset))

