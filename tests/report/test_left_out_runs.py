"""`python -m hwnas.report` over a sweep with damaged runs: a run that did not finish, a
summary.json with values of the wrong type or broken JSON, an unreadable config or arch.yaml,
train and eval runs that join no search. Each is named with why, on stderr and in report.md,
and the report covers the rest."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from itertools import takewhile
from pathlib import Path

import pytest
import yaml

from hwnas.report.__main__ import main
from hwnas.report.runs import collect_runs
from hwnas.report.sweep_report import optuna_solutions

ROOT = Path(__file__).resolve().parents[2]


def _report(folders: list[Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([*map(str, folders), "--hardware", "mobile", "flops"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _first_column(report: str) -> list[str]:
    """The first column of the report's first table, the runs (header left out)."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = list(takewhile(lambda line: line.startswith("|"), lines[start:]))
    return [row.strip("|").split("|")[0].strip() for row in table[2:]]


def test_a_search_that_did_not_finish_is_named_with_how_to_resume_it(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unfinished = sweep_copy / "1"
    (unfinished / "summary.json").unlink()
    code, out, err = _report([sweep_copy], capsys)
    assert code == 0
    assert out.startswith("3 search runs (1 folder left out): wrote ")
    reason = "no summary.json: the search.py run did not finish (or is still running); resume it"
    assert f"left out {unfinished}: {reason} with `python search.py debug=fast" in err
    last = unfinished.resolve() / "checkpoints" / "last.ckpt"
    assert f"hydra.run.dir={unfinished.resolve()} ckpt_path={last}`, or delete the folder" in err
    report = (sweep_copy / "report.md").read_text()
    assert report.startswith("# Sweep report: 3 search runs in ")
    assert "(1 folder left out, listed below)" in report.splitlines()[0]
    assert f"## Left out (1 folder)\n\n- `{unfinished}`: {reason}" in report
    assert _first_column(report) == ["0", "2", "3"]


def test_collect_runs_warns_of_each_folder_it_leaves_out(
    sweep_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (sweep_copy / "1" / "summary.json").unlink()
    assert [run.folder.name for run in collect_runs([sweep_copy])] == ["0", "2", "3"]
    assert f"left out {sweep_copy / '1'}: no summary.json: the search.py run did not" in caplog.text


@pytest.mark.slow  # a whole process or notebook run; the checks it makes have unit tests
def test_the_resume_command_it_names_finishes_the_run(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = next(r for r in sorted(sweep_copy.glob("[0-9]")) if not (r / "wandb").is_dir())
    (run / "summary.json").unlink()
    _, _, err = _report([sweep_copy], capsys)
    command = shlex.split(re.search(r"resume it with `([^`]+)`", err).group(1))
    assert command[:2] == ["python", "search.py"]
    done = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "WANDB_SILENT": "true"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    code, out, err = _report([sweep_copy], capsys)
    assert code == 0 and out.startswith("4 search runs: wrote ") and "left out" not in err


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda f: f | {"derived_cost": "0.2", "macs": [150000]},
            'summary.json: "derived_cost" is a string ("0.2"), expected a number; '
            '"macs" is a list ([150000]), expected a number or null',
        ),
        (lambda f: [f], "summary.json: holds a list, expected an object of named figures ({...})"),
        (
            lambda f: f | {"hardware": 3},
            'summary.json: "hardware" is a number (3), expected a string',
        ),
    ],
)
def test_a_summary_with_values_of_the_wrong_type_is_named_with_the_field(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str], damage, reason: str
) -> None:
    path = sweep_copy / "1" / "summary.json"
    path.write_text(json.dumps(damage(json.loads(path.read_text())), indent=2))
    code, out, err = _report([sweep_copy], capsys)
    assert code == 0 and out.startswith("3 search runs (1 folder left out)")
    assert f"left out {sweep_copy / '1'}: {reason}\n" in err
    assert f"- `{sweep_copy / '1'}`: {reason}" in (sweep_copy / "report.md").read_text()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            '{\n  "derived_cost": 0.2,\n  "test_acc" 0.5\n}',
            "summary.json: not valid JSON at line 3, column 14 (Expecting ':' delimiter)",
        ),
        ("", "summary.json: the file is empty"),
    ],
)
def test_a_summary_that_is_not_json_is_named_with_the_line(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str], text: str, reason: str
) -> None:
    (sweep_copy / "0" / "summary.json").write_text(text)
    code, out, err = _report([sweep_copy], capsys)
    assert code == 0 and out.startswith("3 search runs (1 folder left out)")
    assert f"left out {sweep_copy / '0'}: {reason}\n" in err
    assert _first_column((sweep_copy / "report.md").read_text()) == ["1", "2", "3"]


def test_runs_in_named_folders_sort_after_numbered_ones(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(sweep_copy / "0", sweep_copy / "b")
    code, out, _ = _report([sweep_copy], capsys)
    assert code == 0 and out.startswith("5 search runs: wrote ")
    assert _first_column((sweep_copy / "report.md").read_text()) == ["0", "1", "2", "3", "b"]


def test_an_unreadable_config_leaves_its_run_out_with_the_line(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sweep_copy / "1" / "config.yaml").write_text("seed: 0\nepochs: [2\n")
    code, _, err = _report([sweep_copy], capsys)
    assert code == 0
    assert (
        f"left out {sweep_copy / '1'}: config.yaml: not valid YAML at line 3, column 1 "
        "(expected ',' or ']', but got '<stream end>')\n"
    ) in err


def test_an_unreadable_arch_yaml_keeps_the_row_and_says_why_it_is_not_in_the_matrix(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sweep_copy / "1" / "arch.yaml").write_text("name: x\nlayers: [\n")
    code, out, _ = _report([sweep_copy], capsys)
    assert code == 0 and out.startswith("4 search runs: wrote ")
    report = (sweep_copy / "report.md").read_text()
    assert _first_column(report) == ["0", "1", "2", "3"]
    matrix = report.split("## Hardware matrix")[1]
    assert "- `1`: not in the matrix (arch.yaml: not valid YAML at line 3, column 1" in matrix
    searched = {
        s for group in re.findall(r"\| searched \(([^)]*)\)", matrix) for s in group.split(", ")
    }
    assert searched == {"0", "2", "3"}


def test_train_and_eval_runs_that_join_no_search_are_named(
    sweep_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run_folder(name: str, config: dict, **files: str) -> Path:
        folder = tmp_path / name
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        for file, text in files.items():
            (folder / file.replace("_json", ".json")).write_text(text)
        return folder

    searched = str(sweep_copy / "0" / "arch.yaml")
    folders = [
        run_folder(
            "published",
            {"task_name": "train", "arch": "proxyless_mobile"},
            train_summary_json=json.dumps({"test_acc": 0.9}),
        ),
        run_folder(
            "broken",
            {"task_name": "train", "arch": searched},
            train_summary_json=json.dumps({"test_acc": "high"}),
        ),
        run_folder("unfinished", {"task_name": "train", "arch": searched}),
        run_folder(
            "evaluated",
            {"task_name": "eval"},
            eval_json=json.dumps(
                {
                    "checkpoint": str(tmp_path / "broken" / "checkpoints" / "x.ckpt"),
                    "latency": [1.2],
                }
            ),
        ),
    ]
    code, out, err = _report([sweep_copy, *folders], capsys)
    assert code == 0 and out.startswith("4 search runs (4 folders left out)")
    lines = [line.removeprefix("left out ") for line in err.splitlines()]
    assert lines == [
        f'{folders[1]}: train_summary.json: "test_acc" is a string ("high"), expected a '
        "number or null",
        f'{folders[3]}: eval.json: "latency" is a list ([1.2]), expected an object or null',
        f"{folders[0]}: a train.py run of arch=proxyless_mobile, not a net of a search run "
        "given here",
        f"{folders[2]}: no train_summary.json: the train.py run stopped before its first "
        "checkpoint (or is still running); run it again, or delete the folder",
    ]


def test_no_finished_search_is_an_error_that_lists_what_was_left_out(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for run in ("0", "1", "2", "3"):
        (sweep_copy / run / "summary.json").unlink()
    code, out, err = _report([sweep_copy], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: no finished search run under {sweep_copy}: ")
    assert f"\n  left out {sweep_copy / '0'}: no summary.json: the search.py run did not" in err


def test_a_file_given_for_a_folder_is_refused(
    sweep_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _report([sweep_copy / "0" / "summary.json"], capsys)
    assert code == 2
    assert err.startswith(f"error: not a folder: {sweep_copy / '0' / 'summary.json'}; give ")


def test_unreadable_optuna_results_are_named_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "optimization_results.yaml").write_text("solutions: {trial: 1}\n")
    assert optuna_solutions(tmp_path) == (
        f"Optuna's results are not shown: {tmp_path / 'optimization_results.yaml'}: solutions "
        "is a mapping, expected a list of trials"
    )
