"""Quality measurement on the shared dev set and the extraction benchmark (``dualuse eval``)."""
