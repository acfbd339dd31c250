"""Whose words a query asks for: "how did the company respond", "what did local officials say",
"what did a rights group allege". Claims carry a stance (``pipeline.stance``: fact, allegation,
company_statement, official_statement); a query that asks what a kind of speaker said prefers the
claims of that stance, and search gives them a small boost (``Settings.stance_boost``).

Read from the query's words alone, no model: a verb of saying (say, respond, deny, statement...)
with the nearest speaker noun before it within a few words (a company noun, a company the query
names, an official body, or a rights group, researchers, a report) or, for allegations, a word of
alleging anywhere, unless it describes the accused ("a vendor accused of ...", "the accused firm").
Hearsay ("said to have helped") and pronouns ("what did it say") ask for nothing.
"""

from __future__ import annotations

import re

SAY = frozenset({"say", "says", "said", "saying", "respond", "responds", "responded", "response", "responses",
                 "reply", "replied", "replies", "deny", "denies", "denied", "denial", "statement", "statements",
                 "comment", "comments", "commented", "explain", "explains", "explained", "explanation",
                 "insist", "insists", "insisted", "acknowledge", "acknowledged", "admit", "admitted", "told",
                 "tell", "claimed", "position", "defend", "defended", "defense", "defence"})
ALLEGE = frozenset({"allege", "alleges", "alleged", "allegation", "allegations", "accuse", "accuses",
                    "accused", "accusation", "accusations", "charge", "charged"})
COMPANY_SPEAKERS = frozenset({"company", "companies", "firm", "firms", "maker", "makers", "manufacturer",
                              "manufacturers", "vendor", "vendors", "supplier", "suppliers", "seller", "producer",
                              "corporation", "developer", "contractor", "exporter", "giant", "spokesperson",
                              "executive", "executives", "ceo", "counsel"})
OFFICIAL_SPEAKERS = frozenset({"official", "officials", "government", "governments", "authorities", "authority",
                               "ministry", "minister", "police", "bureau", "department", "agency", "state",
                               "regulator", "regulators", "embassy", "spokesman", "administration", "beijing",
                               "lawmakers", "senators", "congress", "parliament"})
ACCUSER_SPEAKERS = frozenset({"ngo", "ngos", "rights", "activist", "activists", "researcher", "researchers",
                              "watchdog", "campaigners", "critics", "experts", "expert", "report", "reports",
                              "investigators", "advocates", "group", "groups", "journalists"})
WINDOW = 6
"""Words before a verb of saying searched for its speaker."""
CLAUSE_STOPS = frozenset({"it", "they", "he", "she", "we", "its", "their", "what", "how", "why", "when", "which",
                          "who", "whether", "and", "but", "or", "if"})
"""The backward search for a speaker ends here: a pronoun (unresolved) or the start of the clause."""

PASSIVE_AFTER = frozenset({"of", "with", "by"})
DETERMINERS = frozenset({"the", "a", "an", "this", "that", "its", "their"})
WORD_RE = re.compile(r"[A-Za-z]+")


def wanted_stances(query: str, company_names: tuple[str, ...] = ()) -> set[str]:
    """The stances a query asks for (empty: no preference). ``company_names``: companies the query
    names (their words count as company speakers: "what did Promega say")."""
    words = [w.lower() for w in WORD_RE.findall(query)]
    named = {w.lower() for name in company_names for w in WORD_RE.findall(name)}
    out: set[str] = set()
    for i, word in enumerate(words):
        after = words[i + 1] if i + 1 < len(words) else ""
        before = words[i - 1] if i else ""
        if word in ALLEGE:
            # "accused of supplying", "the accused vendor", "charged with": they describe the
            # accused, not ask what an accuser said
            if after not in PASSIVE_AFTER and before not in DETERMINERS:
                out.add("allegation")
            continue
        if word not in SAY or (word in {"said", "says"} and after == "to"):  # "said to have helped": hearsay
            continue
        for speaker in reversed(words[max(0, i - WINDOW):i]):
            if speaker in CLAUSE_STOPS:
                break
            if speaker in COMPANY_SPEAKERS or speaker in named:
                out.add("company_statement")
                break
            if speaker in OFFICIAL_SPEAKERS:
                out.add("official_statement")
                break
            if speaker in ACCUSER_SPEAKERS:
                out.add("allegation")
                break
    return out
