"""Settings: defaults, environment, explicit overrides, data directory checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import PROJECT_ROOT, Settings, apply_offline_env


def test_defaults() -> None:
    s = Settings()
    assert s.allow_private is False
    assert s.max_bytes == 20 * 1024 * 1024
    assert s.fetch_retries == 2
    assert s.kb_extra == ()
    assert s.home == PROJECT_ROOT / "data"  # a source checkout keeps data beside the code


def test_environment_then_overrides(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUALUSE_ALLOW_PRIVATE", "yes")
    monkeypatch.setenv("DUALUSE_MAX_BYTES", "1234")
    monkeypatch.setenv("DUALUSE_FETCH_TIMEOUT", "2.5")
    monkeypatch.setenv("DUALUSE_KB_EXTRA", os.pathsep.join(["/a.yaml", "", "/b.yaml"]))
    monkeypatch.setenv("DUALUSE_HOME", str(tmp_path / "env-home"))
    s = Settings.load()
    assert (s.allow_private, s.max_bytes, s.fetch_timeout, s.kb_extra) == (True, 1234, 2.5, ("/a.yaml", "/b.yaml"))
    assert s.home == (tmp_path / "env-home").resolve()
    o = Settings.load(allow_private=False, max_bytes=None, home=tmp_path / "x" / ".." / "cli-home")
    assert o.allow_private is False  # an explicit override beats the environment
    assert o.max_bytes == 1234  # a None override is ignored
    assert o.home == (tmp_path / "cli-home").resolve()


@pytest.mark.parametrize(("var", "raw"), [("DUALUSE_MAX_BYTES", "20MB"), ("DUALUSE_FETCH_TIMEOUT", "soon")])
def test_bad_environment_value(monkeypatch, var: str, raw: str) -> None:
    monkeypatch.setenv(var, raw)
    with pytest.raises(ConfigError) as info:
        Settings.load()
    assert f"{var}={raw!r}" in info.value.message


def test_ensure_home_creates_and_checks(tmp_path: Path) -> None:
    s = Settings.load(home=tmp_path / "new" / "home")
    assert s.ensure_home() == s.home and s.home.is_dir()
    assert list(s.home.iterdir()) == []  # the write probe is removed
    assert (s.db_path, s.chroma_path, s.prefect_home) == (
        s.home / "dualuse.sqlite", s.home / "chroma", s.home / "prefect")


def test_ensure_home_unwritable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError) as info:
        Settings.load(home=tmp_path / "file" / "home").ensure_home()
    assert "not writable" in info.value.message
    assert "--home" in (info.value.hint or "")


def test_offline_env(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    apply_offline_env()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"
