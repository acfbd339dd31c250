"""Evidence packs (a dossier with snapshots, texts and a SHA-256 manifest in one zip) and the atomic
file writes behind every output the dossier command writes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pipeline.dossier import build_dossier
from pipeline.errors import UsageError
from pipeline.files import atomic_build, atomic_path, atomic_write
from pipeline.kb import load_kb
from pipeline.pack import MANIFEST, manifest, verify_pack, write_pack
from pipeline.settings import Settings
from tests.helpers import assert_one_line_error, cli

REQUIRED = {"dossier.html", "dossier.md", "dossier.json", "chain.csv", "sources.csv", MANIFEST, "README.txt"}


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(src: Path, dst: Path, *, change: dict[str, bytes] | None = None, drop: str | None = None,
            add: dict[str, bytes] | None = None) -> None:
    """A copy of the zip ``src`` with members replaced, dropped or added."""
    files = members(src)
    files.update(change or {})
    files.update(add or {})
    if drop:
        del files[drop]
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


# ---------------------------------------------------------------------------------------------
# a pack of the shared demo store (demo corpus, plus the dev set when present)


@pytest.fixture(scope="module")
def thermo_pack(demo_store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = build_dossier(demo_store.pipe.store, load_kb(), "Thermo Fisher Scientific")
    path = tmp_path_factory.mktemp("pack") / "thermo.zip"
    summary = write_pack(d, demo_store.pipe.store, demo_store.settings.snapshots_path, path)
    return {"dossier": d, "path": path, "summary": summary, "files": members(path)}


def test_pack_verifies(thermo_pack) -> None:
    assert verify_pack(thermo_pack["path"]) == []
    summary = thermo_pack["summary"]
    assert summary.missing == ()
    assert summary.files == len(thermo_pack["files"])


def test_pack_layout_and_manifest(thermo_pack) -> None:
    files = thermo_pack["files"]
    assert set(files) >= REQUIRED
    listed = dict(reversed(line.split("  ", 1)) for line in files[MANIFEST].decode("ascii").splitlines())
    assert set(listed) == set(files) - {MANIFEST}
    for name, digest in listed.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    assert files[MANIFEST].decode("ascii") == manifest({n: b for n, b in files.items() if n != MANIFEST})
    with zipfile.ZipFile(thermo_pack["path"]) as zf:
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    readme = files["README.txt"].decode("utf-8")
    assert "sha256sum -c MANIFEST.sha256" in readme and "missing" not in readme


def test_pack_snapshots_hash_to_their_names(thermo_pack) -> None:
    d, files = thermo_pack["dossier"], thermo_pack["files"]
    snapshots = {n.split("/", 1)[1]: b for n, b in files.items() if n.startswith("snapshots/")}
    assert set(snapshots) == {s.sha256 for s in d.sources}
    assert thermo_pack["summary"].snapshots == len(snapshots) > 0
    for name, data in snapshots.items():
        assert hashlib.sha256(data).hexdigest() == name


def test_pack_texts_hold_every_claim_at_its_offsets(thermo_pack) -> None:
    files = thermo_pack["files"]
    j = json.loads(files["dossier.json"])
    assert j["company"] == "Thermo Fisher Scientific" and j["claims"]
    texts = {n[len("texts/"):-len(".txt")]: b.decode("utf-8") for n, b in files.items() if n.startswith("texts/")}
    assert set(texts) == {s["doc_id"] for s in j["sources"]}
    for c in j["claims"]:
        assert texts[c["doc_id"]][c["start"]:c["end"]] == c["text"], c["claim_id"]
    assert {s["sha256"] for s in j["sources"]} == {n.split("/", 1)[1] for n in files if n.startswith("snapshots/")}


def test_pack_csvs_and_html_agree_with_the_dossier(thermo_pack) -> None:
    d, files = thermo_pack["dossier"], thermo_pack["files"]
    chain = list(csv.DictReader(io.StringIO(files["chain.csv"].decode("utf-8"), newline="")))
    assert len(chain) == len(d.chain) and {r["vendor"] for r in chain} == {d.company}
    sources = list(csv.DictReader(io.StringIO(files["sources.csv"].decode("utf-8"), newline="")))
    assert [r["snapshot_sha256"] for r in sources] == [s.sha256 for s in d.sources]
    html = files["dossier.html"].decode("utf-8")
    images = [n for n in files if n.startswith("images/")]
    assert images, "a dossier with dated claims and chain rows has pictures"
    for name in images:
        assert files[name].startswith(b"\x89PNG") and f'src="{name}"' in html
    assert "data:image" not in html  # the pack links its image files instead of embedding them
    assert files["dossier.md"].decode("utf-8").startswith("# Dossier: Thermo Fisher Scientific")


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum not installed")
def test_pack_verifies_with_sha256sum(thermo_pack, tmp_path: Path) -> None:
    with zipfile.ZipFile(thermo_pack["path"]) as zf:
        zf.extractall(tmp_path)
    done = subprocess.run(["sha256sum", "--quiet", "-c", MANIFEST], cwd=tmp_path, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "dossier.md").write_text("tampered\n", encoding="utf-8")
    done = subprocess.run(["sha256sum", "--quiet", "-c", MANIFEST], cwd=tmp_path, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1 and "dossier.md: FAILED" in done.stdout


def first_of(files: dict[str, bytes], prefix: str) -> str:
    return sorted(n for n in files if n.startswith(prefix))[0]


@pytest.mark.parametrize("prefix", ["dossier.json", "dossier.html", "chain.csv", "snapshots/", "texts/", "README"])
def test_tampered_member_is_reported(thermo_pack, tmp_path: Path, prefix: str) -> None:
    name = first_of(thermo_pack["files"], prefix)
    bad = tmp_path / "bad.zip"
    rewrite(thermo_pack["path"], bad, change={name: thermo_pack["files"][name] + b" "})
    assert verify_pack(bad) == [f"{name}: SHA-256 differs from the manifest"]


def test_missing_and_unlisted_members_are_reported(thermo_pack, tmp_path: Path) -> None:
    name = first_of(thermo_pack["files"], "snapshots/")
    bad = tmp_path / "bad.zip"
    rewrite(thermo_pack["path"], bad, drop=name, add={"extra.txt": b"not listed"})
    assert sorted(verify_pack(bad)) == sorted([f"{name}: listed but missing", "extra.txt: not in the manifest"])


# ---------------------------------------------------------------------------------------------
# packs from the command line, on a small store of their own


PACK_DOCS = {
    "one.md": "---\ntitle: Kits reach police\npublished: 2021-05-04\nurl: https://example.org/one\n---\n\n"
              "Promega DNA kits were sold to the police in Xinjiang by a reseller in May 2021.\n\n"
              "Promega said it had no knowledge of the sale and would investigate the reseller.\n",
    "two.md": "---\ntitle: More kits reach police\npublished: 2021-06-01\nurl: https://example.org/two\n---\n\n"
              "A police laboratory in Tibet bought PowerPlex 21 kits in 2020, records show.\n\n"
              "Rights groups said Promega should stop sales to police in Tibet and Xinjiang.\n",
}


@pytest.fixture(scope="module")
def pack_home(tmp_path_factory: pytest.TempPathFactory, shared_tagger: Any, shared_embedder: Any) -> Path:
    """A home holding PACK_DOCS; the pipeline is closed so tests can copy the home and use the CLI."""
    from pipeline.ingest import Pipeline, ingest

    folder = tmp_path_factory.mktemp("pack-docs")
    for name, text in PACK_DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = Settings.load(home=tmp_path_factory.mktemp("pack-home"))
    pipe = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
    try:
        report = ingest([str(folder)], settings, pipeline=pipe)
    finally:
        pipe.close()
    assert report.ok and report.summary()["added"] == 2, report.to_json()
    return settings.home


def test_cli_pack_and_out_together(pack_home: Path, tmp_path: Path) -> None:
    pack, out = tmp_path / "promega.zip", tmp_path / "promega.json"
    result = cli("--home", pack_home, "dossier", "promega", "--pack", pack, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {pack}: " in result.stderr and "2 snapshots" in result.stderr and "missing" not in result.stderr
    assert verify_pack(pack) == []
    assert json.loads(out.read_text(encoding="utf-8"))["company"] == "Promega"
    files = members(pack)
    assert len([n for n in files if n.startswith("snapshots/")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["promega.json", "promega.zip"]


def test_cli_pack_lists_a_missing_snapshot(pack_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(pack_home, home)
    settings = Settings.load(home=home)
    snapshots = sorted(p for p in settings.snapshots_path.rglob("*") if p.is_file())
    assert len(snapshots) == 2
    gone = snapshots[0]
    gone.unlink()
    pack = tmp_path / "promega.zip"
    result = cli("--home", home, "dossier", "Promega", "--pack", pack)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # --pack without --out writes only the pack
    assert "1 snapshot(s) missing from the store (listed in README.txt)" in result.stderr
    files = members(pack)
    assert f"snapshots/{gone.name}" not in files
    assert len([n for n in files if n.startswith("snapshots/")]) == 1
    readme = files["README.txt"].decode("utf-8")
    assert "1 snapshot(s) were missing from the store and are not included:" in readme
    missing_lines = [ln for ln in readme.splitlines() if gone.name in ln]
    assert len(missing_lines) == 1 and "https://example.org/" in missing_lines[0]
    assert verify_pack(pack) == []
    assert len([n for n in files if n.startswith("texts/")]) == 2  # the texts are still there


@pytest.mark.parametrize("where", ["missing-dir", "under-a-file"])
def test_cli_pack_unwritable_is_one_line_error(pack_home: Path, tmp_path: Path, where: str) -> None:
    if where == "missing-dir":
        pack = tmp_path / "nowhere" / "p.zip"
    else:
        (tmp_path / "plain").write_text("x", encoding="utf-8")
        pack = tmp_path / "plain" / "p.zip"
    result = cli("--home", pack_home, "dossier", "Promega", "--pack", pack)
    assert_one_line_error(result, 2, f"cannot write {pack}")
    assert not pack.exists()
    assert [p.name for p in tmp_path.rglob("*")] in ([], ["plain"])


# ---------------------------------------------------------------------------------------------
# atomic writes


def test_atomic_write_text_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    atomic_write(target, "first ✓\n")
    assert target.read_text(encoding="utf-8") == "first ✓\n"
    atomic_write(target, b"\x00second")
    assert target.read_bytes() == b"\x00second"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in tmp_path.iterdir()] == ["out.md"]


def test_atomic_path_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.html"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="render failed"), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".part") and tmp != target
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("render failed")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.html"]


def test_atomic_build_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "pack.zip"

    def build(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(UsageError, match=r"cannot write .*pack\.zip: No space left on device"):
        atomic_build(target, build)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_refuses_a_folder(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(UsageError, match="it is a folder"), atomic_path(tmp_path / "dir"):
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only folder")
def test_atomic_write_to_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(UsageError, match="cannot write"):
            atomic_write(folder / "x.md", "x")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
