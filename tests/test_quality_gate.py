"""Golden-corpus gate: entity and retrieval quality on ../shared/devset must not fall below the floors
pinned in models/quality_floors.json."""

from __future__ import annotations

import pytest

from pipeline.evaluation.report import FLOORS_PATH, below_floors, flatten, load_floors, run_eval
from tests.conftest import require_devset


@pytest.fixture(scope="module")
def floors() -> dict[str, dict[str, float]]:
    require_devset()
    assert FLOORS_PATH.is_file(), f"{FLOORS_PATH} is missing: the quality gate has no floors"
    return load_floors()


@pytest.mark.parametrize("section", ["entities", "stance", "retrieval"])
def test_quality_at_or_above_floors(section: str, floors, settings) -> None:
    assert floors.get(section), f"no floors for '{section}' in {FLOORS_PATH}"
    result, failures = run_eval(settings, section)
    measured = flatten(result)[section]
    # A floor naming a figure that is not measured would be skipped silently by below_floors.
    unmeasured = set(floors[section]) - set(measured)
    assert not unmeasured, f"floors name figures that are not measured: {unmeasured}"
    assert failures == below_floors(result)
    assert failures == [], "\n".join(failures) + f"\nmeasured: {measured}"


def test_retrieval_with_distractors_counts_them_as_misses(tmp_path, settings, shared_tagger, shared_embedder) -> None:
    """``dualuse eval retrieval --distractors``: the pages are ingested beside the dev documents and a
    distractor ranked high costs a place. A decoy page that repeats every dev query word for word
    must come first in keyword search and pull the all-claims and document figures down."""
    import json

    from pipeline.evaluation.devset import read_jsonl
    from pipeline.evaluation.retrieval import evaluate_retrieval
    from pipeline.ingest import Pipeline

    devset = require_devset().parent
    queries = [q["q"] for q in read_jsonl(devset / "queries.jsonl")]
    decoys = tmp_path / "decoys"
    decoys.mkdir()
    body = "".join(f"<p>{q} {q}</p>" for q in queries)
    (decoys / "decoy.html").write_text(f"<html><head><title>Decoy</title></head><body>{body}</body></html>")
    (decoys / "notes.bin").write_bytes(b"\x00not a document")  # skipped, counted
    models = Pipeline(settings, tagger=shared_tagger, embedder=shared_embedder)
    plain = evaluate_retrieval(settings, models, modes=("keyword",))
    mixed = evaluate_retrieval(settings, models, modes=("keyword",), distractors=[str(decoys)])
    assert "distractors" not in plain
    info = mixed["distractors"]
    assert info["documents"] == 1 and info["skipped"] == 1 and info["failed"] == 0
    assert info["claims_in_store"] > 146
    assert mixed["keyword"]["all_claims"]["ndcg@10"] < plain["keyword"]["all_claims"]["ndcg@10"] - 0.1, \
        json.dumps([plain["keyword"], mixed["keyword"]])
    assert mixed["keyword"]["documents"]["ndcg@10"] < plain["keyword"]["documents"]["ndcg@10"]
