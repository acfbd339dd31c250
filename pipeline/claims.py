"""Claims stage: cut a tagged document into sentence-level evidence units.

A claim is one sentence, exactly as it stands in the extracted text (so a quote can be checked
against the source), with a context window of neighbouring sentences from the same paragraph, the
entity mentions inside the sentence, and its stance (who asserts it, ``pipeline.stance``). Pure
function of (document, tag result).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence

from pipeline.records import Claim, Document, Mention
from pipeline.stance import classify_stance
from pipeline.tag import TagResult

StanceFn = Callable[[str, Sequence[Mention], int], str]

MIN_WORDS = 4
"""Fragments shorter than this (a stray quote mark, "Photo: AP") are not claims."""


def cut_claims(doc: Document, tagged: TagResult, context_sentences: int = 1,
               stance: StanceFn = classify_stance) -> tuple[Claim, ...]:
    """The document's claims; ``stance(sentence, its mentions, sentence offset)`` reads each one's stance."""
    text = doc.text
    para_starts = [s for s, _ in tagged.paragraphs]
    sentences = [
        (s, e) for s, e in tagged.sentences
        if len(text[s:e].split()) >= MIN_WORDS and any(ch.isalpha() for ch in text[s:e])
    ]
    paragraph_of = [bisect_right(para_starts, s) - 1 for s, _ in sentences]
    mentions = sorted(tagged.mentions, key=lambda m: m.start)
    mention_starts = [m.start for m in mentions]
    seen: Counter[str] = Counter()
    claims: list[Claim] = []
    for i, (start, end) in enumerate(sentences):
        lo = i
        while lo > 0 and i - lo < context_sentences and paragraph_of[lo - 1] == paragraph_of[i]:
            lo -= 1
        hi = i
        while hi + 1 < len(sentences) and hi - i < context_sentences and paragraph_of[hi + 1] == paragraph_of[i]:
            hi += 1
        sentence = text[start:end]
        key = " ".join(sentence.split())
        occurrence = seen[key]
        seen[key] += 1
        first = bisect_right(mention_starts, start - 1)
        inside = []
        for m in mentions[first:]:
            if m.start >= end:
                break
            if m.end <= end:
                inside.append(m)
        claims.append(Claim(
            claim_id=Claim.make_id(doc.doc_id, sentence, occurrence),
            doc_id=doc.doc_id,
            seq=len(claims),
            text=sentence,
            start=start,
            end=end,
            context_start=sentences[lo][0],
            context_end=sentences[hi][1],
            mentions=tuple(inside),
            stance=stance(sentence, inside, start),
        ))
    return tuple(claims)


def embedding_text(doc: Document, claim: Claim) -> str:
    """What is embedded for a claim: its context window (the sentence with its neighbours in the
    paragraph), so "the company said it would stop" is found by what "the company" did. Measured on
    the dev set's 15 queries: nDCG@10 0.727 vs 0.627 for the sentence alone (judged pool)."""
    return doc.text[claim.context_start:claim.context_end]
