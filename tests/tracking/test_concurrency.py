"""Many jobs at once against one sqlite store: no lost run, no "database is locked", racing duplicates -> one run."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import Store

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def test_32_jobs_8_workers_one_sqlite_file(tracking_store: Store) -> None:
    s = tracking_store
    # 32 distinct configs plus three extra copies of seed=0 that race the first one; a *fresh* store, so the
    # schema creation races too.
    seeds = ["0", "0", "0", *(str(i) for i in range(32))]
    proc = s.run(
        "-m",
        f"seed={','.join(seeds)}",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=8",
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert "database is locked" not in out
    runs = s.runs()
    assert len(runs) == 32
    assert Counter(r.info.status for r in runs) == {"FINISHED": 32}
    assert sorted(int(r.data.params["seed"]) for r in runs) == list(range(32))
    calls = Counter(c["seed"] for c in s.calls())
    assert calls[0] == 1  # the racing copies waited for the first, then found it FINISHED
    assert sum(calls.values()) == 32
    assert len({c["pid"] for c in s.calls()}) > 1  # really ran in several processes
