"""The wait loop of the batch launchers (hydraflow.launch.batch) on scripted scheduler answers.

The scheduler sequences are the ones measured on the 3-node SLURM cluster (tests/multinode): a ``--requeue`` job
lost with its node shows NODE_FAIL in ``sacct`` for a moment, then PENDING, then RUNNING on another node; the
first copy of a job requeued off a partitioned node may write a FAILED result while the new copy runs. The real
thing is tested in tests/multinode/test_sweeps.py; these pin the state machine down in milliseconds.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path  # noqa: TC003 - a dataclass field type
from typing import Any

import pytest
from hydra.core.utils import JobReturn, JobStatus

from hydraflow.launch import batch
from hydraflow.launch.batch import Backend, _Tracked, _wait
from hydraflow.launch.config import QueueConfig


@dataclass
class Paths:
    result_pickle: Path
    stdout: Path
    stderr: Path


@dataclass
class Job:
    job_id: str
    paths: Paths


@dataclass
class Script:
    """poll_states answers, one per query: ``(states, nodes, action)``; the last one repeats."""

    steps: list[tuple[dict[str, str], dict[str, str], Any]]
    calls: int = 0
    nodes: dict[str, str] = field(default_factory=dict)

    def poll(self, jobs: list[Job]) -> dict[str, str]:
        states, nodes, action = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        self.nodes.update(nodes)
        if action is not None:
            action()
        return dict(states)


class FastBackend(Backend):
    @property
    def result_grace_s(self) -> float:
        return 0.05


def _backend(script: Script) -> Backend:
    conf = QueueConfig(poll_interval_s=0.01, max_poll_interval_s=0.01, progress="none")
    return FastBackend(
        name="test",
        submit=lambda *_: [],
        poll_states=script.poll,
        cancel=lambda _: None,
        max_array_size=10,
        conf=conf,
        where=lambda job_id: script.nodes.get(job_id, ""),
    )


def _job(tmp_path: Path, job_id: str = "7_0") -> Job:
    return Job(job_id, Paths(tmp_path / f"{job_id}.pkl", tmp_path / "out", tmp_path / "err"))


def _write(job: Job, status: JobStatus, value: Any) -> None:
    ret = JobReturn(overrides=["a=0"], status=status, _return_value=value)
    tmp = job.paths.result_pickle.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(("success", ret)))
    tmp.replace(job.paths.result_pickle)


def test_a_moment_of_node_fail_before_the_requeue_is_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = _job(tmp_path)
    running, lost = ({"7_0": "RUNNING"}, {"7_0": "node2"}), ({"7_0": "NODE_FAIL"}, {})
    script = Script(
        [
            (*running, None),
            (*lost, None),  # seen once: a later query says PENDING (requeued)
            ({"7_0": "PENDING"}, {}, None),
            ({"7_0": "PENDING"}, {}, None),
            ({"7_0": "RUNNING"}, {"7_0": "node1"}, lambda: _write(job, JobStatus.COMPLETED, 5)),
            ({"7_0": "COMPLETED"}, {}, None),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="hydraflow.launch.batch"):
        (ret,) = _wait(_backend(script), [_Tracked(0, ["a=0"], job)])
    assert ret.status == JobStatus.COMPLETED
    assert ret.return_value == 5
    text = caplog.text
    assert "#0 (7_0): node failure on node2 (NODE_FAIL)" in text
    assert "#0 (7_0): requeued by the scheduler (was NODE_FAIL on node2)" in text
    assert "#0 (7_0): running again, on node1" in text


def test_node_fail_that_stays_is_a_failure_naming_the_node(tmp_path: Path) -> None:
    job = _job(tmp_path)
    script = Script([({"7_0": "RUNNING"}, {"7_0": "node2"}, None), ({"7_0": "NODE_FAIL"}, {}, None)])
    (ret,) = _wait(_backend(script), [_Tracked(0, ["a=0"], job)])
    assert ret.status == JobStatus.FAILED
    assert "ended in state NODE_FAIL without a result (on node2)" in str(ret._return_value)
    assert script.calls >= 3  # the final state was seen again after the grace period


def test_a_stale_copys_failed_result_is_replaced_by_the_running_copys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = _job(tmp_path)
    script = Script(
        [
            ({"7_0": "RUNNING"}, {"7_0": "node3"}, None),
            ({"7_0": "PENDING"}, {}, None),
            # the first copy, behind a partition, fails (its store unreachable) while the new copy runs
            (
                {"7_0": "RUNNING"},
                {"7_0": "node1"},
                lambda: _write(job, JobStatus.FAILED, OSError("no route")),
            ),
            ({"7_0": "RUNNING"}, {}, None),
            ({"7_0": "RUNNING"}, {}, None),
            ({"7_0": "RUNNING"}, {}, lambda: _write(job, JobStatus.COMPLETED, 5)),
            ({"7_0": "COMPLETED"}, {}, None),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="hydraflow.launch.batch"):
        (ret,) = _wait(_backend(script), [_Tracked(0, ["a=0"], job)])
    assert ret.status == JobStatus.COMPLETED
    assert "#0 (7_0): a failed result, but the job is RUNNING: waiting for the scheduler" in caplog.text


@pytest.mark.parametrize("final", ["COMPLETED", "FAILED"])
def test_a_failed_result_counts_once_the_job_is_over(tmp_path: Path, final: str) -> None:
    job = _job(tmp_path)
    _write(job, JobStatus.FAILED, ValueError("a is one"))
    script = Script([({"7_0": "RUNNING"}, {"7_0": "node1"}, None), ({"7_0": final}, {}, None)])
    (ret,) = _wait(_backend(script), [_Tracked(0, ["a=0"], job)])
    assert ret.status == JobStatus.FAILED
    assert isinstance(ret._return_value, ValueError)
    assert script.calls == 2


def test_the_running_count_drops_when_a_result_comes_in_between_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []

    class Recorder(batch.Progress):
        def job_done(self, *, failed: bool, running: int | None = None) -> None:
            super().job_done(failed=failed, running=running)
            seen.append((self.done, self.running))

    monkeypatch.setattr(batch, "Progress", Recorder)
    first, second = _job(tmp_path, "7_0"), _job(tmp_path, "7_1")
    both = {"7_0": "RUNNING", "7_1": "RUNNING"}
    script = Script(
        [
            (both, {}, lambda: _write(first, JobStatus.COMPLETED, 1)),  # the scheduler still says RUNNING
            (both, {}, None),
            (both, {}, lambda: _write(second, JobStatus.COMPLETED, 2)),
        ]
    )
    rets = _wait(_backend(script), [_Tracked(0, ["a=0"], first), _Tracked(1, ["a=1"], second)])
    assert [r.return_value for r in rets] == [1, 2]
    assert seen == [(1, 1), (2, 0)]  # never "1/2 done, 2 running"
