"""Property-based fuzzing of the grammar: generated and mutated sweep strings, and the issue's nasty inputs.

Every call must end within a bound (a hang detector, not a speed test: each call runs in a worker process
that is killed after ``LIMIT_S``), and end either with a valid expansion or with a ``SweepSyntaxError`` that
points at a column with a caret; never another exception. For a valid expansion: ``count`` equals the number
of jobs enumerated (when small), random access agrees with iteration, and every override is a plain Hydra
override (checked with Hydra's own ``OverridesParser``).

The suite runs a bounded number of examples; ``nox -s fuzz`` runs many more (``HYDRAFLOW_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings, target
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

if TYPE_CHECKING:
    from collections.abc import Iterator

LIMIT_S = 10.0
"""A call that takes longer is a hang (calls take milliseconds; this bound is deliberately generous)."""

EXAMPLES = int(os.environ.get("HYDRAFLOW_FUZZ_EXAMPLES", "0"))
"""Examples per property; 0: the suite's small default."""

FUZZ = settings(
    max_examples=EXAMPLES or 100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    derandomize=not EXAMPLES,  # the suite is reproducible; the fuzz session explores
)

# The worker expands one list of arguments per line of JSON and answers with the problems it found (none: "[]").
WORKER = r"""
import itertools, json, sys, time, traceback
from hydraflow.hydra_adapter.native import make_native_expander
from hydraflow.sweep import SweepSyntaxError, expand
from hydra.core.override_parser.overrides_parser import OverridesParser

PARSER = OverridesParser.create()
NATIVE = make_native_expander()
ENUMERATE, HYDRA_CHECKS = int(sys.argv[1]), int(sys.argv[2])

def check(args):
    problems = []
    start = time.perf_counter()
    result = _check(args, problems)
    result["seconds"] = time.perf_counter() - start
    return result

def _check(args, problems):
    try:
        sweep = expand(args, native=NATIVE)
        count = sweep.count
    except SweepSyntaxError as e:
        lines = str(e).splitlines()
        if e.argument is None or not 0 <= e.argument < len(args) or e.text != args[e.argument]:
            problems.append(f"error names argument {e.argument!r} with text {e.text[:80]!r}")
        if not 0 <= e.column <= len(e.text):
            problems.append(f"column {e.column} outside the argument")
        if lines[-1] != " " * e.column + "^" or not e.message.strip():
            problems.append("no caret line or empty message")
        if "Exceeds the limit" in e.message or "Traceback" in e.message or "decimal." in e.message:
            problems.append(f"raw internal message: {e.message[:200]}")
        return {"kind": "error", "column": e.column, "message": e.message[:300], "problems": problems}
    except BaseException as e:  # noqa: BLE001 - every other exception is the bug this test looks for
        return {"kind": "crash", "problems": [traceback.format_exc()[-3000:]]}
    try:
        if count < 1:
            problems.append(f"count {count} < 1")
        if count <= ENUMERATE:
            jobs = list(sweep)
            if len(jobs) != count:
                problems.append(f"count {count} but {len(jobs)} jobs enumerated")
            for i in {0, count // 2, count - 1}:
                if sweep[i] != jobs[i]:
                    problems.append(f"sweep[{i}] = {sweep[i]} but iteration gave {jobs[i]}")
            if [j for b in sweep.batches(7) for j in b] != jobs:
                problems.append("batches differ from iteration")
        else:
            jobs = list(itertools.islice(sweep, 20))
            if jobs != [sweep[i] for i in range(20)]:
                problems.append("random access differs from iteration")
            jobs.append(sweep[-1])
        distinct = sorted({o for job in jobs for o in job})
        if not all(isinstance(o, str) for o in distinct):
            problems.append("a job holds a non-string override")
        for override in distinct[:HYDRA_CHECKS]:
            try:
                parsed = PARSER.parse_override(override)
            except Exception as e:  # noqa: BLE001
                problems.append(f"override {override[:120]!r} rejected by Hydra: {str(e).splitlines()[0][:200]}")
                continue
            if parsed.is_sweep_override():
                problems.append(f"override {override[:120]!r} is still a sweep for Hydra")
    except BaseException:  # noqa: BLE001
        problems.append(traceback.format_exc()[-3000:])
    return {"kind": "ok", "count": str(count), "problems": problems}

for line in sys.stdin:
    print(json.dumps(check(json.loads(line))), flush=True)
"""


class Worker:
    """One long-lived worker process; a call that does not answer within ``LIMIT_S`` is a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", WORKER, *(["2000", "60"] if EXAMPLES else ["300", "12"])],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        return self.proc

    def check(self, args: list[str]) -> dict[str, Any]:
        proc = self.start()
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(json.dumps(args) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], LIMIT_S)
        if not ready:
            self.stop()
            shown = [a if len(a) < 200 else a[:100] + f"...({len(a)} chars)" for a in args]
            pytest.fail(f"expand() did not finish within {LIMIT_S} s (a hang): {shown}")
        line = proc.stdout.readline()
        if not line:
            self.stop()
            pytest.fail(f"the worker died on {args!r}")
        return json.loads(line)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = None


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    w.start()
    yield w
    w.stop()


def assert_sound(worker: Worker, args: list[str]) -> dict[str, Any]:
    result = worker.check(args)
    assert result["kind"] in {"ok", "error"}, "".join(result["problems"])
    if currently_in_test_context() and EXAMPLES:
        event(result["kind"])
        target(result["seconds"], label="seconds per call")  # steer the search towards slow inputs
    assert not result["problems"], (args if sum(map(len, args)) < 500 else "(long input)", result["problems"])
    return result


# ------------------------------------------------------------------------------------ grammar-aware strings

idents = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=5)
plain_numbers = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.integers(-(10**6), 10**6).map(lambda n: format(Decimal(n).scaleb(-3), "f")),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(-99, 99), st.integers(-320, 320)),
)
EXTREMES = [
    "1e5000",
    "1e-999999999",
    "1e999999999",
    "9" * 120,
    "0." + "0" * 310 + "1",
    "1" + "0" * 305,
    "1." + "0" * 500,
    ".5",
    "-0",
    "+1",
    "1.",
    "1e300",
    "1e-300",
    "1e301",
    "1_000",
    "inf",
    "nan",
    "1e" + "9" * 5000,
]
extreme_numbers = st.integers(0, len(EXTREMES) - 1).map(EXTREMES.__getitem__)
numbers = st.one_of(*[plain_numbers] * 6, extreme_numbers)
suffixes = st.sampled_from(
    ["k", "m", "M", "G", "T", "f", "p", "n", "u", "e-3", "E8", "e300", "e-300", "e301", "e999"]
)


@st.composite
def ranges(draw: st.DrawFn, *, wild: bool) -> str:
    if wild and draw(st.integers(0, 2)) == 0:  # anything, often refused
        parts = [draw(numbers | st.just("")), draw(numbers)]
        if draw(st.booleans()):
            parts.append(draw(numbers))
    else:  # a well-formed range of a few values, or a huge one
        start = draw(st.integers(-1000, 1000))
        step = draw(st.sampled_from(["1", "2", "0.5", "0.25", "0.001", "-1", "-0.1", "1e-5", "1e3"]))
        n = draw(st.sampled_from([0, 1, 3, 10, 1000, 10**9, 10**15]))
        stop = format(start + Decimal(step) * n, "f")
        parts = [str(start), stop, step]
    if draw(st.integers(0, 3)) == 0:
        parts.append(draw(suffixes if wild else st.sampled_from(["k", "m", "e-3", "M"])))
    return ":".join(parts)


def atoms(*, wild: bool) -> st.SearchStrategy[str]:
    """Items that may be joined with others (``solid`` ones only when ``wild``)."""
    nums = numbers if wild else plain_numbers
    joinable = [idents, idents, nums, nums, ranges(wild=wild), ranges(wild=wild), st.just("x\\,y")]
    solid = [
        idents.map(lambda i: f"'{i} {i}'"),
        st.lists(st.integers(0, 9), max_size=3).map(lambda v: "[" + ",".join(map(str, v)) + "]"),
        idents.map(lambda i: "{" + i + ":1}"),
        idents.map(lambda i: "${" + i + "}"),
    ]
    return st.one_of(*joinable, *(solid if wild else []))


def _joins(children: st.SearchStrategy[str], *, wild: bool) -> st.SearchStrategy[str]:
    group = st.lists(children, min_size=1, max_size=3).map(lambda items: "(" + ",".join(items) + ")")
    sfx = suffixes if wild else st.sampled_from(["k", "m", "e-3", "M", "e2"])
    piece = st.one_of(group, children, sfx, st.just("_"), st.just("e"))
    return st.one_of(
        group,
        st.lists(piece, min_size=2, max_size=4).map("".join),
        st.tuples(group, sfx).map("".join),
    )


def items(*, wild: bool) -> st.SearchStrategy[str]:
    """A list item: an atom, or atoms joined and grouped with parentheses (nested)."""
    joined = st.recursive(atoms(wild=wild), lambda c: _joins(c, wild=wild), max_leaves=8)
    if wild:
        return joined
    whole = st.one_of(
        idents.map(lambda i: f"'{i},{i}'"),
        st.lists(st.integers(0, 9), max_size=3).map(lambda v: "[" + ",".join(map(str, v)) + "]"),
        idents.map(lambda i: "${" + i + "}"),
    )
    return st.one_of(joined, joined, joined, whole)


hydra_args = st.one_of(
    st.integers(-100, 100).map(str),
    plain_numbers,
    extreme_numbers,
    st.sampled_from(["1_000", "1.", ".5", "inf", "-inf", "nan", "0.1", "0.5", "1e12", "1e9", "0"]),
)


@st.composite
def hydra_calls(draw: st.DrawFn, *, wild: bool) -> str:
    if not wild:
        lo = draw(st.integers(-50, 50))
        return draw(
            st.sampled_from(
                [
                    f"range({lo}, {lo + draw(st.integers(1, 20))})",
                    f"range({lo}, {lo + draw(st.integers(1, 10**12))}, {draw(st.integers(1, 5))})",
                    f"range({lo}.5, {lo + 10}, 0.25)",
                    f"range(0, {draw(st.integers(1, 4))}, 0.1)",
                    f"range({draw(st.integers(1, 9))}e{draw(st.integers(0, 12))})",
                    f"sort(range({lo}, {lo + 5}), reverse=true)",
                    "choice(a,b,c)",
                    "choice(1,2)",
                    f"int(range(1, {draw(st.integers(2, 9))}))",
                ]
            )
        )
    args = draw(st.lists(hydra_args, min_size=1, max_size=3))
    if draw(st.booleans()) and len(args) > 1:
        args[-1] = draw(st.sampled_from(["stop=", "step="])) + args[-1]
    call = f"range({', '.join(args)})"
    return draw(
        st.sampled_from(
            [
                call,
                call,
                call,
                f"sort({call})",
                f"shuffle({call})",
                f"sort({call}, reverse=true)",
                "interval(0,1)",
                "glob(*)",
                f"int({call})",
                f"tag(t1, {call})",
            ]
        )
    )


def _sections(*, wild: bool) -> st.SearchStrategy[str]:
    """The value of one ``|`` section: a comma list of items, or a Hydra function call."""
    lists = st.lists(items(wild=wild), min_size=1, max_size=4).map(",".join)
    return st.one_of(lists, lists, lists, hydra_calls(wild=wild))


SECTIONS = {wild: _sections(wild=wild) for wild in (False, True)}


@st.composite
def arguments(draw: st.DrawFn, key: str, *, wild: bool) -> str:
    prefix = draw(st.sampled_from(["", "", "", "+", "++"]))
    key_suffixes = ["", "", "/m", "/k", "/E8"] + (["/e300", "/e-300"] if wild else [])
    value = draw(SECTIONS[wild])
    for _ in range(draw(st.integers(0, 2))):
        other = draw(st.sampled_from(["", "", f"{key}2="]))
        value += "|" + other + draw(SECTIONS[wild])
    if draw(st.integers(0, 9)) == 0:
        value = "@w:" + value
    return f"{prefix}{key}{draw(st.sampled_from(key_suffixes))}={value}"


@st.composite
def sweeps(draw: st.DrawFn, *, wild: bool = False) -> list[str]:
    n = draw(st.integers(1, 3))
    return [draw(arguments(f"k{i}", wild=wild)) for i in range(n)]


SPECIALS = "()[]{},:|=@$'\"\\ ~+-._/0123456789eEkmx;#"


@st.composite
def mutated(draw: st.DrawFn) -> list[str]:
    args = draw(sweeps(wild=draw(st.booleans())))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(args) - 1))
        text = args[i]
        pos = draw(st.integers(0, len(text)))
        end = draw(st.integers(pos, min(len(text), pos + 8)))
        op = draw(st.sampled_from(["insert", "delete", "repeat", "replace", "wrap", "digits"]))
        if op == "insert":
            text = text[:pos] + draw(st.text(SPECIALS, min_size=1, max_size=3)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[end:]
        elif op == "repeat":
            text = text[:pos] + text[pos:end] * draw(st.integers(2, 600)) + text[end:]
        elif op == "replace":
            text = text[:pos] + draw(st.text(SPECIALS, max_size=3)) + text[end:]
        elif op == "wrap":
            k = draw(st.integers(1, 80))
            text = text[:pos] + "(" * k + text[pos:end] + ")" * k + text[end:]
        else:
            text = text[:pos] + draw(st.sampled_from("0123456789")) * draw(st.integers(50, 5000)) + text[pos:]
        args[i] = text
    return args


# -------------------------------------------------------------------------------------- the issue's inputs

NASTY = [
    ["x=0:1e300:1e-300"],
    ["x=0:1e300:3e-300"],
    ["x=(1e5000)"],
    ["x=(1)e(5000)"],
    ["lr/e300=1e4000"],
    ["a=(1e-999999999)"],
    ["a=1:" + "9" * 100_000],
    ["a=" + "(" * 500 + "1" + ")" * 500],
    ["a=" + "[" * 500 + "1" + "]" * 500],
    ["a={" + "a:{" * 500 + "1" + "}" * 501],
    ["x=(0:1e9)"],
    ["x=(0:1e9)k"],
    ["lr/m=(0:1e9)"],
    ["lr/m=1,(0:1e9)"],
    ["x=" + "(1,2)" * 25],
    ["x/m=" + "(1,2)" * 25],
    ["x=" + "_".join(["(1,2)"] * 25)],
    ["x=(1e999999999)"],
    ["x=range(0,1000000000)"],
    ["x=range(1e12)"],
    ["x=sort(range(0,1000000000))"],
    ["x=shuffle(range(1e12))"],
    ["x=range(inf)"],
    ["x=range(0, 1, 0.0)"],
    ["x=range(0, 1e9, 0.1)"],
    ["x=1:e" + "9" * 5000],
    ["lr/e" + "9" * 5000 + "=1"],
    ["x=(1:100000)e(100)"],
]


@pytest.mark.parametrize("args", NASTY, ids=lambda a: a[0][:40])
def test_the_issues_inputs(worker: Worker, args: list[str]) -> None:
    assert_sound(worker, args)


@FUZZ
@given(sweeps())
def test_generated_sweeps(worker: Worker, args: list[str]) -> None:
    assert_sound(worker, args)


@FUZZ
@given(sweeps(wild=True))
def test_generated_wild_sweeps(worker: Worker, args: list[str]) -> None:
    assert_sound(worker, args)


@FUZZ
@given(mutated())
@example(["x=" + "(1,2)" * 25 + "k"])
@example(["a=(" + "9" * 200 + ")"])
def test_mutated_sweeps(worker: Worker, args: list[str]) -> None:
    assert_sound(worker, args)


@FUZZ
@given(st.lists(st.text(SPECIALS + "abz\u00e9\n\t", max_size=30), min_size=1, max_size=3))
def test_any_text(worker: Worker, args: list[str]) -> None:
    assert_sound(worker, args)
