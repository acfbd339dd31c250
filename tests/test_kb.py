"""Knowledge base: shipped files, alias lookup, user extra files, malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.kb import KB_DIR, clean_surface, load_kb, norm_key, strip_legal_suffix


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def test_loads_every_shipped_file(kb) -> None:
    assert sorted(kb.files) == sorted(str(p) for p in KB_DIR.glob("*.yaml"))
    assert len(kb.entities) > 100
    assert {e.etype for e in kb.entities.values()} >= {"company", "product", "agency", "region", "ngo", "media"}


@pytest.mark.parametrize(("surface", "etype", "name"), [
    ("Thermo Fisher Scientific Inc.", "company", "Thermo Fisher Scientific"),
    ("thermo fisher", "company", "Thermo Fisher Scientific"),
    ("Promega Corporation", "company", "Promega"),
    ("Bingtuan", "agency", "Xinjiang Production and Construction Corps"),
    ("the Bingtuan", "agency", "Xinjiang Production and Construction Corps"),
    ("U.S.", "region", "United States"),
    ("Human Rights Watch", "ngo", "Human Rights Watch"),
    ("New York Times", "media", "The New York Times"),
])
def test_alias_lookup(kb, surface: str, etype: str, name: str) -> None:
    ent = kb.lookup(surface)
    assert ent is not None, surface
    assert (ent.etype, ent.name) == (etype, name)


def test_unknown_name_is_none(kb) -> None:
    assert kb.lookup("Zorblax Technologies") is None


def test_nonentities(kb) -> None:
    assert kb.is_nonentity("Uyghurs")
    assert kb.is_nonentity("Chinese")
    assert not kb.is_nonentity("Promega")


def test_surface_helpers() -> None:
    assert clean_surface("the  Thermo\u00a0Fisher\u2019s") == "Thermo Fisher"
    assert strip_legal_suffix("Zorblax Technologies Co., Ltd.") == "Zorblax Technologies"
    assert strip_legal_suffix("Inc.") == "Inc."  # never strips a name to nothing
    assert norm_key("Promega Corp.") == norm_key("promega")


def test_extra_file_merges_aliases_and_adds_entity(kb, tmp_path: Path) -> None:
    extra = tmp_path / "mine.yaml"
    extra.write_text("""type: company
entries:
  - name: Promega
    aliases: [Promega Biotech Wisconsin]
  - name: Zorblax Technologies
    aliases: [Zorblax, "Zorblax Technologies Co., Ltd."]
    country: Atlantis
""", encoding="utf-8")
    merged = load_kb(extra=[str(extra)])
    promega = merged.lookup("Promega Biotech Wisconsin")
    assert promega is not None and promega.name == "Promega"
    assert merged.lookup("Promega Corporation") is promega  # shipped aliases survive the merge
    assert len([e for e in merged.entities.values() if e.name == "Promega"]) == 1
    zorblax = merged.lookup("Zorblax")
    assert zorblax is not None and (zorblax.etype, zorblax.name, zorblax.country) == \
        ("company", "Zorblax Technologies", "Atlantis")
    assert str(extra) in merged.files
    assert merged.version != kb.version


def test_settings_kb_extra_reaches_the_tagger(tmp_path: Path, settings_factory) -> None:
    from pipeline.tag import Tagger

    extra = tmp_path / "mine.yaml"
    extra.write_text("type: company\nentries:\n  - name: Quillfeather\n    aliases: [QF Labs]\n", encoding="utf-8")
    tagger = Tagger(settings_factory(kb_extra=(str(extra),)))
    assert tagger.kb.lookup("QF Labs").name == "Quillfeather"


@pytest.mark.parametrize(("content", "message"), [
    ("type: company\nentries: [\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("type: spaceship\nentries: []\n", "expected a mapping"),
    ("type: company\nentries:\n  - aliases: [Nameless]\n", "has no 'name'"),
    ("type: company\nentries:\n  - name: Foo\n    aliases: Foo Inc\n", "must be a list"),
])
def test_malformed_extra_file_raises_config_error(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_kb(extra=[str(bad)])
    assert message in info.value.message
    assert str(bad) in info.value.message


def test_missing_extra_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_kb(extra=[str(tmp_path / "absent.yaml")])
    assert "not found" in info.value.message
    assert info.value.hint
