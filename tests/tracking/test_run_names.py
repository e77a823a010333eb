"""MLflow run names say what the job is (its overrides), not MLflow's random ``masked-hog-525`` (issue 13)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.tracking.conftest import Store


@pytest.mark.slow  # two app runs: about 10 s
def test_a_run_is_named_by_its_overrides(tracking_store: Store) -> None:
    s = tracking_store
    s.run("seed=5", "model.depth=3")
    s.run()
    names = sorted(r.info.run_name for r in s.runs())
    assert names == ["app", "model.depth=3,seed=5"]
