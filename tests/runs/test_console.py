"""The run's log file gets what the console gets, and library notices that never apply to an
hwnas run are left out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTICES = (
    "💡 Tip",
    "ckpt_path=None)` was called without a model",
    'ckpt_path="last") is set',
    "LeafSpec",
    "anonymous setting",
)


def test_search_log_gets_the_results_and_no_notice_is_printed_that_does_not_apply(
    tmp_path: Path,
) -> None:
    # one thread: a busy machine's other processes then barely slow the run down
    env = {**os.environ, "WANDB_SILENT": "false", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "search.py", "debug=fast", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = done.stdout + done.stderr
    assert [n for n in NOTICES if n in console] == []
    log = (tmp_path / "search.log").read_text()
    for line in (
        "Derived architecture of tiny",
        "accuracy: val",
        f"Wrote {tmp_path / 'arch.yaml'}",
        "GPU available",
        "Seed set to 0",
    ):
        assert line in log and line in console, line
