"""LatencyTable: measured latency of each op, keyed by its shape, with the hardware it was
measured on. Reads and writes its own format (JSON or YAML, with metadata) and the original
ProxylessNAS / Once-for-All format (REFERENCE A4)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hwnas.cost.calibration import Calibration
from hwnas.cost.errors import MalformedTableError, MissingLatencyError, folder_message
from hwnas.cost.fingerprint import HardwareFingerprint
from hwnas.cost.keys import op_key, parse_key
from hwnas.cost.model import CostModel
from hwnas.cost.op_shapes import OpShape, space_ops
from hwnas.cost.units import ms_to
from hwnas.search_space.space import SearchSpace
from hwnas.util.files import write_text

FORMAT = "hwnas-latency-table/1"
SHOWN_MISSING = 5
TABLE_FILES = ("*.json", "*.yaml", "*.yml")


@dataclass(frozen=True)
class LatencyEntry:
    """Latency of one op in ms: `ms` is the estimate the search uses (a profiler's estimate
    where one was measured, else the mean); `std_ms` the spread over repeats."""

    mean_ms: float
    std_ms: float = 0.0
    count: int = 1
    median_ms: float | None = None
    estimate_ms: float | None = None

    @property
    def ms(self) -> float:
        return self.mean_ms if self.estimate_ms is None else self.estimate_ms


def ops_hash(ops: Iterable[OpShape]) -> str:
    """A short hash of a set of ops."""
    keys = sorted({op_key(op) for op in ops})
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]


def space_hash(space: SearchSpace) -> str:
    """A hash of the ops of `space`: two spaces with the same ops share tables."""
    return ops_hash(space_ops(space))


class LatencyTable(CostModel):
    """Per-op latency (ms) of one device, a `CostModel` for the search.

    With a `calibration` in its metadata (see `hwnas.cost.calibration`) the table prices
    every op at slope x its time and adds the intercept once per network, so that sums, E[LAT]
    and the constraint are calibrated latencies; `uncalibrated()` gives the raw sums.

    Args:
        entries: latency of each op.
        metadata: `fingerprint` (a HardwareFingerprint as dict), `space`, `space_hash`,
            `created`, `source`, `calibration` and anything else worth keeping.
    """

    unit = "ms"

    def __init__(
        self,
        entries: dict[OpShape, LatencyEntry],
        metadata: dict[str, Any],
        where: str = "latency table",
    ) -> None:
        self.entries = dict(entries)
        self.metadata = dict(metadata)
        self.path: Path | None = None
        self._scale = 1.0
        raw = self.metadata.get("calibration")
        self.calibration = None if raw is None else Calibration.from_dict(raw, where)

    def calibrated(self, calibration: Calibration | None) -> LatencyTable:
        """The same entries priced with `calibration` (None: raw sums), kept in the metadata."""
        metadata = {k: v for k, v in self.metadata.items() if k != "calibration"}
        if calibration is not None:
            metadata["calibration"] = calibration.to_dict()
        table = LatencyTable(self.entries, metadata).set_unit(self.unit)
        table.path = self.path
        return table

    def uncalibrated(self) -> LatencyTable:
        """The same entries priced as raw sums (what a calibration is fitted on)."""
        return self.calibrated(None)

    def table_file(self) -> Path | None:
        return self.path

    def calibration_text(self) -> str:
        if self.calibration is not None:
            return self.calibration.describe()
        return (
            "raw table sum, not calibrated against whole networks (`python -m hwnas.cost "
            "validate` fits and stores a calibration)"
        )

    def set_unit(self, unit: str) -> LatencyTable:
        """Price ops in `unit` (`ms` or `us`); entries stay in ms."""
        self._scale, self.unit = ms_to(unit), unit
        return self

    @property
    def fingerprint(self) -> HardwareFingerprint | None:
        data = self.metadata.get("fingerprint")
        return None if data is None else HardwareFingerprint.from_dict(data)

    def describe(self) -> str:
        fp = self.fingerprint
        where = fp.describe() if fp else "unknown hardware (no fingerprint)"
        calibrated = ", calibrated" if self.calibration else ""
        return f"latency table of {len(self.entries)} ops{calibrated}, {where}"

    # --- lookups -----------------------------------------------------------------------
    def _how_to_fix(self) -> str:
        source = f" ({self.path})" if self.path else ""
        return (
            f"The table{source} does not cover this search space. Rebuild it for the space with "
            "`python -m hwnas.cost build hardware=<cpu|onnxruntime|gpu> search_space=<space>`,"
            " measure the ops on the device (`python -m hwnas.cost export`, then `import`), or"
            " leave hardware.table unset so that the profiler measures the space itself."
        )

    def op_cost(self, op: OpShape) -> float:
        entry = self.entries.get(op)
        if entry is None:
            raise MissingLatencyError(f"no latency for {op_key(op)}. {self._how_to_fix()}")
        slope = 1.0 if self.calibration is None else self.calibration.slope
        return entry.ms * slope * self._scale

    def _per_network_ms(self) -> float:
        """What a network pays once: the runtime's cost per call where one was kept apart from
        the ops (`call_overhead_ms`), and the calibration's intercept."""
        overhead = float(self.metadata.get("call_overhead_ms") or 0.0)
        if self.calibration is None:
            return overhead
        return self.calibration.apply(overhead)

    def fixed_cost(self, space: SearchSpace) -> float:
        """Stem, first block and head, plus what a network pays once."""
        return super().fixed_cost(space) + self._per_network_ms() * self._scale

    def network_cost(self, ops: Sequence[OpShape]) -> float:
        """The ops' sum plus what a network pays once."""
        return super().network_cost(ops) + self._per_network_ms() * self._scale

    def missing(self, ops: list[OpShape]) -> list[OpShape]:
        return [op for op in ops if op not in self.entries]

    def prepare(self, space: SearchSpace) -> None:
        """Check that every op of `space` has an entry (before the search starts)."""
        missing = self.missing(space_ops(space))
        if missing:
            shown = ", ".join(op_key(op) for op in missing[:SHOWN_MISSING])
            more = (
                f" and {len(missing) - SHOWN_MISSING} more" if len(missing) > SHOWN_MISSING else ""
            )
            raise MissingLatencyError(
                f"no latency for {len(missing)} ops of search space {space.name!r}: {shown}{more}. "
                + self._how_to_fix()
            )

    # --- files -------------------------------------------------------------------------
    def save(self, path: str | Path, original_format: bool = False) -> Path:
        """Write JSON (`.json`) or YAML (`.yaml`/`.yml`); `original_format` writes the
        ProxylessNAS / Once-for-All key format (entries only, `mean` = the estimate `ms`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _to_original(self) if original_format else _to_native(self)
        if path.suffix == ".json":
            text = json.dumps(data, indent=1)
        else:
            text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
            if original_format:
                text = _original_header(self) + text
        write_text(path, text)  # atomic: never a half-written table
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read a table in either format (detected from its content)."""
        path = Path(path)
        if path.is_dir():
            raise FileNotFoundError(folder_message(path, f"latency table {path}", TABLE_FILES))
        if not path.is_file():
            raise FileNotFoundError(f"latency table {path} does not exist")
        try:
            text = path.read_text()
            data = _parse(text, path.suffix == ".json")
        except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError, _DuplicateKey) as err:
            raise MalformedTableError(
                f"latency table {path} is not valid JSON/YAML: {err}"
            ) from None
        if not isinstance(data, dict):
            raise MalformedTableError(
                f"latency table {path} must hold a mapping, not {type(data).__name__}"
            )
        table = _from_native(data, path) if "format" in data else _from_original(data, path)
        table.path = path
        return table


def _entry_dict(op: OpShape, entry: LatencyEntry) -> dict[str, Any]:
    return {
        "key": op_key(op),
        "op": op.kind,
        "input": [op.input_size, op.input_size, op.in_channels],
        "out_channels": op.out_channels,
        "kernel": op.kernel,
        "stride": op.stride,
        "expand": op.expand,
        "shortcut": op.shortcut,
        "ms": entry.estimate_ms,
        "mean_ms": entry.mean_ms,
        "median_ms": entry.median_ms,
        "std_ms": entry.std_ms,
        "count": entry.count,
    }


def _to_native(table: LatencyTable) -> dict[str, Any]:
    entries = [_entry_dict(op, e) for op, e in table.entries.items()]
    return {"format": FORMAT, "metadata": table.metadata, "entries": entries}


def _to_original(table: LatencyTable) -> dict[str, Any]:
    return {
        op_key(op): {"count": e.count, "mean": e.ms, "var": e.std_ms**2}
        for op, e in table.entries.items()
    }


def _original_header(table: LatencyTable) -> str:
    lines = ["ProxylessNAS / Once-for-All latency table (ms) written by hwnas", table.describe()]
    lines += [f"{k}: {v}" for k, v in table.metadata.items() if k != "fingerprint"]
    return "".join(f"# {line}\n" for line in lines)


def _number(raw: Any, name: str, where: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise MalformedTableError(f"{where}: {name} {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise MalformedTableError(f"{where}: {name} {raw!r} must be a finite number >= 0")
    return value


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(f"the key {key!r} appears twice (the last would win); keep one")
        seen[key] = value
    return seen


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        pairs = [
            (self.construct_object(k, deep=deep), self.construct_object(v, deep=deep))
            for k, v in node.value
        ]
        return _unique_pairs(pairs)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping
)


def _parse(text: str, is_json: bool) -> Any:
    """JSON or YAML, refusing duplicate keys."""
    if is_json:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def _from_native(data: dict[str, Any], path: Path) -> LatencyTable:
    if data["format"] != FORMAT:
        raise MalformedTableError(
            f"latency table {path}: unknown format {data['format']!r} (expected {FORMAT!r})"
        )
    entries = {}
    for i, raw in enumerate(data.get("entries") or []):
        where = f"latency table {path}, entry {i} ({raw.get('key', '?') if isinstance(raw, dict) else raw!r})"
        try:
            h, w, c = raw["input"]
            if h != w:
                raise MalformedTableError(f"{where}: non-square input {h}x{w}")
            op = OpShape(
                raw["op"],
                int(h),
                int(c),
                int(raw["out_channels"]),
                int(raw["kernel"]),
                int(raw["stride"]),
                float(raw["expand"]),
                bool(raw["shortcut"]),
            )
            median, estimate = raw.get("median_ms"), raw.get("ms")
            entry = LatencyEntry(
                _number(raw["mean_ms"], "mean_ms", where),
                _number(raw.get("std_ms", 0), "std_ms", where),
                int(raw.get("count", 1)),
                None if median is None else _number(median, "median_ms", where),
                None if estimate is None else _number(estimate, "ms", where),
            )
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, MalformedTableError):
                raise
            raise MalformedTableError(f"{where}: {type(err).__name__} {err}") from None
        if op.kind not in ("conv", "expanded_conv", "conv_1x1", "logits"):
            raise MalformedTableError(f"{where}: unknown op {op.kind!r}")
        if op in entries:
            raise MalformedTableError(f"{where}: a second entry for {op_key(op)}; keep one")
        entries[op] = entry
    return LatencyTable(entries, data.get("metadata") or {}, f"latency table {path}")


def _from_original(data: dict[str, Any], path: Path) -> LatencyTable:
    entries, skipped = {}, 0
    for key, raw in data.items():
        where = f"latency table {path}, entry {key!r}"
        op = parse_key(str(key))
        if op is None:  # a layer type this project does not build (e.g. MobileNetV3's)
            skipped += 1
            continue
        if not isinstance(raw, dict) or "mean" not in raw:
            raise MalformedTableError(f"{where}: expected a mapping with count, mean and var")
        var = _number(raw.get("var", 0.0), "var", where)
        if op in entries:
            raise MalformedTableError(f"{where}: a second entry for the same op; keep one")
        entries[op] = LatencyEntry(
            _number(raw["mean"], "mean", where), math.sqrt(var), int(raw.get("count", 1))
        )
    metadata = {"source": str(path), "format_read": "original", "skipped_entries": skipped}
    return LatencyTable(entries, metadata)
