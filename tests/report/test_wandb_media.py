"""A search logged to wandb (offline, the default) holds its pictures as images, the
probabilities as a table and its files as an artifact: read back from the offline run file."""

from __future__ import annotations

import json

import pytest

from hwnas.report.wandb_offline import find_offline_runs, read_offline_run, record_chunks


def _wandb_runs(debug_sweep: dict) -> list:
    runs = [run for run in debug_sweep["runs"] if (run / "wandb").is_dir()]
    assert len(runs) == 2, "logger=wandb ran for 2 of the 4 searches"
    return runs


def test_offline_run_holds_the_pictures_and_the_probability_table(debug_sweep: dict) -> None:
    for run_dir in _wandb_runs(debug_sweep):
        run = read_offline_run(run_dir)
        names = [m.name for m in run.media]
        for picture in ("arch_", "arch_probs_", "layer_costs_"):
            assert any(n.startswith(picture) and n.endswith(".png") for n in names), names
        logged = {k for row in run.history for k in row}
        assert {"pictures/arch/_type", "arch/probabilities/_type"} <= logged
        table = next(m for m in run.media if m.name.endswith(".table.json"))
        data = json.loads(table.read_text())
        assert data["columns"] == ["epoch", "layer", "candidate", "probability"]
        record = json.loads((run_dir / "arch_probs.json").read_text())
        rows = sum(len(layer) for layer in record["candidates"]) * len(record["history"])
        assert len(data["data"]) == rows


def test_offline_run_holds_the_search_artifact(debug_sweep: dict) -> None:
    for run_dir in _wandb_runs(debug_sweep):
        run = read_offline_run(run_dir)
        artifacts = [a for a in run.artifacts.values() if a["type"] == "search-result"]
        assert len(artifacts) == 1, run.artifacts
        assert {"arch.yaml", "summary.json", "op_costs.json"} <= set(artifacts[0]["files"])


def test_offline_run_history_has_the_scalars(debug_sweep: dict) -> None:
    run = read_offline_run(_wandb_runs(debug_sweep)[0])
    assert run.scalars("train/loss"), "train/loss was logged"
    assert any(k.startswith("arch/expected_latency_ms") for row in run.history for k in row)


def test_a_csv_run_has_no_wandb_run_to_read(debug_sweep: dict) -> None:
    csv_run = next(r for r in debug_sweep["runs"] if not (r / "wandb").is_dir())
    assert find_offline_runs(csv_run) == []
    with pytest.raises(FileNotFoundError, match="no offline wandb run"):
        read_offline_run(csv_run)


def test_a_file_that_is_not_a_wandb_run_is_refused(tmp_path) -> None:
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b"not a run")
    with pytest.raises(ValueError, match="not a wandb run file"):
        list(record_chunks(path))


def test_a_run_cut_off_while_writing_reads_up_to_the_cut(debug_sweep: dict, tmp_path) -> None:
    import shutil

    source = find_offline_runs(_wandb_runs(debug_sweep)[0])[0]
    whole = read_offline_run(source)
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    run_file = next(copy.glob("run-*.wandb"))
    data = run_file.read_bytes()
    run_file.write_bytes(data[: len(data) - 100])  # a killed run: the last record half written
    cut = read_offline_run(copy)
    assert 0 < len(cut.history) <= len(whole.history)
    damaged = bytearray(data)
    damaged[20] ^= 0xFF  # a flipped byte inside the first record
    run_file.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="fails its checksum"):
        read_offline_run(copy)
