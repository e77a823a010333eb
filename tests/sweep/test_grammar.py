"""Every construct of the extended sweep grammar, with exact outputs."""

from __future__ import annotations

import pytest

from hydraflow.hydra_adapter.native import make_native_expander
from hydraflow.sweep import Sweep, SweepSyntaxError, expand


def jobs(*args: str) -> list[list[str]]:
    return list(expand(args, native=make_native_expander()))


def values(arg: str) -> list[str]:
    """The values of a single-argument sweep (the part after the first '=')."""
    return [job[0].split("=", 1)[1] for job in jobs(arg)]


# ------------------------------------------------------------------------------------------- lists, product


def test_comma_list() -> None:
    assert jobs("a=1,2,3") == [["a=1"], ["a=2"], ["a=3"]]


def test_product_first_argument_slowest() -> None:
    assert jobs("a=1,2", "b=x,y,z") == [
        ["a=1", "b=x"],
        ["a=1", "b=y"],
        ["a=1", "b=z"],
        ["a=2", "b=x"],
        ["a=2", "b=y"],
        ["a=2", "b=z"],
    ]


def test_plain_values_pass_through() -> None:
    assert jobs("a=1", "b=hello", "c=1.0", "d=1e-3", "e=true", "f=null") == [
        ["a=1", "b=hello", "c=1.0", "d=1e-3", "e=true", "f=null"]
    ]


def test_no_arguments_is_one_empty_job() -> None:
    assert jobs() == [[]]


def test_whitespace_around_items_is_dropped() -> None:
    assert values("a= 1 , 2") == ["1", "2"]


def test_inner_whitespace_kept() -> None:
    assert values("a=x y,z") == ["x y", "z"]


def test_empty_value_passes_through() -> None:
    assert jobs("a=") == [["a="]]


# ------------------------------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("a=1:3", ["1", "2", "3"]),
        ("a=:3", ["0", "1", "2", "3"]),
        ("a=0:1:0.25", ["0", "0.25", "0.5", "0.75", "1"]),
        ("a=0:0.3:0.1", ["0", "0.1", "0.2", "0.3"]),
        ("a=0:1:0.3", ["0", "0.3", "0.6", "0.9"]),
        ("a=5:1:-2", ["5", "3", "1"]),
        ("a=-1:-3:-1", ["-1", "-2", "-3"]),
        ("a=1:0:-0.5", ["1", "0.5", "0"]),
        ("a=1000000:1000002", ["1000000", "1000001", "1000002"]),
        ("a=2:2", ["2"]),
        ("a=1.5:3", ["1.5", "2.5"]),
        ("a=1.0:3.0", ["1", "2", "3"]),
        ("a=1 : 3", ["1", "2", "3"]),
    ],
)
def test_ranges(arg: str, expected: list[str]) -> None:
    assert values(arg) == expected


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("a=1:3:k", ["1000", "2000", "3000"]),
        ("a=1.2:1.4:0.1:k", ["1200", "1300", "1400"]),
        ("a=1:k", ["1000"]),
        ("a=1:3:m", ["1e-3", "2e-3", "3e-3"]),
        ("a=1:2:M", ["1000000", "2000000"]),
        ("a=1:G", ["1000000000"]),
        ("a=1:T", ["1000000000000"]),
        ("a=5:u", ["5e-6"]),
        ("a=5:n", ["5e-9"]),
        ("a=5:p", ["5e-12"]),
        ("a=5:f", ["5e-15"]),
        ("a=1:3:e-3", ["1e-3", "2e-3", "3e-3"]),
        ("a=1:2:E8", ["100000000", "200000000"]),
        ("a=1.5:e2", ["150"]),
        ("a=1:2:0.5:k", ["1000", "1500", "2000"]),
    ],
)
def test_range_suffixes(arg: str, expected: list[str]) -> None:
    assert values(arg) == expected


def test_non_numeric_colon_values_are_strings() -> None:
    assert values("a=foo:bar,http://x") == ["foo:bar", "http://x"]


# ------------------------------------------------------------------------------------------------ key suffix


def test_key_suffix_si() -> None:
    assert jobs("lr/m=1,2,5") == [["lr=1e-3"], ["lr=2e-3"], ["lr=5e-3"]]


def test_key_suffix_integer_result_prints_as_int() -> None:
    assert jobs("batch/k=4,8") == [["batch=4000"], ["batch=8000"]]


def test_key_suffix_exponent_with_range() -> None:
    assert jobs("lr/e-4=1:3") == [["lr=1e-4"], ["lr=2e-4"], ["lr=3e-4"]]


def test_key_suffix_with_prefix_plus() -> None:
    assert jobs("+x/k=1") == [["+x=1000"]]


def test_config_group_keys_keep_hydra_meaning() -> None:
    assert jobs("hydra/launcher=joblib", "db=mysql,pg") == [
        ["hydra/launcher=joblib", "db=mysql"],
        ["hydra/launcher=joblib", "db=pg"],
    ]


def test_group_named_like_prefix_with_non_numeric_values_is_a_group() -> None:
    # `m` is an SI prefix, but `small` is no number: this is the config group `size/m`.
    assert jobs("size/m=small,large") == [["size/m=small"], ["size/m=large"]]


def test_key_suffix_needs_every_value_of_the_key_numeric() -> None:
    # one non-numeric section makes `lr/m` a config group for the whole argument
    assert jobs("lr/m=1|x") == [["lr/m=1"], ["lr/m=x"]]
    # a section naming another key decides on its own
    assert jobs("lr/m=1|opt/k=adam") == [["lr=1e-3"], ["opt/k=adam"]]


def test_key_suffix_with_native_function() -> None:
    assert jobs("lr/m=range(1,3)") == [["lr=1e-3"], ["lr=2e-3"]]


# ------------------------------------------------------------------------------------------- parentheses


def test_parentheses_with_prefix() -> None:
    assert values("a=(1,4)k,(6,8)M") == ["1000", "4000", "6000000", "8000000"]


def test_parentheses_exponent_product() -> None:
    assert values("a=(1,2)e(-1,2)") == ["0.1", "100", "0.2", "200"]


def test_parentheses_string_product() -> None:
    assert values("model=(cnn,vit)_(small,large)") == ["cnn_small", "cnn_large", "vit_small", "vit_large"]


def test_parentheses_nested() -> None:
    assert values("a=((1,2)e(3,6),5)k") == ["1000000", "1000000000", "2000000", "2000000000", "5000"]


def test_parentheses_with_range_inside() -> None:
    assert values("a=(1:3)k") == ["1000", "2000", "3000"]


def test_parentheses_prefix_text() -> None:
    assert values("a=run_(a,b)") == ["run_a", "run_b"]


def test_parentheses_single_group_normalizes_numbers() -> None:
    assert values("a=(1.50,x)") == ["1.5", "x"]


def test_parentheses_with_interpolation() -> None:
    assert values("a=${x}_(1,2)") == ["${x}_1", "${x}_2"]


# ------------------------------------------------------------------------------------------------ sections


def test_bar_section_reuses_key() -> None:
    assert jobs("model=small,medium|large") == [["model=small"], ["model=medium"], ["model=large"]]


def test_bar_sections_union_of_ranges() -> None:
    assert values("a=1:3|10:30:10") == ["1", "2", "3", "10", "20", "30"]


def test_bar_section_names_other_key() -> None:
    assert jobs("a=1,2|b=3") == [["a=1"], ["a=2"], ["b=3"]]


def test_bar_sections_product_across_arguments() -> None:
    assert jobs("a=1,2|b=3", "c=x,y") == [
        ["a=1", "c=x"],
        ["a=1", "c=y"],
        ["a=2", "c=x"],
        ["a=2", "c=y"],
        ["b=3", "c=x"],
        ["b=3", "c=y"],
    ]


def test_bar_section_with_prefix_and_suffix_key() -> None:
    assert jobs("a=1|+lr/m=1,2") == [["a=1"], ["+lr=1e-3"], ["+lr=2e-3"]]


def test_bar_section_inherits_suffix_key() -> None:
    assert jobs("lr/m=1|2") == [["lr=1e-3"], ["lr=2e-3"]]


def test_bar_section_with_native() -> None:
    assert values("a=1,2|range(5,7)") == ["1", "2", "5", "6"]


# -------------------------------------------------------------------------------------------------- pairing


def test_paired_lockstep() -> None:
    assert jobs("lr=@w:1e-3,1e-4", "warmup=@w:100,1000") == [
        ["lr=1e-3", "warmup=100"],
        ["lr=1e-4", "warmup=1000"],
    ]


def test_paired_group_sits_at_first_member() -> None:
    assert jobs("lr=@w:1,2", "b=x,y", "warmup=@w:10,20") == [
        ["lr=1", "b=x", "warmup=10"],
        ["lr=1", "b=y", "warmup=10"],
        ["lr=2", "b=x", "warmup=20"],
        ["lr=2", "b=y", "warmup=20"],
    ]


def test_paired_group_after_other_argument() -> None:
    assert jobs("b=x,y", "lr=@w:1,2", "warmup=@w:10,20") == [
        ["b=x", "lr=1", "warmup=10"],
        ["b=x", "lr=2", "warmup=20"],
        ["b=y", "lr=1", "warmup=10"],
        ["b=y", "lr=2", "warmup=20"],
    ]


def test_two_pair_groups_and_ranges() -> None:
    sweep = expand(["a=@p:1:3", "b=@q:x,y", "c=@p:(4,5,6)k", "d=@q:u|v"])
    assert sweep.count == 6
    assert list(sweep)[:3] == [
        ["a=1", "b=x", "c=4000", "d=u"],
        ["a=1", "b=y", "c=4000", "d=v"],
        ["a=2", "b=x", "c=5000", "d=u"],
    ]


def test_paired_with_key_suffix() -> None:
    assert jobs("lr/m=@w:1,2", "steps/k=@w:1,2") == [["lr=1e-3", "steps=1000"], ["lr=2e-3", "steps=2000"]]


def test_paired_single_member_is_plain() -> None:
    assert jobs("a=@w:1,2") == [["a=1"], ["a=2"]]


# ------------------------------------------------------------------------------------------- Hydra's syntax


def test_lists_are_atomic() -> None:
    assert values("a=[1,2],[3,4]") == ["[1,2]", "[3,4]"]


def test_dicts_are_atomic() -> None:
    assert values("a={x:1,y:2},{x:3}") == ["{x:1,y:2}", "{x:3}"]


def test_quoted_strings_are_atomic() -> None:
    assert values("a='x,y',\"p|q\"") == ["'x,y'", '"p|q"']


def test_interpolations_are_atomic() -> None:
    assert values("a=${b},${oc.env:HOME,/tmp}") == ["${b}", "${oc.env:HOME,/tmp}"]


def test_escaped_comma_is_literal() -> None:
    assert values("a=x\\,y,z") == ["x\\,y", "z"]


def test_plus_prefixes_and_delete() -> None:
    assert jobs("+a=1,2", "++b=x", "~c", "~d=4") == [
        ["+a=1", "++b=x", "~c", "~d=4"],
        ["+a=2", "++b=x", "~c", "~d=4"],
    ]


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("a=range(1,4)", ["a=1", "a=2", "a=3"]),
        ("a=range(0,1,0.5)", ["a=0.0", "a=0.5"]),
        ("+a=choice(x,y)", ["+a=x", "+a=y"]),
        ("a=sort(3,1,2)", ["a=1", "a=2", "a=3"]),
        ("a=tag(t,choice(1,2))", ["a=1", "a=2"]),
        ("a=int(1.5)", ["a=1"]),
    ],
)
def test_hydra_functions_go_to_native(arg: str, expected: list[str]) -> None:
    assert [j[0] for j in jobs(arg)] == expected


def test_shuffle_is_a_permutation() -> None:
    assert sorted(values("a=shuffle(1,2,3)")) == ["1", "2", "3"]


def test_hydra_keys_with_package() -> None:
    assert jobs("db@backup=mysql,pg") == [["db@backup=mysql"], ["db@backup=pg"]]


# ---------------------------------------------------------------------------------------------- Sweep API


def test_sweep_count_len_getitem_batches() -> None:
    sweep = expand(["a=1:4", "b=x,y,z", "c=@w:1,2", "d=@w:u,v"])
    assert isinstance(sweep, Sweep)
    assert sweep.count == len(sweep) == 24
    listed = list(sweep)
    assert [sweep[i] for i in range(24)] == listed
    assert sweep[-1] == listed[-1] == ["a=4", "b=z", "c=2", "d=v"]
    assert [len(b) for b in sweep.batches(10)] == [10, 10, 4]
    assert [job for b in sweep.batches(7) for job in b] == listed
    assert list(sweep.batches(None)) == [listed]
    assert list(sweep) == listed  # re-iterable
    with pytest.raises(IndexError):
        sweep[24]
    with pytest.raises(ValueError, match="at least 1"):
        next(sweep.batches(0))


def test_len_overflow_but_count_exact() -> None:
    sweep = expand([f"k{i}=0:999" for i in range(8)])
    assert sweep.count == 1000**8
    assert sweep
    with pytest.raises(OverflowError):
        len(sweep)
    assert sweep[sweep.count - 1] == [f"k{i}=999" for i in range(8)]


def test_huge_range_is_lazy() -> None:
    sweep = expand(["a=0:1e12", "b=1,2"])
    assert sweep.count == (10**12 + 1) * 2
    it = iter(sweep)
    assert [next(it) for _ in range(3)] == [["a=0", "b=1"], ["a=0", "b=2"], ["a=1", "b=1"]]
    assert sweep[-1] == ["a=1000000000000", "b=2"]


def test_string_argument_is_refused() -> None:
    with pytest.raises(TypeError):
        expand("a=1,2")  # type: ignore[arg-type]


def test_native_missing_is_a_clear_error() -> None:
    with pytest.raises(SweepSyntaxError, match=r"choice\(\) needs Hydra") as info:
        expand(["a=choice(1,3)"])
    assert info.value.column == 2


def test_hydra_range_needs_no_hydra() -> None:
    # range() with number arguments is computed by the grammar itself, lazily, with Hydra's values
    assert list(expand(["a=range(1,3)"])) == [["a=1"], ["a=2"]]


# ------------------------------------------------------------------------ Hydra's command-line grammar


@pytest.mark.parametrize(
    "arg",
    [
        "lr=@w:1e-3,1e-4",
        "warmup=@w:100,1000",
        "+lr/m=@pair_1:1,2",
        "a=@w:1:3:k",
        "a=@w:x|y",
        "a=1:3:k",
        "a=1.2:1.4:0.1:k",
        "a=:3",
        "a=-5:-1:1",
        "lr/m=1,2,5",
        "lr/e-3=1:3",
        "model=small,medium|large",
        "a=1:3|10:30:10",
    ],
)
def test_documented_forms_pass_hydra_command_line_grammar_unquoted(arg: str) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    OverridesParser.create().parse_overrides([arg])  # raises if Hydra rejects it before the sweeper
    assert expand([arg]).count >= 1


@pytest.mark.parametrize("arg", ["model=(cnn,vit)_(small,large)", "a=1,2|b=3"])
def test_forms_hydra_rejects_unquoted_are_documented_as_params_only(arg: str) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    with pytest.raises(OverrideParseException):
        OverridesParser.create().parse_overrides([arg])
    assert expand([arg]).count >= 1


def test_odometer_for_large_parts_matches_random_access(monkeypatch: pytest.MonkeyPatch) -> None:
    from hydraflow.sweep import seq

    args = ["a=1:3", "b=(x,y)_(1,2)", "c=@w:1:2", "d=p,q|r", "e=@w:u,v"]
    expected = list(expand(args))
    monkeypatch.setattr(seq, "MATERIALIZE_LIMIT", 1)  # every part counts as large: the odometer path
    sweep = expand(args)
    assert list(sweep) == expected == [sweep[i] for i in range(sweep.count)]
    assert repr(sweep) == "<Sweep of 72 jobs>"


def test_parenthesised_product_random_access() -> None:
    sweep = expand(["m=(a,b,c)_(1:4)_(x,y)"])
    assert [sweep[i] for i in range(sweep.count)] == list(sweep)
    assert sweep[5] == ["m=a_3_y"]


# ------------------------------------------------------------------- Hydra values kept verbatim, edge cases


@pytest.mark.parametrize(
    "value",
    [
        "[]",
        "{}",
        "[ ]",
        "[[1,2],[3]]",
        "{a:[1,2],b:{c:d}}",
        "[${x},'y z',\"w\"]",
        "{a: 1, b: x y}",
        "[a\\,b,c]",
        "{a\\:b:1}",
        "[a:b,c|d]",
        "'it\\'s'",
        "${x}_y${z}",
        "x\\ y",
    ],
)
def test_hydra_values_pass_through_verbatim(value: str) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    assert jobs(f"a={value}") == [[f"a={value}"]]
    assert not OverridesParser.create().parse_overrides([f"a={value}"])[0].is_sweep_override()


def test_whitespace_around_parenthesised_items() -> None:
    assert values("a= (1,2)k ") == ["1000", "2000"]


def test_native_expander_contract_edges() -> None:
    def empty(_: str) -> list[str]:
        return []

    def failing(_: str) -> list[str]:
        raise SweepSyntaxError("x", 0, "native says no")

    def opaque(_: str) -> list[str]:
        return ["other=1", "other=2"]

    with pytest.raises(SweepSyntaxError, match="expands to no values") as info:
        expand(["a=choice(1)"], native=empty)
    assert info.value.column == 2
    with pytest.raises(SweepSyntaxError, match="native says no") as info:
        expand(["b=1", "a=1|choice(1)"], native=failing)
    assert (info.value.column, info.value.argument, info.value.text) == (4, 1, "a=1|choice(1)")
    assert list(expand(["a/m=choice(1)"], native=opaque)) == [["other=1"], ["other=2"]]


def test_sweeps_pickle() -> None:
    import pickle

    sweep = expand(["a=1:3", "lr/m=@w:1,2,3", "m=(x,y)_z|w", "steps/k=@w:4:6"])
    again = pickle.loads(pickle.dumps(sweep))  # noqa: S301 - our own object
    assert list(again) == list(sweep)
    assert again.count == sweep.count == 27
