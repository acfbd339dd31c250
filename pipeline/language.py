"""Language identification of extracted text (py3langid: a maintained, offline langid.py port).

The tagger and the embedding model are English models. Other languages are detected here and
recorded on the document; the ingest stage skips them with the reason ``not-english`` rather than
tagging them with rules that do not apply.
"""

from __future__ import annotations

SAMPLE_CHARS = 5000  # identification is stable well before this; keeps 2 MB documents cheap


def detect_language(text: str) -> str:
    """ISO 639-1 code of the dominant language of ``text`` ('und' when there is no text)."""
    sample = text[:SAMPLE_CHARS].strip()
    if not sample:
        return "und"
    import py3langid  # loads its bundled model once, on first use

    lang, _score = py3langid.classify(sample)
    return str(lang)
