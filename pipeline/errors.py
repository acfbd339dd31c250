"""One exception hierarchy for the whole library.

Every error a user can cause or meet carries a one-line message that names the input and says what
to do. The CLI (and later the web app) translate these once, at the edge, into a single line and an
exit code; nothing below the edge prints or exits.
"""

from __future__ import annotations


class DualuseError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(DualuseError):
    """The caller asked for something malformed: an unknown option value, a bad date, --limit 0."""

    exit_code = 2


class ConfigError(DualuseError):
    """Settings or environment are wrong: a model package missing, an unwritable data directory."""


class StoreError(DualuseError):
    """The canonical store or the vector index cannot be opened or is inconsistent."""


class EmptyStoreError(DualuseError):
    """A search or listing was asked of a store with nothing in it."""


class SourceError(DualuseError):
    """One input could not be turned into a document. Carries a typed skip reason.

    These never abort a batch: the ingest loop records them per source and carries on.
    """

    def __init__(self, source: str, reason: str, detail: str, *, hint: str | None = None) -> None:
        super().__init__(f"{source}: {detail}", hint=hint)
        self.source = source
        self.reason = reason
        self.detail = detail


class FetchError(SourceError):
    """Network-level failure for a URL: unreachable, blocked, too large, wrong content type."""

    def __init__(
        self,
        source: str,
        reason: str,
        detail: str,
        *,
        hint: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(source, reason, detail, hint=hint)
        self.retryable = retryable
