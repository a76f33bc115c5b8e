"""The folders the notebooks read (`HWNAS_RUN`, `HWNAS_DTS_RUN`, `HWNAS_SWEEP`), checked where
the first cell reads them: a missing folder, or a run of the wrong kind, is refused with what the
notebook expects and the command that writes it, instead of a `FileNotFoundError` cells later."""

from __future__ import annotations

from pathlib import Path

from hwnas.report.run_files import (
    DTS_FIELDS,
    SEARCH_FIELDS,
    TRAIN_FIELDS,
    RunFileError,
    field_problems,
    read_summary,
)
from hwnas.report.run_folders import (
    MARKERS,
    RESULT_FILES,
    SEARCH_FILE,
    TRAIN_FILE,
    is_finished,
    run_kind,
    unfinished_reason,
)
from hwnas.report.runs import NoSearchRunError, Sweep, collect_sweep

SEARCH_RUN = (
    "a search run folder (outputs/search/<date>_<time>/, or multirun/search/<date>_<time>/<n>/ "
    f"of a sweep) holding {SEARCH_FILE} and arch.yaml, which `python search.py` writes as it ends"
)
DTS_RUN = (
    f"a DTS training run folder (outputs/train/<date>_<time>/) holding {TRAIN_FILE} with its "
    "`distributed` figures, which `python train.py distributed=dts ...` writes as it ends"
)
SWEEP = (
    "a sweep folder (multirun/search/<date>_<time>/, written by `python search.py -m ...`), or "
    "any folder holding finished search runs"
)

# the notebook that reads a run of that kind, named where a run is given to another
OTHER_NOTEBOOK = {
    "search": "notebooks/search_run.ipynb reads it",
    "train": "notebooks/dts.ipynb reads one trained with distributed=dts",
}


class NotebookInputError(ValueError):
    """A folder a notebook cannot read; the message says what the notebook expects. Jupyter
    shows it as this message alone, without a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def _given(value: str, root: Path, variable: str, expected: str) -> Path:
    """The folder `value` names: as given, or relative to the repository (`root`), where a
    notebook started in notebooks/ would not look."""
    path = Path(value).expanduser()
    tried = [path] if path.is_absolute() else [path, root / path]
    found = next((p for p in tried if p.exists()), None)
    if found is None:
        where = " or ".join(str(p.absolute()) for p in tried)
        raise NotebookInputError(
            f"{variable}={value}: no such folder ({where}); set it to {expected}"
        )
    if not found.is_dir():
        raise NotebookInputError(
            f"{variable}={value} is a file, not a folder; set it to {expected}"
        )
    return found


def _newest(folders: list[Path], where: str, variable: str, command: str, expected: str) -> Path:
    """The newest of `folders`, found under `where` as no folder was given."""
    if not folders:
        raise NotebookInputError(
            f"{variable} is not set and there is no run under {where} to read instead: run "
            f"`{command}`, or set {variable} to {expected}"
        )
    return max(folders, key=lambda p: p.stat().st_mtime)


def _check_kind(folder: Path, wanted: str, variable: str, expected: str) -> None:
    """Refuse a run of another kind than `wanted`, a folder that holds runs rather than being
    one, and a run that did not finish."""
    kind, shown = run_kind(folder), f"{variable}={folder}"
    if kind is not None and kind != wanted:
        other = f" ({OTHER_NOTEBOOK[kind]})" if kind in OTHER_NOTEBOOK else ""
        raise NotebookInputError(
            f"{shown} is {'an' if kind == 'eval' else 'a'} {kind}.py run{other}, not a "
            f"{wanted}.py run; set it to {expected}"
        )
    if is_finished(folder, wanted):
        return
    if not any((folder / m).exists() for m in MARKERS):
        inner = sorted(p.parent.name for p in folder.glob(f"*/{RESULT_FILES[wanted]}"))
        named = ", ".join(inner[:5]) + (", ..." if len(inner) > 5 else "")
        holds = f"holds the {wanted}.py runs {named}" if inner else "is not a run folder"
        raise NotebookInputError(f"{shown} {holds}; set it to {expected}")
    reason = unfinished_reason(folder, kind or wanted)
    raise NotebookInputError(f"{shown}: {reason}; or set it to {expected}")


def search_run_folder(value: str | None, root: Path, variable: str = "HWNAS_RUN") -> Path:
    """The search run the search notebook reads: `value` (the variable's), else the newest under
    `root`'s outputs/search/ and multirun/search/; refused unless it is a finished search."""
    if value:
        folder = _given(value, root, variable, SEARCH_RUN)
    else:
        found = [
            *root.glob(f"outputs/search/*/{SEARCH_FILE}"),
            *root.glob(f"multirun/search/*/*/{SEARCH_FILE}"),
        ]
        where = f"{root / 'outputs/search'} or {root / 'multirun/search'}"
        folder = _newest([p.parent for p in found], where, variable, "python search.py", SEARCH_RUN)
    try:
        _check_kind(folder, "search", variable, SEARCH_RUN)
        read_summary(folder / SEARCH_FILE, SEARCH_FIELDS)
    except RunFileError as err:
        raise NotebookInputError(f"{variable}={folder}: {err.within(folder)}") from err
    if not (folder / "arch.yaml").is_file():
        raise NotebookInputError(
            f"{variable}={folder} holds no arch.yaml (a search writes it before {SEARCH_FILE}): "
            "run the search again"
        )
    return folder


def _dts_problem(folder: Path) -> str | None:
    """Why the finished train run in `folder` is no DTS run the notebook can read; None if it is."""
    summary = read_summary(folder / TRAIN_FILE, TRAIN_FIELDS)
    if not isinstance(summary.get("distributed"), dict):
        return f"{TRAIN_FILE} has no `distributed` figures: the run trained without DTS"
    problems = field_problems(summary["distributed"], DTS_FIELDS, "distributed.")
    return f"{TRAIN_FILE}: " + "; ".join(problems) if problems else None


def dts_run_folder(value: str | None, root: Path, variable: str = "HWNAS_DTS_RUN") -> Path:
    """The DTS training run the DTS notebook reads: `value` (the variable's), else the newest
    under `root`'s outputs/train/ whose summary has DTS's; refused unless it is one."""
    if not value:
        runs = []
        found = [
            *root.glob(f"outputs/train/*/{TRAIN_FILE}"),
            *root.glob(f"multirun/train/*/*/{TRAIN_FILE}"),
        ]
        for path in found:
            try:
                if _dts_problem(path.parent) is None:
                    runs.append(path.parent)
            except RunFileError:
                continue  # not this notebook's to report: a run named explicitly is checked
        where = f"{root / 'outputs/train'} or {root / 'multirun/train'}"
        return _newest(runs, where, variable, "python train.py distributed=dts ...", DTS_RUN)
    folder = _given(value, root, variable, DTS_RUN)
    try:
        _check_kind(folder, "train", variable, DTS_RUN)
        problem = _dts_problem(folder)
    except RunFileError as err:
        raise NotebookInputError(f"{variable}={folder}: {err.within(folder)}") from err
    if problem is not None:
        raise NotebookInputError(f"{variable}={folder}: {problem}; set it to {DTS_RUN}")
    return folder


def read_sweep(value: str | None, root: Path, variable: str = "HWNAS_SWEEP") -> tuple[Path, Sweep]:
    """The sweep the latency notebook reads and its runs (`collect_sweep`): `value` (the
    variable's), else the newest under `root`'s multirun/search/."""
    if not value:
        sweeps = [p for p in root.glob("multirun/search/*") if p.is_dir()]
        where = str(root / "multirun/search")
        folder = _newest(sweeps, where, variable, "python search.py -m ...", SWEEP)
    else:
        folder = _given(value, root, variable, SWEEP)
    try:
        return folder, collect_sweep([folder])
    except NoSearchRunError as err:
        raise NotebookInputError(f"{variable}={folder}: {err}") from err
