"""The run folders under the folders a report is given, what kind of run each is, and for a run
that did not finish, why it is left out and how to resume it."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas.report.run_files import read_yaml

SEARCH_FILE, TRAIN_FILE, EVAL_FILE = "summary.json", "train_summary.json", "eval.json"
# what each entry point leaves once it has finished, by its `task_name`
RESULT_FILES = {"search": SEARCH_FILE, "train": TRAIN_FILE, "eval": EVAL_FILE}
# a folder holding any of these is a run folder (Hydra writes .hydra/ as a run starts)
MARKERS = frozenset({*RESULT_FILES.values(), "config.yaml", ".hydra", "checkpoints"})
NOT_SEARCHED = frozenset({"wandb", "checkpoints"})  # a run's own files, never runs


@dataclass(frozen=True)
class SkippedRun:
    """A run folder the report leaves out: the folder as found under the folders given, and
    why (with what to do about it)."""

    folder: Path
    reason: str

    def line(self) -> str:
        return f"{self.folder}: {self.reason}"


def run_folders(roots: list[Path]) -> dict[Path, Path]:
    """Every run folder under `roots`, in walk order: {resolved folder: folder as found}."""
    found: dict[Path, Path] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            if MARKERS.intersection(dirs) or MARKERS.intersection(files):
                found.setdefault(Path(folder).resolve(), Path(folder))
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in NOT_SEARCHED)
    return found


def run_config(folder: Path) -> dict[str, Any]:
    """The run's resolved config (`config.yaml`, else Hydra's `.hydra/config.yaml`)."""
    return read_yaml(folder / "config.yaml") or read_yaml(folder / ".hydra" / "config.yaml") or {}


def run_overrides(folder: Path) -> list[str]:
    """The command line's overrides of the run (Hydra's `.hydra/overrides.yaml`)."""
    return [str(o) for o in read_yaml(folder / ".hydra" / "overrides.yaml", list) or []]


def run_kind(folder: Path) -> str | None:
    """search, train or eval: by the results the run left, else by its config's `task_name`."""
    for kind, name in RESULT_FILES.items():
        if (folder / name).is_file():
            return kind
    task = run_config(folder).get("task_name")
    return task if task in RESULT_FILES else None


def is_finished(folder: Path, kind: str | None) -> bool:
    return kind is not None and (folder / RESULT_FILES[kind]).is_file()


def unfinished_reason(folder: Path, kind: str | None) -> str:
    """Why a run folder without its results is left out, and what to do: resume the run from
    its newest checkpoint in the same folder, run it again, or delete it."""
    missing = RESULT_FILES[kind] if kind else f"{SEARCH_FILE}, {TRAIN_FILE} or {EVAL_FILE}"
    what = f"the {kind}.py run" if kind else "the run"
    checkpoint = resume_checkpoint(folder)
    if kind == "eval":
        return f"no {missing}: {what} failed (or is still running); run it again, or delete it"
    if checkpoint is None:
        return (
            f"no {missing}: {what} stopped before its first checkpoint (or is still running); "
            "run it again, or delete the folder"
        )
    if kind is None:
        resume = f"ckpt_path={checkpoint}"
    else:
        kept = [
            o
            for o in run_overrides(folder)
            if not o.lstrip("+").startswith(("ckpt_path=", "hydra.run.dir="))
        ]
        words = [f"{kind}.py", *kept, f"hydra.run.dir={folder}", f"ckpt_path={checkpoint}"]
        resume = "`python " + " ".join(shlex.quote(w) for w in words) + "`"
    return (
        f"no {missing}: {what} did not finish (or is still running); resume it with {resume}, "
        "or delete the folder"
    )


def resume_checkpoint(folder: Path) -> Path | None:
    """The checkpoint a resume starts from: `checkpoints/last.ckpt`, which resumes exactly (the
    end of the last whole epoch), else `interrupted.ckpt` (a stop within the first epoch), else
    the run's newest checkpoint."""
    folder = folder / "checkpoints"
    for name in ("last.ckpt", "interrupted.ckpt"):
        if (folder / name).is_file():
            return folder / name
    found = list(folder.glob("*.ckpt"))
    return max(found, key=lambda p: p.stat().st_mtime) if found else None
