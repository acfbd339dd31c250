"""One writer at a time per data home.

The SQLite store takes concurrent writers (each transaction waits its turn), but chromadb's
PersistentClient does not: two processes writing one index corrupt what each holds in memory. So
everything that writes the store and the index (``ingest``, a crawl run, ``reindex``, the web app's
add-coverage jobs) holds ``<home>/write.lock`` while it writes. A second writer waits for the first,
up to ``Settings.write_wait`` seconds, then gives up with one line naming who holds the lock.

The lock is an OS file lock (``filelock``: ``flock`` on POSIX), so it is released when its holder
exits, however it exits (SIGKILL included); the holder's description beside it is informational.
Readers (search, dossiers, the web pages) never take it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

from pipeline.errors import DualuseError
from pipeline.settings import Settings

log = logging.getLogger("dualuse.writer")


class BusyError(DualuseError):
    """Another process is writing to the same data home and did not finish in time."""

    exit_code = 3


def lock_path(settings: Settings) -> Path:
    return settings.home / "write.lock"


def holder(settings: Settings) -> str:
    """Who holds (or last held) the write lock, in words."""
    try:
        info = json.loads((settings.home / "write.lock.json").read_text(encoding="utf-8"))
        return f"{info['what']} (pid {info['pid']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another dualuse process"


@contextmanager
def writing(settings: Settings, what: str, *, wait: float | None = None,
            on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the data home's write lock for the block. ``what`` names the writer for others' messages;
    ``on_wait`` is told who holds it when we have to wait. Re-entrant within one thread."""
    settings.ensure_home()
    lock = FileLock(lock_path(settings), is_singleton=True)
    wait = settings.write_wait if wait is None else wait
    if lock.is_locked:  # this thread (or process) already holds it: nested writer
        with lock:
            yield
        return
    try:
        lock.acquire(timeout=0)
    except Timeout:
        who = holder(settings)
        log.warning("waiting for %s to finish writing to %s", who, settings.home)
        if on_wait is not None:
            on_wait(who)
        try:
            lock.acquire(timeout=max(wait, 0.0))
        except Timeout:
            raise BusyError(f"{settings.home} is being written by {who}; gave up after {wait:g} s",
                            hint="try again when it has finished, or raise DUALUSE_WRITE_WAIT") from None
    try:
        info = {"what": what, "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with suppress(OSError):  # informational only
            (settings.home / "write.lock.json").write_text(json.dumps(info), encoding="utf-8")
        yield
    finally:
        lock.release()
