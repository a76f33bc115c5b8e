"""`SweepRanges`: a Hydra callback that checks a sweep's ranges before the first trial, so a
reversed or empty range is refused with the setting's name instead of a sampler's traceback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, RangeSweep
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


def sweep_problems(overrides: Iterable[str]) -> list[str]:
    """What is wrong with each `key=interval(...)` or `key=range(...)` sweep in `overrides`."""
    parser = OverridesParser.create()
    problems = []
    for text in overrides:
        try:
            override = parser.parse_override(text)
        except Exception:  # noqa: BLE001 - Hydra reports a malformed override itself
            continue
        value, key = override.value(), override.get_key_element()
        if isinstance(value, IntervalSweep) and value.start is not None:
            if value.start == value.end:
                problems.append(
                    f"{key}: interval({value.start}, {value.end}) is empty; give "
                    "a start below the end, or the value itself"
                )
            elif value.start > value.end:
                problems.append(
                    f"{key}: interval({value.start}, {value.end}) is reversed; give "
                    f"interval({value.end}, {value.start})"
                )
            elif "log" in value.tags and value.start <= 0:
                problems.append(f"{key}: a log interval needs a start above 0, got {value.start}")
        if isinstance(value, RangeSweep) and value.start is not None and value.stop is not None:
            step = value.step or 1
            if (value.stop - value.start) * step <= 0:
                problems.append(
                    f"{key}: range({value.start}, {value.stop}, {step}) holds no "
                    "value; the stop must lie beyond the start in the step's "
                    "direction"
                )
    return problems


def _sweeper_params(config: DictConfig) -> list[str]:
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    if not isinstance(params, DictConfig):
        return []
    return [f"{key}={value}" for key, value in params.items()]


class SweepRanges(Callback):
    """Refuse a multirun whose sweeper parameters or command-line sweeps hold an empty range."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        task = list(OmegaConf.select(config, "hydra.overrides.task") or [])
        problems = sweep_problems([*_sweeper_params(config), *task])
        if problems:  # Hydra turns a callback's exceptions into warnings: exit instead
            raise SystemExit("the sweep cannot start: " + "; ".join(problems))
