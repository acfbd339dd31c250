"""Writing user-facing output files: whole or not at all.

Every file a command writes for the user (dossiers, packs, exports) goes to a temporary file in the
target's own folder and is renamed over the target only when complete, so a crash, a full disk or
an unwritable folder never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import UsageError


def _unwritable(path: Path, exc: OSError) -> UsageError:
    reason = exc.strerror or type(exc).__name__
    return UsageError(f"cannot write {path}: {reason}", hint="choose a writable path with --out (or --pack)")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` when the block ends without error,
    removed otherwise."""
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder", hint="give a file name, e.g. --out dossier.html")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _unwritable(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: str | bytes) -> None:
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def atomic_build(path: Path, build: Callable[[Path], None]) -> None:
    """Let ``build`` write the whole file at a temporary path, then move it into place."""
    with atomic_path(path) as tmp:
        build(tmp)
