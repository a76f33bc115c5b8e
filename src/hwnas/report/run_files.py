"""A run's files as a report or a notebook reads them: JSON and YAML with the file and line of
any fault, and the summary values checked against the types `search.py`, `train.py` and `eval.py`
write, so that a damaged or hand-edited file is named with its field instead of failing later
in a format string."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class RunFileError(ValueError):
    """A file of a run that cannot be used: `path`, and `problem`, what is wrong with it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem

    def within(self, folder: Path) -> str:
        """The message with the file named within its run `folder`: `summary.json: ...`."""
        inside = self.path.is_relative_to(folder)
        return f"{self.path.relative_to(folder) if inside else self.path}: {self.problem}"


@dataclass(frozen=True)
class Field:
    """What a summary value must be: `kind` one of number, string, list, object; `fields` checks
    the keys of an object."""

    kind: str
    required: bool = False
    nullable: bool = True
    fields: dict[str, Field] = field(default_factory=dict)


NUMBER, TEXT = Field("number"), Field("string", nullable=False)

# what the report and the notebooks read of `summary.json` (src/hwnas/runs/search_run.py)
SEARCH_FIELDS = {
    "derived_cost": Field("number", required=True, nullable=False),
    "expected_cost": NUMBER,
    "target": NUMBER,
    "test_acc": NUMBER,
    "val_acc": NUMBER,
    "params": NUMBER,
    "macs": NUMBER,
    "search_time_s": NUMBER,
    "hardware": TEXT,
    "cost_unit": TEXT,
    "arch_file": TEXT,
    "latency_table": Field("string"),
    "architecture": Field("list"),
    "distributed": Field("object"),
}
# of `train_summary.json` (src/hwnas/runs/train_run.py)
TRAIN_FIELDS = {
    "test_acc": NUMBER,
    "test_top1": NUMBER,
    "params": NUMBER,
    "macs": NUMBER,
    "epochs": NUMBER,
    "distributed": Field("object"),
}
# of `eval.json` (src/hwnas/runs/eval_run.py)
LATENCY_FIELDS = {"measured": NUMBER, "unit": TEXT, "hardware": TEXT}
EVAL_FIELDS = {
    "checkpoint": Field("string", required=True, nullable=False),
    "test_top1": NUMBER,
    "latency": Field("object", fields=LATENCY_FIELDS),
}
# of `train_summary.json`'s `distributed` (src/hwnas/distributed/reporting.py)
DTS_FIELDS = {
    "delay_used": NUMBER,
    "steps": NUMBER,
    "mean_step_ms": NUMBER,
    "mean_exposed_wait_ms": NUMBER,
    "latency_ms": NUMBER,
}

_PYTHON_TYPES = {"number": (int, float), "string": (str,), "list": (list,), "object": (dict,)}
_JSON_NAMES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    type(None): "null",
}
_ARTICLE = {"number": "a number", "string": "a string", "list": "a list", "object": "an object"}


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; a `RunFileError` names the line of a syntax fault."""
    try:
        text = path.read_text()
    except OSError as err:
        raise RunFileError(path, f"cannot be read ({err.strerror or err})") from err
    if not text.strip():
        raise RunFileError(path, "the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunFileError(
            path, f"not valid JSON at line {err.lineno}, column {err.colno} ({err.msg})"
        ) from err
    if not isinstance(data, dict):
        raise RunFileError(
            path,
            f"holds {_JSON_NAMES.get(type(data), type(data).__name__)}, expected an object of "
            "named figures ({...})",
        )
    return data


def read_yaml(path: Path, kind: type = dict) -> Any:
    """The YAML mapping (or list, `kind=list`) in `path`, None where there is no such file; a
    `RunFileError` names the line of a syntax fault."""
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise RunFileError(path, f"cannot be read ({err.strerror or err})") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise RunFileError(path, f"not valid YAML{where} ({problem})") from err
    if data is not None and not isinstance(data, kind):
        expected = "a mapping (key: value lines)" if kind is dict else "a list (- item lines)"
        raise RunFileError(path, f"holds {_yaml_name(data)}, expected {expected}")
    return data


def _yaml_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list"}.get(type(value), f"a single value ({value!r})")


def field_problems(data: dict[str, Any], fields: dict[str, Field], prefix: str = "") -> list[str]:
    """What in `data` is not as `fields` says: `"params" is a string ("12"), expected a number`."""
    problems = []
    for name, spec in fields.items():
        key = f"{prefix}{name}"
        if name not in data:
            if spec.required:
                problems.append(f'"{key}" is missing, expected {_ARTICLE[spec.kind]}')
            continue
        value = data[name]
        if value is None and spec.nullable:
            continue
        allowed = _PYTHON_TYPES[spec.kind]
        if isinstance(value, bool) or not isinstance(value, allowed):
            shown = json.dumps(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            problems.append(
                f'"{key}" is {_JSON_NAMES.get(type(value), type(value).__name__)} ({shown}), '
                f"expected {_ARTICLE[spec.kind]}" + (" or null" if spec.nullable else "")
            )
        elif spec.fields:
            problems += field_problems(value, spec.fields, f"{key}.")
    return problems


def read_summary(path: Path, fields: dict[str, Field]) -> dict[str, Any]:
    """A run's summary file (`summary.json`, `train_summary.json`, `eval.json`): `read_json(path)`,
    its values checked against `fields`."""
    data = read_json(path)
    problems = field_problems(data, fields)
    if problems:
        raise RunFileError(path, "; ".join(problems))
    return data
