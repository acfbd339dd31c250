"""dualuse: the library. One module per stage (fetch, extract, tag, claims, embed, store, index,
search), typed records, settings, errors, and the ``dualuse`` CLI."""

__version__ = "0.1.0"
