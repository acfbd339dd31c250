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
