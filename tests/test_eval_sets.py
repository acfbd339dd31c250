"""The dev sets as the evaluation reads them: the wide set's rebuilt texts are checked against their
manifest, a missing or altered copy is refused by name, and the CLI says which measures a set has."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.evaluation.devset import shared_dir
from pipeline.evaluation.sets import load_set, wide_missing_reason, wide_texts_dir
from tests.helpers import assert_one_line_error, cli

needs_shared = pytest.mark.skipif(shared_dir() is None, reason="../shared (the dev sets) is not beside the checkout")
WIDE_MISSING = wide_missing_reason() if shared_dir() is not None else "no ../shared"


def test_unknown_set_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_set("devset-huge")
    assert "devset, devset-wide" in (info.value.hint or "")


@needs_shared
def test_wide_set_not_rebuilt_is_refused_with_how_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUALUSE_DEVSET_WIDE", str(tmp_path / "nothing-here"))
    with pytest.raises(ConfigError) as info:
        load_set("devset-wide")
    assert "not rebuilt" in str(info.value) and "check.py" in (info.value.hint or "")
    assert_one_line_error(cli("eval", "entities", "--set", "devset-wide"), 1, "not rebuilt")


@needs_shared
def test_five_document_set_reads_as_one_topic() -> None:
    five = load_set("devset")
    assert len(five.docs) == 5 and five.topic_names == ["xinjiang_dna"]
    assert len(five.claims) == 25 and all(c["quote"] for c in five.claims)
    assert "Promega" in five.gold_names()


def test_measures_a_set_does_not_have_are_refused() -> None:
    assert_one_line_error(cli("eval", "extraction", "--set", "devset-wide"), 2, "five-document", "entities, stance")
    assert_one_line_error(cli("eval", "entities", "--leave-kb-out", "--check"), 2, "--check")


@pytest.mark.skipif(WIDE_MISSING is not None, reason=f"the wide dev set is not rebuilt here: {WIDE_MISSING}")
def test_wide_set_loads_and_an_altered_text_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wide = load_set("devset-wide")
    assert len(wide.docs) == 60 and len(wide.topic_names) == 20 and len(wide.claims) == 324
    copy = tmp_path / "wide"
    shutil.copytree(wide_texts_dir(), copy)
    (copy / "a01.txt").write_text((copy / "a01.txt").read_text(encoding="utf-8") + " ", encoding="utf-8")
    monkeypatch.setenv("DUALUSE_DEVSET_WIDE", str(copy))
    with pytest.raises(ConfigError) as info:
        load_set("devset-wide")
    assert "a01.txt does not match its manifest SHA-1" in str(info.value)
