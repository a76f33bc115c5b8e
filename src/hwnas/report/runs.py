"""The runs a report covers: search runs found under the folders given (a Hydra multirun
folder, run folders, or any folder above them), with the train and eval runs that used their
architectures attached, and every other run folder found there named with why it is left out."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.architecture.arch_file import Architecture
from hwnas.report.run_files import (
    EVAL_FIELDS,
    SEARCH_FIELDS,
    TRAIN_FIELDS,
    RunFileError,
    read_summary,
    read_yaml,
)
from hwnas.report.run_folders import (
    EVAL_FILE,
    SEARCH_FILE,
    TRAIN_FILE,
    SkippedRun,
    is_finished,
    run_config,
    run_folders,
    run_kind,
    run_overrides,
    unfinished_reason,
)

__all__ = [
    "EVAL_FILE",
    "SEARCH_FILE",
    "TRAIN_FILE",
    "NoSearchRunError",
    "SearchRun",
    "SkippedRun",
    "Sweep",
    "collect_runs",
    "collect_sweep",
    "common_root",
]

log = logging.getLogger(__name__)


@dataclass
class SearchRun:
    """One search run: its folder, `summary.json`, command-line overrides and resolved config,
    the summaries of train/eval runs of its architecture (`trained`, `evaluated`), and its net
    (`arch`; None where `arch_problem` says why it cannot be read)."""

    folder: Path
    summary: dict[str, Any]
    overrides: list[str]
    config: dict[str, Any]
    trained: list[dict[str, Any]] = field(default_factory=list)
    evaluated: list[dict[str, Any]] = field(default_factory=list)
    arch: Architecture | None = None
    arch_problem: str | None = None

    @property
    def arch_file(self) -> Path:
        return self.folder / self.summary.get("arch_file", "arch.yaml")

    def label(self, root: Path | None = None) -> str:
        """The folder relative to `root` (the sweep, or the folders' common parent), e.g. `3`."""
        if root is not None and self.folder.is_relative_to(root) and self.folder != root:
            return str(self.folder.relative_to(root))
        return self.folder.name


@dataclass
class Sweep:
    """The search runs found (in folder order) and the run folders left out (`skipped`)."""

    runs: list[SearchRun]
    skipped: list[SkippedRun]


class NoSearchRunError(FileNotFoundError):
    """No finished search run under the folders given; the message lists those left out."""


def common_root(runs: list[SearchRun]) -> Path | None:
    """The deepest folder holding every run (labels are relative to it)."""
    if not runs:
        return None
    return Path(os.path.commonpath([str(r.folder) for r in runs]))


def _launch_dir(folder: Path) -> Path:
    """The folder the run was started from (Hydra's `runtime.cwd`): where its relative paths
    (`arch=outputs/...`, `ckpt_path=...`) point from."""
    hydra = (read_yaml(folder / ".hydra" / "hydra.yaml") or {}).get("hydra")
    runtime = hydra.get("runtime") if isinstance(hydra, dict) else None
    cwd = runtime.get("cwd") if isinstance(runtime, dict) else None
    return Path(cwd) if isinstance(cwd, str) and cwd else Path.cwd()


def _resolve(value: str, folder: Path) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else _launch_dir(folder) / path).resolve()


def _load_arch(path: Path) -> tuple[Architecture | None, str | None]:
    if not path.is_file():
        return None, f"{path.name}: not found"
    try:
        return Architecture.from_dict(read_yaml(path) or {}, where=path.name), None
    except RunFileError as err:
        return None, err.within(path.parent)
    except (ValueError, TypeError) as err:  # not an architecture, or values of the wrong kind
        return None, str(err)


def _search_run(folder: Path) -> SearchRun:
    summary = read_summary(folder / SEARCH_FILE, SEARCH_FIELDS)
    run = SearchRun(folder, summary, run_overrides(folder), run_config(folder))
    run.arch, run.arch_problem = _load_arch(run.arch_file)
    return run


def _trained_source(folder: Path) -> tuple[str, str] | None:
    """(key, value) of what the train run in `folder` trained: `arch=<run>/arch.yaml`, or with
    no `arch`, `init_from_search=<run>` (whose arch.yaml it then trains)."""
    config = run_config(folder)
    for key in ("arch", "init_from_search"):
        if isinstance(config.get(key), str) and config[key]:
            return key, config[key]
    return None


def _join_train(folder: Path, searches: dict[Path, SearchRun]) -> tuple[SearchRun | None, str]:
    """The search whose net the train run in `folder` trained; else None and why."""
    summary = read_summary(folder / TRAIN_FILE, TRAIN_FIELDS)
    source = _trained_source(folder)
    if source is None:
        return None, "a train.py run whose config names no arch= or init_from_search="
    path = _resolve(source[1], folder)
    search = searches.get(path if path.is_dir() else path.parent)
    if search is None:
        return (
            None,
            f"a train.py run of {source[0]}={source[1]}, not a net of a search run given here",
        )
    search.trained.append(summary | {"folder": str(folder)})
    return search, ""


def _join_eval(folder: Path, trains: dict[Path, SearchRun]) -> str:
    """Attach the eval run in `folder` to the search whose trained net it evaluated; else why
    not."""
    summary = read_summary(folder / EVAL_FILE, EVAL_FIELDS)
    checkpoint = _resolve(summary["checkpoint"], folder)
    owner = next((s for f, s in trains.items() if checkpoint.is_relative_to(f)), None)
    if owner is None:
        return (
            f"an eval.py run of ckpt_path={summary['checkpoint']}, which is in no train.py run "
            "of a search run given here"
        )
    owner.evaluated.append(summary | {"folder": str(folder)})
    return ""


def _check_roots(roots: list[Path]) -> None:
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such folder: {', '.join(missing)}")
    files = [str(p) for p in roots if not p.is_dir()]
    if files:
        raise FileNotFoundError(
            f"not a folder: {', '.join(files)}; give the run's folder (the one holding "
            f"{SEARCH_FILE}), a multirun folder, or a folder above them"
        )


def _read_folders(
    folders: dict[Path, Path],
) -> tuple[dict[Path, SearchRun], dict[str, list[tuple[Path, Path]]], list[SkippedRun]]:
    """The finished search runs, the finished train and eval runs (folder, as found) and the
    folders left out so far."""
    searches: dict[Path, SearchRun] = {}
    finished: dict[str, list[tuple[Path, Path]]] = {"train": [], "eval": []}
    skipped: list[SkippedRun] = []
    for folder, shown in folders.items():
        try:
            kind = run_kind(folder)
            if not is_finished(folder, kind):
                skipped.append(SkippedRun(shown, unfinished_reason(folder, kind)))
            elif kind == "search":
                searches[folder] = _search_run(folder)
            else:
                finished[kind].append((folder, shown))
        except RunFileError as err:
            skipped.append(SkippedRun(shown, err.within(folder)))
    return searches, finished, skipped


def _join_trains(
    trains: list[tuple[Path, Path]], searches: dict[Path, SearchRun], skipped: list[SkippedRun]
) -> dict[Path, SearchRun]:
    """{train run folder: the search it trained}; the others go to `skipped` with why."""
    joined: dict[Path, SearchRun] = {}
    for folder, shown in trains:
        try:
            search, why = _join_train(folder, searches)
        except RunFileError as err:
            search, why = None, err.within(folder)
        if search is None:
            skipped.append(SkippedRun(shown, why))
        else:
            joined[folder] = search
    return joined


def collect_sweep(paths: list[str | Path]) -> Sweep:
    """Every finished search run under `paths`, in folder order, with its train and eval
    results; and every other run folder there with why it is left out (a run that did not
    finish, a file that cannot be read, a train or eval run of no search given)."""
    roots = [Path(p) for p in paths]
    _check_roots(roots)
    searches, finished, skipped = _read_folders(run_folders(roots))
    trains = _join_trains(finished["train"], searches, skipped)
    for folder, shown in finished["eval"]:
        try:
            why = _join_eval(folder, trains)
        except RunFileError as err:
            why = err.within(folder)
        if why:
            skipped.append(SkippedRun(shown, why))
    skipped.sort(key=lambda s: _natural_key(s.folder))
    if not searches:
        raise NoSearchRunError(_no_search_text(roots, skipped))
    return Sweep(sorted(searches.values(), key=lambda s: _natural_key(s.folder)), skipped)


def collect_runs(paths: list[str | Path]) -> list[SearchRun]:
    """The search runs of `collect_sweep(paths)`; each folder left out is logged as a warning."""
    sweep = collect_sweep(paths)
    for skipped in sweep.skipped:
        log.warning("left out %s", skipped.line())
    return sweep.runs


def _no_search_text(roots: list[Path], skipped: list[SkippedRun]) -> str:
    text = (
        f"no finished search run under {', '.join(map(str, roots))}: a finished `python "
        f"search.py` run leaves {SEARCH_FILE} in its folder (outputs/search/<date>_<time>/, "
        "or multirun/search/<date>_<time>/<n>/ of a sweep)"
    )
    return text + "".join(f"\n  left out {s.line()}" for s in skipped)


def _natural_key(path: Path) -> list[tuple[int, int, str]]:
    """Sort `.../2` before `.../10`, and numbered folders before named ones (`.../b`)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in path.parts]
