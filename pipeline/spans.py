"""Span repair for entity candidates: where NER's spans need cutting, extending, dropping or
deciding between readings. Heuristics of English news writing, each named for the case it handles;
used by ``pipeline.tag``."""

from __future__ import annotations

from typing import Any

from pipeline.entity_rules import agency_by_form

GENERIC_PLURALS = {"customers", "clients", "officials", "residents", "people", "citizens", "users", "members",
                   "workers", "students", "officers", "dealers", "suppliers", "buyers", "sellers", "activists",
                   "journalists", "researchers", "experts", "critics", "lawmakers", "leaders", "families"}
CLAUSE_WORDS = {"that", "which", "who", "whom", "whose", "where", "when", "while", "because", "said", "says"}

PLATFORM_BEFORE = {"on", "via", "using", "through", "into", "onto"}
PLATFORM_AFTER = {"account", "accounts", "search", "searches", "app", "apps", "page", "pages", "post", "posts",
                  "photo", "picture", "video", "videos", "feed", "profile", "user", "users", "login"}


def disambiguate(candidates: list[Any], span: Any) -> Any:
    """'searched on Google', 'a Google account' -> the product; 'Google said' -> the company.
    A platform reading needs a cue; otherwise the organisation (company, agency, ...) wins."""
    doc = span.doc
    before = doc[span.start - 1].lower_ if span.start > 0 else ""
    after = doc[span.end].lower_ if span.end < len(doc) else ""
    by_type = {c.etype: c for c in candidates}
    if "product" in by_type and (before in PLATFORM_BEFORE or after in PLATFORM_AFTER):
        return by_type["product"]
    for etype in ("company", "agency", "ngo", "media", "academic", "other_org", "region"):
        if etype in by_type:
            return by_type[etype]
    return None


def extend_agency(span: Any) -> Any:
    """'Congressional-Executive Commission' + 'on China' -> one body: NER often stops a state
    body's name before its 'on/of/for <Name>' tail."""
    doc = span.doc
    if span.label_ != "ORG" or not agency_by_form(span.text):
        return span
    end = span.end
    if end + 1 < len(doc) and doc[end].lower_ in ("on", "of", "for") and doc[end + 1].is_title:
        end += 1
        while end < len(doc) and (doc[end].is_title or doc[end].text in ("U.S.", "UN")):
            end += 1
        from spacy.tokens import Span  # spaCy loads only when tagging runs

        return Span(doc, span.start, end, label=span.label)
    return span




def split_names(span: Any) -> list[Any]:
    """Cut a candidate where one name ends and another begins: at a possessive ("Bingtuan's Public
    Security Bureau": the Bingtuan and its bureau) or a clause word NER swallowed ("Twitter that
    X Corp.")."""
    from spacy.tokens import Span

    for i, token in enumerate(span):
        if 0 < i < len(span) - 1 and (token.tag_ == "POS" or (token.lower_ in CLAUSE_WORDS and token.is_lower)):
            return [*split_names(Span(span.doc, span.start, span.start + i, label=span.label)),
                    *split_names(Span(span.doc, span.start + i + 1, span.end, label=span.label))]
    return [span]
