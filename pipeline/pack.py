"""Evidence packs: a dossier with everything needed to verify it offline, in one zip.

Layout::

    README.txt            what is here and how to verify it
    dossier.html|md|json  the dossier (pictures under images/)
    chain.csv sources.csv
    snapshots/<sha256>    the raw bytes fetched or read for every cited document, as stored
    texts/<doc_id>.txt    the extracted text the claims' character offsets point into
    MANIFEST.sha256       SHA-256 of every file above, in ``sha256sum -c`` format

A snapshot missing from the store's folder is listed in README.txt, never silently skipped.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.charts import network_png, timeline_png
from pipeline.dossier import Dossier
from pipeline.dossier_render import chain_csv, sources_csv, to_html, to_json, to_markdown
from pipeline.files import atomic_build
from pipeline.store import Store

MANIFEST = "MANIFEST.sha256"


def pack_files(d: Dossier, store: Store, snapshots: Path) -> tuple[dict[str, bytes], list[str]]:
    """The pack's files (name -> bytes, without the manifest) and the snapshots that are missing."""
    files: dict[str, bytes] = {}
    images: dict[str, str] = {}
    for name, png in (("timeline", timeline_png(d)), ("network", network_png(d))):
        if png is not None:
            files[f"images/{name}.png"] = png
            images[name] = f"images/{name}.png"
    files["dossier.html"] = to_html(d, images).encode("utf-8")
    files["dossier.md"] = to_markdown(d, images).encode("utf-8")
    files["dossier.json"] = to_json(d).encode("utf-8")
    files["chain.csv"] = chain_csv(d).encode("utf-8")
    files["sources.csv"] = sources_csv(d).encode("utf-8")
    missing = []
    for s in d.sources:
        raw = Store.snapshot_file(snapshots, s.sha256)
        if raw.is_file():
            files[f"snapshots/{s.sha256}"] = raw.read_bytes()
        else:
            missing.append(f"{s.sha256} ({s.url or s.source})")
    for doc_id, text in store.document_texts([s.doc_id for s in d.sources]).items():
        files[f"texts/{doc_id}.txt"] = text.encode("utf-8")
    files["README.txt"] = _readme(d, missing).encode("utf-8")
    return files, missing


def manifest(files: dict[str, bytes]) -> str:
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))


@dataclass(frozen=True)
class PackSummary:
    files: int
    snapshots: int
    missing: tuple[str, ...]  # snapshots not found in the store's folder


def write_pack(d: Dossier, store: Store, snapshots: Path, path: Path) -> PackSummary:
    files, missing = pack_files(d, store, snapshots)
    files[MANIFEST] = manifest(files).encode("ascii")

    def build(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in sorted(files.items()):
                zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED)

    atomic_build(path, build)
    return PackSummary(len(files), sum(1 for n in files if n.startswith("snapshots/")), tuple(missing))


def verify_pack(path: Path) -> list[str]:
    """Problems found checking a pack against its manifest (empty when it verifies)."""
    problems = []
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        listed = {}
        for line in zf.read(MANIFEST).decode("ascii").splitlines():
            digest, name = line.split("  ", 1)
            listed[name] = digest
        for name, digest in listed.items():
            if name not in names:
                problems.append(f"{name}: listed but missing")
            elif hashlib.sha256(zf.read(name)).hexdigest() != digest:
                problems.append(f"{name}: SHA-256 differs from the manifest")
        problems += [f"{n}: not in the manifest" for n in sorted(names - set(listed) - {MANIFEST})]
    return problems


def _readme(d: Dossier, missing: list[str]) -> str:
    lines = [
        f"Evidence pack: {d.company}",
        f"Generated {d.generated_at} by dualuse.",
        "",
        "dossier.html / dossier.md / dossier.json  the dossier (JSON schema: pipeline/schemas/dossier.schema.json)",
        "chain.csv    vendor -> product -> agency -> region rows with the claims that state them",
        "sources.csv  every cited document with the SHA-256 of its snapshot and of its extracted text",
        "snapshots/   the raw bytes of each document as fetched or read, named by their SHA-256",
        "texts/       the extracted text of each document; a claim's chars START-END are text[START:END]",
        "",
        "Verify every file:   sha256sum -c MANIFEST.sha256",
        "Verify a snapshot:   sha256sum snapshots/<hash>  (the name is the hash)",
    ]
    if missing:
        lines += ["", f"{len(missing)} snapshot(s) were missing from the store and are not included:"]
        lines += [f"  {m}" for m in missing]
    return "\n".join(lines) + "\n"
