"""hydraflow.yaml schema: strict keys with line numbers, aliases, discovery in parents, needs ordering."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import TYPE_CHECKING

import pytest

from hydraflow.jobs import (
    JobFileError,
    find_job_file,
    job_order,
    load_job_file,
    merge_settings,
    parse_job_file,
)

if TYPE_CHECKING:
    from pathlib import Path


def parse(text: str):
    return parse_job_file(textwrap.dedent(text).lstrip("\n"), "hydraflow.yaml")


def error(text: str) -> JobFileError:
    with pytest.raises(JobFileError) as info:
        parse(text)
    return info.value


FULL = """
jobs:
  train:
    run: python train.py --flag 'two words'
    add: hydra.launcher.n_jobs=2 x=1
    sets:
      - each: model=small,large lr=1:3
        all: seed=0
        add: hydra.launcher.n_jobs=4 +y=2
      - each: [model=huge, "lr=0.1"]
  report:
    call: tools.report.summarize
    needs: train
  ship:
    submit: [./submit.sh, --queue, gpu]
    needs: [train, report]
"""


def test_full_file_is_parsed() -> None:
    jf = parse(FULL)
    assert list(jf.jobs) == ["train", "report", "ship"]
    train = jf["train"]
    assert train.kind == "run"
    assert train.target == ("python", "train.py", "--flag", "two words")
    assert train.add == ("hydra.launcher.n_jobs=2", "x=1")
    assert train.line == 2
    first, second = train.sets
    assert first.each == ("model=small,large", "lr=1:3")
    assert first.all == ("seed=0",)
    assert first.line == 6
    assert second.each == ("model=huge", "lr=0.1")
    assert train.merged_add(first) == ["hydra.launcher.n_jobs=4", "x=1", "+y=2"]
    assert train.merged_add(second) == ["hydra.launcher.n_jobs=2", "x=1"]
    assert jf["report"].kind == "call"
    assert jf["report"].target == ("tools.report.summarize",)
    assert jf["report"].needs == ("train",)
    assert len(jf["report"].sets) == 1  # no sets: one empty set, the job runs once
    assert jf["ship"].target == ("./submit.sh", "--queue", "gpu")
    assert jf["ship"].needs == ("train", "report")


def test_old_spellings_are_aliases() -> None:
    jf = parse("""
        jobs:
          train:
            run: python train.py
            steps:
              - batch: >-
                  model=a,b
                  lr=1,2
                args: seed=1
    """)
    (s,) = jf["train"].sets
    assert s.each == ("model=a,b", "lr=1,2")
    assert s.all == ("seed=1",)


def test_unknown_set_key_names_key_job_and_line() -> None:
    err = error("""
        jobs:
          train:
            run: python train.py
            sets:
              - each: a=1,2
              - eachh: b=1,2
    """)
    assert err.line == 6
    assert "'eachh'" in str(err)
    assert "set 2 of job 'train'" in str(err)
    assert "did you mean 'each'" in str(err)
    assert str(err).startswith("hydraflow.yaml:6:")


def test_unknown_job_key() -> None:
    err = error("""
        jobs:
          a:
            run: x
          train:
            run: python train.py
            need: a
    """)
    assert err.line == 6
    assert "'need'" in err.message
    assert "job 'train'" in err.message
    assert "did you mean 'needs'" in err.message


def test_unknown_top_level_key() -> None:
    err = error("""
        jobs:
          a: {run: x}
        job:
          b: {run: y}
    """)
    assert err.line == 3
    assert "'job'" in err.message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("jobs:\n  a:\n    sets:\n      - each: x=1\n", 2, "needs one of 'run', 'call' or 'submit'"),
        ("jobs:\n  a:\n    run: x\n    call: m.f\n", 4, "both 'run' and 'call'"),
        ("jobs:\n  a:\n    call: not-a-function\n", 3, "function path"),
        ("jobs:\n  a:\n    run: ''\n", 3, "empty"),
        ("jobs:\n  a:\n    run: x\n    sets: each=1\n", 4, "must be a list of sets"),
        ("jobs:\n  a:\n    run: x\n    sets:\n      - each: {k: v}\n", 5, "string or a list of strings"),
        ("jobs:\n  a:\n    run: x\n    sets:\n      - each: a=1\n        batch: b=2\n", 6, "aliases"),
        ("jobs:\n  a:\n    run: x\n  a:\n    run: y\n", 4, "duplicate key 'a'"),
        ("jobs:\n  a:\n    run: x\n    needs: b\n", 4, "needs 'b', which is not defined"),
        ("jobs:\n  a:\n    run: x\n    needs: [a]\n", 4, "needs itself"),
        ("jobs:\n  a:\n    run: x\n    run2: y\n", 4, "unknown key 'run2'"),
        ("jobs:\n  a b:\n    run: x\n", 2, "invalid job name"),
        ('jobs:\n  a:\n    run: "x \'unclosed"\n', 3, "cannot split"),
        ("jobs:\n  a: [1, 2\n", 3, "not valid YAML"),
        ("jobs:\n", 1, "'jobs:' is empty"),
        ("- a\n- b\n", 1, "must be a mapping"),
    ],
)
def test_schema_errors(text: str, line: int, fragment: str) -> None:
    with pytest.raises(JobFileError) as info:
        parse_job_file(text, "hydraflow.yaml")
    assert fragment in info.value.message
    assert info.value.line == line, str(info.value)


def test_empty_file() -> None:
    with pytest.raises(JobFileError, match="empty"):
        parse_job_file("", "hydraflow.yaml")


def test_needs_cycle_is_an_error_naming_the_cycle() -> None:
    err = error("""
        jobs:
          a:
            run: x
            needs: c
          b:
            run: x
            needs: a
          c:
            run: x
            needs: [b]
    """)
    assert "cycle" in err.message
    assert "a -> c -> b -> a" in err.message
    assert err.line == 4


def test_needs_order_follows_dependencies_then_file_order() -> None:
    jf = parse("""
        jobs:
          sample:
            run: x
            needs: [build-target]
          prepare:
            run: x
          build-target:
            run: x
            needs: prepare
          unrelated:
            run: x
    """)
    assert [j.name for j in job_order(jf, ["sample"])] == ["prepare", "build-target", "sample"]
    assert [j.name for j in job_order(jf, ["build-target"])] == ["prepare", "build-target"]
    assert [j.name for j in job_order(jf)] == ["prepare", "build-target", "sample", "unrelated"]
    with pytest.raises(JobFileError, match=r"unknown job 'sampel' .*did you mean 'sample'"):
        job_order(jf, ["sampel"])


def test_merge_settings_set_wins_by_key() -> None:
    assert merge_settings(["a=1", "+b=2", "c=3"], ["++b=5", "d=4"]) == ["a=1", "++b=5", "c=3", "d=4"]
    assert merge_settings([], ["hydra/launcher=hydraflow_slurm"]) == ["hydra/launcher=hydraflow_slurm"]


def test_discovery_walks_up_to_parents(tmp_path: Path) -> None:
    (tmp_path / "hydraflow.yaml").write_text("jobs:\n  a:\n    run: echo hi\n")
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    assert find_job_file(deep) == tmp_path / "hydraflow.yaml"
    jf = load_job_file(start=deep)
    assert jf.root == tmp_path
    # a nearer hidden file wins over a farther one
    (tmp_path / "x" / ".hydraflow.yaml").write_text("jobs:\n  b:\n    run: echo hi\n")
    assert find_job_file(deep) == tmp_path / "x" / ".hydraflow.yaml"
    assert list(load_job_file(start=deep).jobs) == ["b"]
    # an explicit file wins over discovery
    assert list(load_job_file(tmp_path / "hydraflow.yaml", start=deep).jobs) == ["a"]


def test_discovery_failure_is_clear(tmp_path: Path) -> None:
    assert find_job_file(tmp_path) is None or not find_job_file(tmp_path).is_relative_to(tmp_path)
    with pytest.raises(JobFileError, match="job file not found"):
        load_job_file(tmp_path / "nope.yaml")


def test_launcher_choice_command_line_then_file_then_local() -> None:
    from hydraflow.jobs import plan

    jf = parse("""
        jobs:
          a:
            run: python app.py
            add: hydra/launcher=hydraflow_pbs
            sets:
              - each: x=1,2
                add: hydra.launcher.queue=q
              - each: x=3
                add: hydra/launcher=hydraflow_slurm
          b:
            run: python app.py
    """)
    (_, a_steps), (_, b_steps) = plan(jf, stamp="T")
    assert "hydra/launcher=hydraflow_pbs" in a_steps[0].argv
    assert "hydra/launcher=hydraflow_slurm" in a_steps[1].argv  # the set's add wins over the job's
    assert a_steps[0].argv.count("hydra.launcher.queue=q") == 1
    assert "hydra/launcher=hydraflow_local" in b_steps[0].argv
    assert "hydra.sweep.dir=multirun/b/T/1" in b_steps[0].argv
    with pytest.raises(
        JobFileError, match=r"'hydra\.launcher\.queue=q' is not a setting of the hydraflow_slurm"
    ):
        plan(jf, launcher="slurm")  # set 1's PBS queue does not fit SLURM
    first, second = jf["a"].sets
    jf.jobs["a"] = dataclasses.replace(jf["a"], sets=(dataclasses.replace(first, add=()), second))
    (_, a_steps), (_, b_steps) = plan(jf, launcher="slurm", extra=["hydra.launcher.partition=debug"])
    for step in (*a_steps, *b_steps):
        assert [x for x in step.argv if x.startswith("hydra/launcher=")] == ["hydra/launcher=hydraflow_slurm"]
        assert "hydra.launcher.partition=debug" in step.argv


def test_glob_is_left_to_the_app_for_run_jobs_only() -> None:
    from hydraflow.jobs import plan

    jf = parse("""
        jobs:
          a:
            run: python app.py
            sets:
              - each: db=glob(*) x=1,2
          b:
            call: tools.f
            sets:
              - each: db=glob(*)
    """)
    ((_, steps),) = plan(jf, ["a"])
    assert steps[0].count is None
    assert steps[0].deferred == "glob() is expanded by the app"
    assert "++hydra.sweeper={params:{db:'glob(*)', x:'1,2'}}" in steps[0].argv
    with pytest.raises(JobFileError, match="glob") as info:
        plan(jf, ["b"])
    assert info.value.line == 9
