"""The lock file (requirements.lock) must match pyproject.toml: `make` installs exactly the lock, so a
dependency added, dropped or re-ranged in pyproject.toml without `make lock` would go untested."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def locked() -> tuple[dict[str, Version], set[str], list[str]]:
    """(name -> pinned version, names the lock says pyproject.toml asked for, pins without a hash)."""
    pins: dict[str, Version] = {}
    direct: set[str] = set()
    unhashed: list[str] = []
    current = ""
    lines = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        match = PIN_RE.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = Version(match.group(2))
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if "--hash=sha256:" not in following:
                unhashed.append(current)
        elif current and re.search(r"#\s+(via\s+)?dualuse \(pyproject\.toml", line):
            direct.add(current)
    return pins, direct, unhashed


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    specs = [*project["project"]["dependencies"], *project["project"]["optional-dependencies"]["test"],
             *project["build-system"]["requires"]]
    return [Requirement(s) for s in specs]


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    pins, _, _ = locked()
    stale = []
    for req in declared():
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            stale.append(f"{req} (locked: {version or 'missing'})")
    assert stale == [], f"requirements.lock is stale against pyproject.toml, run `make lock`: {stale}"


def test_lock_holds_no_dependency_pyproject_dropped() -> None:
    _, direct, _ = locked()
    wanted = {canonicalize_name(r.name) for r in declared()}
    assert direct - wanted == set(), "requirements.lock holds dependencies pyproject.toml dropped: run `make lock`"


def test_every_pin_has_a_hash_and_torch_is_the_cpu_build() -> None:
    pins, _, unhashed = locked()
    assert unhashed == []
    assert str(pins["torch"]).endswith("+cpu")  # a CUDA build would pull gigabytes of wheels
    assert not any(name.startswith("nvidia-") for name in pins)


def test_make_installs_the_lock_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements.lock" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
