"""Hydra's own sweep functions for the extended grammar: a :data:`hydraflow.sweep.NativeExpander`.

:func:`make_native_expander` expands one argument that calls ``range()``, ``choice()``, ``glob()``,
``sort()``, ``shuffle()``, ``tag()`` or a cast exactly as Hydra's BasicSweeper would, with Hydra's parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hydraflow.sweep import NativeExpander


def make_native_expander(config_loader: Any = None) -> NativeExpander:
    """Build an expander backed by Hydra's ``OverridesParser``.

    Args:
        config_loader: Hydra's ``ConfigLoader`` (the sweeper has one); needed by ``glob()``, which lists the
            options of a config group. Without it, ``glob()`` raises :class:`NeedsAppConfigError`.

    Raises (from the expander): Hydra's ``OverrideParseException`` for an argument Hydra cannot parse,
    :class:`NativeSweepError` for a sweep that cannot be enumerated.

    >>> expand_native = make_native_expander()
    >>> expand_native("a=range(1,4)")
    ['a=1', 'a=2', 'a=3']
    >>> expand_native("+b=choice(x,y)")
    ['+b=x', '+b=y']
    """
    parsers: list[
        Any
    ] = []  # Hydra (and the errors, Hydra exceptions) imported on first use: plain sweeps never pay

    def expand_native(argument: str) -> list[str]:
        if not parsers:
            from hydra.core.override_parser.overrides_parser import OverridesParser

            parsers.append(OverridesParser.create(config_loader=config_loader))
        # parse_overrides (plural) attaches the config loader that glob() needs; parse_override does not
        override = parsers[0].parse_overrides([argument])[0]
        key = override.get_key_element()
        if not override.is_sweep_override():
            if override.is_delete() and override.value_type is None:
                return [key]
            return [f"{key}={override.get_value_element_as_str()}"]
        from hydraflow.hydra_adapter.errors import NativeSweepError, NeedsAppConfigError

        if override.is_interval_sweep():
            raise NativeSweepError("interval() is a continuous range and cannot be enumerated")
        if not override.is_discrete_sweep():  # pragma: no cover - every other Hydra sweep is discrete
            raise NativeSweepError(f"cannot enumerate a sweep of type {override.value_type}")
        if (
            override.value_type is not None
            and override.value_type.name == "GLOB_CHOICE_SWEEP"
            and (config_loader is None)
        ):
            raise NeedsAppConfigError(
                "glob() lists the options of a config group and needs the app's config "
                "(run it through the Hydra app, or list the values explicitly)"
            )
        return [f"{key}={value}" for value in override.sweep_string_iterator()]

    return expand_native


__all__ = ["make_native_expander"]
