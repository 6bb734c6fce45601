"""Small sharded datasets of every source type, written to a folder for the shard tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np


def arrays(n: int = 250, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """`n` MNIST-like samples (1 x 8 x 8 float32) and int64 labels."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, size=n, dtype=np.int64)


def write_files_subfolders(folder: Path, shards: int = 4, per_shard: int = 5) -> Path:
    for s in range(shards):
        sub = folder / f"part-{s:02d}"
        (sub / "nested").mkdir(parents=True)
        for i in range(per_shard):
            target = sub / "nested" if i % 2 else sub
            (target / f"img{i:03d}.bin").write_bytes(f"shard {s} sample {i}".encode() * (i + 1))
    return folder


def write_files_flat(folder: Path, n: int = 23) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{i:04d}.txt").write_bytes(f"caption {i}".encode())
    return folder


def write_tars(folder: Path, shards: int = 3, per_shard: int = 4) -> Path:
    """webdataset-style shards: each sample a `.bin` and a `.txt` member."""
    folder.mkdir(parents=True)
    for s in range(shards):
        with tarfile.open(folder / f"shard-{s:06d}.tar", "w") as tar:
            for i in range(per_shard):
                key = f"{s:03d}{i:03d}"
                for ext, data in (("bin", bytes([s, i]) * 50), ("txt", f"text {s} {i}".encode())):
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return folder


def write_parquet(folder: Path, shards: int = 3, rows: int = 7) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    for s in range(shards):
        table = pa.table({
            "id": pa.array([s * 100 + r for r in range(rows)], pa.int64()),
            "caption": [f"caption {s}/{r}" for r in range(rows)],
            "score": [r / 3 if r != 2 else float("nan") for r in range(rows)],
            "image": [bytes([s, r]) * 10 for r in range(rows)],
            "tags": [[f"t{r}", "x"] for r in range(rows)],
        })
        pq.write_table(table, folder / f"part-{s:03d}.parquet", row_group_size=3)
    return folder
