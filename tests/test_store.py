"""Canonical store (SQLite): idempotent saves, replaced claims, tombstones, stats, provenance."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipeline.errors import StoreError
from pipeline.records import Processed
from pipeline.store import Store
from tests.helpers import ARTICLE_SENTENCES, article_text

FIRST = article_text("Promega sold DNA kits to police in Xinjiang, according to procurement records.")
SECOND = "\n\n".join([*ARTICLE_SENTENCES[:3],
                     "Thermo Fisher Scientific said it had stopped all sales to the bureau."]) + "\n"


def processed(pipe, path: Path, text: str) -> Processed:
    path.write_text(text, encoding="utf-8")
    result = pipe.process(pipe.fetch(str(path)))
    assert isinstance(result, Processed)
    return result


def count(store: Store, sql: str, *args) -> int:
    return int(store.conn.execute(sql, args).fetchone()[0])


def test_save_then_resave_same_document(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()
    doc = processed(pipe, tmp_path / "a.txt", FIRST)
    first = pipe.save(doc)
    assert first.status == "added" and first.claims == len(doc.claims) == 7
    ids = {r[0] for r in pipe.store.conn.execute("SELECT claim_id FROM claims")}
    stats = pipe.store.stats()

    again = pipe.save(doc)
    assert again.status == "updated"
    assert {r[0] for r in pipe.store.conn.execute("SELECT claim_id FROM claims")} == ids
    assert pipe.store.stats() == stats
    assert count(pipe.store, "SELECT COUNT(*) FROM claims_fts") == len(ids)
    assert count(pipe.store, "SELECT COUNT(*) FROM mentions") == len(doc.mentions)
    assert count(pipe.store, "SELECT COUNT(*) FROM claim_entities") == \
        len({(c.claim_id, m.entity_id) for c in doc.claims for m in c.mentions})
    assert count(pipe.store, "SELECT COUNT(*) FROM snapshots") == 1
    assert pipe.store.tombstones() == []
    assert pipe.index.count() == len(ids)


def saved_then_changed(pipe, path: Path):
    """Store the first version of a document, then process (not yet store) its changed version."""
    old = processed(pipe, path, FIRST)
    pipe.save(old)
    return old, processed(pipe, path, SECOND)


def test_changed_document_replaces_claims_and_syncs_index(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()
    old, new = saved_then_changed(pipe, tmp_path / "a.txt")
    assert new.document.doc_id == old.document.doc_id
    result = pipe.save(new)
    assert result.status == "updated"

    old_ids = {c.claim_id for c in old.claims}
    new_ids = {c.claim_id for c in new.claims}
    removed = old_ids - new_ids
    assert removed and old_ids & new_ids  # some sentences went, some stayed (and kept their ids)
    stored = {r[0] for r in pipe.store.conn.execute("SELECT claim_id FROM claims")}
    assert stored == new_ids
    assert pipe.store.tombstones() == []  # sync dropped them from the index and cleared them
    assert pipe.index.count() == pipe.store.claim_count() == len(new_ids)
    assert pipe.index.collection.get(ids=sorted(removed))["ids"] == []
    assert sorted(pipe.index.collection.get(ids=sorted(new_ids))["ids"]) == sorted(new_ids)
    assert count(pipe.store, "SELECT COUNT(*) FROM claims_fts") == len(new_ids)
    text = pipe.store.conn.execute("SELECT text FROM documents").fetchone()[0]
    assert "Thermo Fisher Scientific said" in text and "export-control" not in text
    assert count(pipe.store, "SELECT COUNT(*) FROM snapshots") == 2  # both raw versions kept


def test_removed_claims_tombstoned_until_synced(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()
    old, new = saved_then_changed(pipe, tmp_path / "a.txt")
    vectors = pipe.embedder.embed([c.text for c in new.claims])
    pipe.store.save(new, vectors, pipe.version, "2024-01-01T00:00:00+00:00")  # no index sync
    removed = {c.claim_id for c in old.claims} - {c.claim_id for c in new.claims}
    assert set(pipe.store.tombstones()) == removed
    assert pipe.index.count() == len(old.claims)  # the index still has the old vectors

    from pipeline.index import sync

    sync(pipe.store, pipe.index)
    assert pipe.store.tombstones() == []
    assert pipe.index.count() == pipe.store.claim_count()


def test_stats_and_entities(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()
    assert pipe.store.stats() == {"documents": 0, "claims": 0, "entities": 0}
    doc = processed(pipe, tmp_path / "a.txt", FIRST)
    pipe.save(doc)
    stats = pipe.store.stats()
    assert stats["documents"] == 1
    assert stats["claims"] == len(doc.claims)
    assert stats["entities"] == len({m.entity_id for m in doc.mentions})
    assert pipe.store.resolve_entity("company", "promega") == ["company:promega"]
    assert pipe.store.resolve_entity("company", "Nobody Corp") == []


def test_snapshot_written_once_by_content(make_pipeline, tmp_path: Path) -> None:
    pipe = make_pipeline()
    doc = processed(pipe, tmp_path / "a.txt", FIRST)
    pipe.save(doc)
    sha = doc.raw.sha256
    snap = pipe.settings.snapshots_path / sha[:2] / sha
    assert snap.read_bytes() == FIRST.encode("utf-8")


def test_not_a_database_raises_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "dualuse.sqlite"
    bad.write_bytes(b"this is not a sqlite database, just bytes" * 100)
    with pytest.raises(StoreError) as info:
        Store(bad)
    assert str(bad) in info.value.message


def test_schema_has_foreign_keys_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError):
            store.conn.execute("INSERT INTO claims(claim_id, doc_id, seq, text, start, end, context_start, "
                               "context_end) VALUES ('c', 'no-such-doc', 0, 't', 0, 1, 0, 1)")
    finally:
        store.close()


def test_company_filter_rolls_up_brands(make_pipeline, tmp_path) -> None:
    """A claim naming only a brand is found by its parent company's name; the brand keeps its own."""
    from pipeline.ingest import ingest

    pipe = make_pipeline()
    note = tmp_path / "brand.txt"
    note.write_text("Brand note\n\nPolice in Ruritania bought an Applied Biosystems genetic analyzer in 2017 "
                    "for their forensic laboratory, according to tender documents.\n")
    ingest([str(note)], pipe.settings, pipeline=pipe)
    store = pipe.store
    parent_ids = store.resolve_entity("company", "Thermo Fisher Scientific")
    assert "company:applied-biosystems" in parent_ids
    assert store.resolve_entity("company", "Applied Biosystems") == ["company:applied-biosystems"]
    listing = {r["canonical"]: r for r in store.entity_listing("company")}
    assert listing["Applied Biosystems"]["parent"] == "Thermo Fisher Scientific"


def test_claims_fingerprint_changes_with_every_claim_write(tmp_path: Path) -> None:
    """The keyword index is keyed by it: any added, removed or rewritten claim changes it, whoever
    writes (triggers, not the store's own code); bookkeeping writes do not; another store differs."""
    store = Store(tmp_path / "a.sqlite")
    seen = [store.claims_fingerprint()]

    def changed() -> bool:
        now = store.claims_fingerprint()
        fresh = now not in seen
        seen.append(now)
        return fresh

    c = store.conn
    c.execute("""INSERT INTO documents(doc_id, source, locator, kind, text, content_sha256, raw_sha256,
                 pipeline_version, ingested_at, updated_at) VALUES ('d', 's', 'l', 'text', '', '', '', 'v', '', '')""")
    assert not changed()  # no claim yet
    c.execute("""INSERT INTO claims(claim_id, doc_id, seq, text, start, end, context_start, context_end)
                 VALUES ('c1', 'd', 0, 'Police bought kits.', 0, 0, 0, 0)""")
    assert changed()
    store.mark_indexed(["c1"])
    assert not changed()
    c.execute("UPDATE claims SET text = 'Police bought scanners.' WHERE claim_id = 'c1'")
    assert changed()
    other = Store(tmp_path / "a.sqlite")  # another connection (another process would be the same)
    other.conn.execute("DELETE FROM claims WHERE claim_id = 'c1'")
    other.close()
    assert changed()
    fresh = Store(tmp_path / "b.sqlite")
    assert fresh.claims_fingerprint() != store.claims_fingerprint()
    assert fresh.claims_fingerprint().endswith("-0")
    store.close()
    fresh.close()
