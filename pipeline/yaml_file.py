"""Registries people edit by hand as well as through the CLI (sources, watches): YAML lists of named
entries, read and written with ruamel.yaml so comments and order survive, written atomically."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError, UsageError
from pipeline.files import atomic_write


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 120
    return y


def load_doc(path: Path) -> Any:
    """The parsed file (ruamel's commented mapping), or None when it does not exist."""
    if not path.exists():
        return None
    try:
        return _yaml().load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - ruamel raises many unrelated types for bad YAML
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML ({first})", hint="fix the file or restore it from git") from None


@contextmanager
def editing(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` while reading, checking and rewriting the file, so the CLI and the web
    app adding entries at once cannot lose one (the write itself is atomic either way)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock", timeout=30):
        yield


def entries(path: Path, key: str) -> list[Any]:
    doc = load_doc(path)
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get(key) or [], list):
        raise ConfigError(f"{path}: expected a mapping with a '{key}' list")
    return list(doc.get(key) or [])


def add_named_entry(path: Path, key: str, entry: dict[str, Any], header: str,
                    names: Callable[[], Iterable[str]], what: str, hint: str) -> None:
    """Append ``entry`` to the ``key`` list unless ``names()`` (read under the lock) already has its
    name: the one way the sources and watches registries gain an entry."""
    with editing(path):
        if entry["name"] in set(names()):
            raise UsageError(f"a {what} named '{entry['name']}' already exists", hint=hint)
        append_entry(path, key, entry, header)


def append_entry(path: Path, key: str, entry: dict[str, Any], header: str) -> None:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    doc = load_doc(path)
    if doc is None:
        doc = CommentedMap()
    if doc.get(key) is None:
        doc[key] = CommentedSeq()
    doc[key].append(entry)
    save_doc(path, doc, header)


def remove_entry(path: Path, key: str, name: str, header: str) -> None:
    doc = load_doc(path)
    if doc is None:
        return
    items = doc.get(key) or []
    for i in reversed(range(len(items))):
        if str(items[i].get("name")) == name:
            del items[i]
    save_doc(path, doc, header)


def save_doc(path: Path, doc: Any, header: str) -> None:
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    text = buf.getvalue()
    if not text.startswith("#"):
        text = header + text
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
