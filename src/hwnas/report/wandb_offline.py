"""Read an offline wandb run (`<run dir>/wandb/offline-run-*/run-*.wandb`) without a server:
its logged history, summary, media files and artifacts. wandb writes the run as a log of
protobuf records in LevelDB's log format (blocks of 32 KiB, each record chunked with a 7-byte
header); this reads that format directly, since the wandb package ships no Python reader for
it."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK_BYTES = 32 * 1024
HEADER_BYTES = 7  # checksum (4), length (2), chunk type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
MAGIC = b":W&B"


@dataclass
class OfflineRun:
    """What an offline run holds. `history`: one dict per logged step (values decoded from
    JSON); `artifacts`: {name: {"type": ..., "files": [paths inside the artifact]}};
    `media`: the files under the run's `files/media/`."""

    path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: list[Path] = field(default_factory=list)

    def scalars(self, key: str) -> list[tuple[int, float]]:
        """(step, value) of every logged value of `key` that is a number."""
        return [
            (int(row.get("_step", i)), float(row[key]))
            for i, row in enumerate(self.history)
            if isinstance(row.get(key), (int, float))
        ]


def record_chunks(path: Path) -> Iterator[bytes]:
    """The raw records of a `.wandb` file, reassembled from their chunks and checked against
    their CRC-32 (of the chunk type and data). A run that is still being written, or was
    killed, ends in a cut-off chunk: reading stops before it."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not a wandb run file (it does not start with {MAGIC!r})")
    pos, pending = HEADER_BYTES, b""
    while pos + HEADER_BYTES <= len(data):
        left = BLOCK_BYTES - pos % BLOCK_BYTES
        if left < HEADER_BYTES:  # the rest of a block too short for a header is padding
            pos += left
            continue
        checksum, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER_BYTES])
        if kind == 0 and length == 0:  # zero padding to the block's end
            pos += left
            continue
        chunk = data[pos + HEADER_BYTES : pos + HEADER_BYTES + length]
        if len(chunk) < length:
            return  # cut off: the run was still writing, or was killed
        if zlib.crc32(bytes([kind]) + chunk) != checksum:
            raise ValueError(
                f"{path}: record at byte {pos} fails its checksum; the file is "
                "damaged (read what precedes it with a copy cut at that byte)"
            )
        pos += HEADER_BYTES + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        else:
            raise ValueError(f"{path}: unknown record chunk type {kind} at byte {pos}")


def find_offline_runs(folder: str | Path) -> list[Path]:
    """The offline wandb run folders under `folder` (a run folder, or its `wandb/`)."""
    folder = Path(folder)
    return sorted({p.parent for p in folder.glob("**/offline-run-*/run-*.wandb")})


def _item_key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def read_offline_run(folder: str | Path) -> OfflineRun:
    """Read the offline run in `folder` (an `offline-run-*` folder, or a folder holding one:
    the newest is taken)."""
    from wandb.proto import wandb_internal_pb2 as pb

    folder = Path(folder)
    runs = [folder] if list(folder.glob("run-*.wandb")) else find_offline_runs(folder)
    if not runs:
        raise FileNotFoundError(
            f"no offline wandb run under {folder} (a run logged with "
            "logger=wandb leaves <run dir>/wandb/offline-run-*)"
        )
    run_dir = runs[-1]
    run = OfflineRun(run_dir)
    from google.protobuf.message import DecodeError

    run_file = next(run_dir.glob("run-*.wandb"))
    for raw in record_chunks(run_file):
        record = pb.Record()
        try:
            record.ParseFromString(raw)
        except DecodeError as err:
            raise ValueError(
                f"{run_file}: a record is not a wandb record ({err}); the file "
                "is damaged or was written by an incompatible wandb"
            ) from err
        kind = record.WhichOneof("record_type")
        if kind == "history":
            run.history.append(
                {_item_key(i): json.loads(i.value_json) for i in record.history.item}
            )
        elif kind == "summary":
            run.summary.update(
                {_item_key(i): json.loads(i.value_json) for i in record.summary.update}
            )
        elif kind == "artifact":
            art = record.artifact
            run.artifacts[art.name] = {
                "type": art.type,
                "files": [e.path for e in art.manifest.contents],
            }
    run.media = sorted(p for p in (run_dir / "files" / "media").glob("**/*") if p.is_file())
    return run
