"""Locating and reading the shared dev set (``../shared/devset``) and its scorers (``../shared/eval``).

The dev set is third-party text: it is read in place, never copied into the project.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigError
from pipeline.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from pipeline.ingest import Pipeline


def shared_dir() -> Path | None:
    """``$DUALUSE_SHARED`` or the ``shared`` folder beside the checkout, if present."""
    env = os.environ.get("DUALUSE_SHARED")
    for candidate in ([Path(env)] if env else []) + [PROJECT_ROOT.parent / "shared", PROJECT_ROOT / "shared"]:
        if (candidate / "devset").is_dir():
            return candidate
    return None


def require_shared() -> Path:
    found = shared_dir()
    if found is None:
        raise ConfigError(
            "the shared dev set was not found (looked for ../shared/devset)",
            hint="set DUALUSE_SHARED to the folder that holds devset/ and eval/",
        )
    return found


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@contextmanager
def dev_store(settings: Settings, models: Pipeline | None = None,
              sources: list[str] | None = None) -> Iterator[tuple[Settings, Pipeline]]:
    """The dev documents (or ``sources``) ingested into a scratch home (deleted afterwards), reusing
    ``models``' tagger and embedder when given."""
    from pipeline.ingest import Pipeline, ingest

    with tempfile.TemporaryDirectory(prefix="dualuse-eval-") as tmp:
        scratch = replace(settings, home=Path(tmp))
        pipe = Pipeline(scratch, tagger=models.tagger if models else None,
                        embedder=models.embedder if models else None)
        try:
            ingest(sources or [str(require_shared() / "devset" / "docs")], scratch, pipeline=pipe)
            yield scratch, pipe
        finally:
            pipe.close()


def load_scorer(name: str) -> ModuleType:
    """Import one of the shared scorers (``ner_score`` or ``ir_score``) from ``shared/eval``."""
    path = require_shared() / "eval" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"dualuse_shared_{name}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load scorer {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
