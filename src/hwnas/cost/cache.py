"""Where measured tables live: built once per (hardware fingerprint, search space) under the
user's cache directory, reused while both match and its calibration is the one asked for,
rebuilt when any of them changes."""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import logging
import math
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hwnas.cost.calibration import BUILT, check_calibration_networks, fit_calibration
from hwnas.cost.errors import MalformedTableError, folder_message
from hwnas.cost.model import ExpectedCost
from hwnas.cost.op_shapes import OpShape, space_ops
from hwnas.cost.profilers.base import Profiler, untouched_random_state
from hwnas.cost.table import TABLE_FILES, LatencyTable, space_hash
from hwnas.cost.units import duration
from hwnas.search_space.space import SearchSpace
from hwnas.util.files import write_atomic
from hwnas.util.folders import default_cache_dir

log = logging.getLogger(__name__)
URL_SCHEMES = ("http", "https", "file")


def cached_table_path(cache_dir: str | Path | None, profiler: Profiler, space: SearchSpace) -> Path:
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    fp = profiler.fingerprint()
    return root / "latency" / f"{space.name}-{fp.runtime}-{fp.digest}-{space_hash(space)}.json"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time (DDP ranks, parallel sweep jobs): the others wait, then reuse."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _networks_to_fit(space: SearchSpace, calibration_networks: int) -> int:
    """How many networks a table of `space` is calibrated on: as asked, at most all of them."""
    return min(calibration_networks, math.prod(space.num_candidates))


def _reusable(
    table: LatencyTable, profiler: Profiler, space: SearchSpace, calibration_networks: int = 0
) -> str | None:
    """None if `table` may be used for `space` on `profiler`'s hardware (calibrated as
    `calibration_networks` asks, where it is not 0), else the reason not."""
    here = profiler.fingerprint()
    if table.fingerprint != here:
        there = table.fingerprint.describe() if table.fingerprint else "unknown hardware"
        return f"it was measured on {there}, not on {here.describe()}"
    if table.metadata.get("space_hash") != space_hash(space):
        return "it was built for other ops"
    if table.missing(space_ops(space)):
        return "it lacks ops of the space"
    if not calibration_networks:
        return None
    cal = table.calibration
    if cal is None and "calibration_failed" not in table.metadata:
        return (
            "it has no calibration against whole networks, and "
            f"calibration_networks={calibration_networks} asks for one"
        )
    if cal is not None and cal.fitted_by != BUILT:
        return None  # a validation's fit replaced the build's: used, and said so
    fitted = table.metadata.get("calibration_networks", None if cal is None else cal.networks)
    if fitted is not None and fitted != _networks_to_fit(space, calibration_networks):
        what = "was fitted" if cal is not None else "failed to fit"
        return (
            f"its calibration {what} on {fitted} networks when it was built, and "
            f"calibration_networks={calibration_networks} was asked"
        )
    return None


def _calibration_note(table: LatencyTable, calibration_networks: int) -> str | None:
    """What a reused table is calibrated with where that is not the fit asked for."""
    cal = table.calibration
    if not calibration_networks or cal is None or cal.fitted_by == BUILT:
        return None
    return (
        f"The cached table's calibration was fitted on {cal.networks} networks "
        f"{cal.fitted_by}, not on the calibration_networks={calibration_networks} asked for; "
        "it is used as it is (set hardware.cost_model.rebuild=true to measure the table "
        f"again and fit it on {calibration_networks})"
    )


def load_or_build(
    profiler: Profiler,
    space: SearchSpace,
    cache_dir: str | Path | None = None,
    rebuild: bool = False,
    progress: bool = True,
    calibration_networks: int = 0,
) -> LatencyTable:
    """The table of `space` on `profiler`'s hardware: cached if it matches, else measured,
    with `calibration_networks` random networks of the space timed end to end in the same
    rounds as the ops to calibrate it (see `hwnas.cost.calibration`). A cached table
    calibrated on another number of networks when it was built is measured again; one whose
    calibration `python -m hwnas.cost validate` fitted is used as it is, and the log says
    so."""
    check_calibration_networks(calibration_networks)
    path = cached_table_path(cache_dir, profiler, space)
    with _locked(path):
        if path.is_file() and not rebuild:
            try:
                table = LatencyTable.load(path)
                reason = _reusable(table, profiler, space, calibration_networks)
            except MalformedTableError as err:  # our own cache file: measure it again
                reason = f"the cached file cannot be read ({err})"
            if reason is None:
                log.info("Using the cached %s (%s)", table.describe(), path)
                if note := _calibration_note(table, calibration_networks):
                    log.info(note)
                return table
            log.warning("Rebuilding the latency table %s: %s", path, reason)
        ops, n = space_ops(space), _networks_to_fit(space, calibration_networks)
        networks = f" and {n} networks to calibrate it" if n else ""
        log.info(
            "Measuring %d ops of %s%s on %s: about %s of timed runs",
            len(ops),
            space.name,
            networks,
            profiler.fingerprint().describe(),
            duration(profiler.planned_seconds(len(ops) + n)),
        )
        table = measure_table(profiler, space, calibration_networks, progress)
        table.save(path)
        log.info("Built the latency table in %.1f s: %s", table.metadata["build_seconds"], path)
    return table


def measure_table(
    profiler: Profiler, space: SearchSpace, calibration_networks: int, progress: bool = True
) -> LatencyTable:
    """Time every op of `space`, and `calibration_networks` random networks of it in the same
    rounds (stratified over its latency range, seed 0) to fit the table's calibration."""
    from hwnas.cost.sample_networks import architecture_networks, sample_architectures

    n = _networks_to_fit(space, calibration_networks)
    archs = sample_architectures(space, n) if n else []
    with untouched_random_state():  # building networks draws weights from the seeded generator
        nets = architecture_networks(space, archs, profiler.batch_size)
    metadata = table_metadata(space) | ({"calibration_networks": n} if n else {})
    table, timings = profiler.measure(space_ops(space), nets, metadata, progress)
    if not archs:
        return table
    expected = ExpectedCost(table, space)  # raw sums, in ms
    sums = [expected.of_paths(a) for a in archs]
    calibration, what = fit_calibration(sums, [t.ms for t in timings], BUILT, expected.bounds()[0])
    if calibration is None:  # kept so, not measured again at every run
        log.warning(
            "The latency table of %s is not calibrated: %s. Its latencies are raw sums "
            "of the ops; `python -m hwnas.cost validate` can fit one on more "
            "networks",
            space.name,
            what,
        )
        table.metadata["calibration_failed"] = what
        return table
    log.info(
        "Latency table of %s %s (%.1f%% mean error on them)",
        space.name,
        what,
        calibration.fit_error_pct,
    )
    return table.calibrated(calibration)


def find_cached_table(
    profiler: Profiler, ops: Sequence[OpShape], cache_dir: str | Path | None = None
) -> LatencyTable | None:
    """A cached table measured with `profiler`'s settings on this hardware that prices every op
    of `ops` (a calibrated one first, then the newest): the table a search on this hardware
    reported its latencies with. None if there is none."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    fp = profiler.fingerprint()
    found = []
    for path in (root / "latency").glob(f"*-{fp.runtime}-{fp.digest}-*.json"):
        try:
            table = LatencyTable.load(path)
        except MalformedTableError:
            continue  # rebuilt by the next search that needs it
        if table.fingerprint == fp and not table.missing(list(ops)):
            found.append((table.calibration is not None, path.stat().st_mtime, table))
    return max(found, key=lambda f: f[:2])[2] if found else None


def table_metadata(space: SearchSpace) -> dict[str, str]:
    return {"space": space.name, "space_hash": space_hash(space)}


def store(
    table: LatencyTable, profiler: Profiler, space: SearchSpace, cache_dir: str | Path | None = None
) -> Path:
    """Put a table measured elsewhere (e.g. by validation) where `load_or_build` finds it."""
    path = cached_table_path(cache_dir, profiler, space)
    with _locked(path):
        return table.save(path)


def fetch_table(source: str, cache_dir: str | Path | None = None) -> Path:
    """A local path for `hardware.table`: a file path as is; a URL downloaded afresh on every
    run (so edits at the source count), the copy in the cache used only when the download
    fails, with a warning that says so."""
    scheme = urllib.parse.urlparse(source).scheme
    if scheme not in URL_SCHEMES:
        path = Path(source).expanduser()
        if path.is_dir():
            raise FileNotFoundError(folder_message(path, f"hardware.table={source!r}", TABLE_FILES))
        if not path.is_file():
            raise FileNotFoundError(
                f"hardware.table={source!r}: no such file. Pass the path (or URL) of a latency "
                "table, or leave hardware.table unset to use the hardware's own model"
            )
        return path
    name = Path(urllib.parse.urlparse(source).path).name or "table.yaml"
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    path = root / "latency" / "downloads" / f"{digest}-{name}"
    try:
        with urllib.request.urlopen(source, timeout=60) as response:
            write_atomic(path, lambda out: shutil.copyfileobj(response, out))
        log.info("hardware.table: downloaded %s to %s", source, path)
    except OSError as err:
        if not path.is_file():
            raise FileNotFoundError(f"hardware.table={source!r}: download failed: {err}") from None
        when = datetime.datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
        log.warning(
            "hardware.table: downloading %s failed (%s); using the copy downloaded at "
            "%s (%s), which may be out of date",
            source,
            err,
            when,
            path,
        )
    return path
