"""Where shards are hashed: in this process (`local`) or on a Dask distributed cluster (`dask`).

Both run the same pure task, `shards.hash_shard`, and bring back one `ShardResult` per shard;
the run-level tree is then built from one `data.shard` leaf per shard. The coordinator holds
the shard list and one result per shard, never a sample's leaf, so its memory grows with the
number of shards only.

Failures on a cluster are the engine's to handle: a task is pure (same shard -> same result) and
submitted with `retries`, and the scheduler reschedules the tasks of a worker that dies (up to
`distributed.scheduler.allowed-failures` deaths per task), so a killed worker changes neither
the root nor the set of shards. A shard that cannot be read is not an engine failure: the task
returns a `ShardFailure`, which fails the job with the shard's name and is never retried.

`PROVENANCE_INJECT_WORKER_KILL=<marker file>` makes the first task that finds the marker delete
it and SIGKILL its own process: a fault injection for the tests (no real component dies on
cue); unset, it costs one environment lookup per shard.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..errors import AnchorError, ConfigError, ProvenanceError, reason
from ..merkle import MerkleTree
from .shards import ShardError, ShardFailure, ShardRef, ShardResult, hash_shard

ENGINES = ("local", "dask")
DEFAULT_RETRIES = 3
DEFAULT_WINDOW = 4096  # tasks in flight on a cluster: enough to keep thousands of workers busy
_DONE = object()


@dataclass(frozen=True)
class DatasetHash:
    """The shards of a dataset hashed: one result per shard (sorted by id) and their tree."""

    shards: tuple[ShardResult, ...]
    tree: MerkleTree
    seconds: float

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def samples(self) -> int:
        return sum(s.count for s in self.shards)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.shards)

    @property
    def leaves(self) -> list:
        return [s.leaf for s in self.shards]

    def to_json(self) -> dict[str, Any]:
        return {"root": "0x" + self.root.hex(), "shards": len(self.shards), "samples": self.samples,
                "bytes": self.nbytes, "seconds": round(self.seconds, 3),
                "samples_per_s": round(self.samples / self.seconds, 1) if self.seconds else None,
                "bytes_per_s": round(self.nbytes / self.seconds, 1) if self.seconds else None}


class LocalEngine:
    """Shards hashed one after another in this process."""

    name = "local"

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> Iterator[Any]:
        for item in items:
            yield fn(item, *args)

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DaskEngine:
    """Shards hashed on a Dask distributed cluster: an existing scheduler (`tcp://HOST:PORT`), a
    `distributed.Client` given by the caller, or a `LocalCluster` of `workers` processes started
    here (one thread each: blake3 and the Merkle build already use the cores they are given)."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, *, client: Any = None,
                 retries: int = DEFAULT_RETRIES, window: int = DEFAULT_WINDOW, connect_timeout: float = 10.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("engine dask: expected the `dask` and `distributed` packages (pip install 'ml-provenance[dask]'), found none") from None
        self.retries, self.window = retries, window
        self._own: list[Any] = []
        if client is not None:
            self.client = client
        elif scheduler is not None:
            if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
                raise ConfigError(f"scheduler: expected an address such as tcp://HOST:PORT, found {scheduler!r}")
            try:
                self.client = Client(scheduler, timeout=connect_timeout)
            except (OSError, TimeoutError) as e:
                raise AnchorError(f"scheduler {scheduler}: cannot connect ({reason(e)})") from None
            self._own.append(self.client)
        else:
            if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
                raise ConfigError(f"workers: expected a positive integer, found {workers!r}")
            cluster = LocalCluster(n_workers=workers or 2, processes=True, threads_per_worker=1, dashboard_address=None)
            self.client = Client(cluster)
            self._own += [self.client, cluster]

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *args: Any) -> Iterator[Any]:
        """`fn(item, *args)` for every item on the workers, results in completion order. At most
        `window` tasks are in flight, and each future is released as soon as its (small) result
        is here, so neither this process nor the scheduler holds more than `window` tasks
        whatever the number of shards."""
        from distributed import as_completed

        pending = iter(items)

        def submit(item: Any) -> Any:
            # A fresh key per submission (pure=False): a re-hash must never be answered from a
            # result the cluster still holds for the same shard, hashed before its data changed.
            return self.client.submit(fn, item, *args, retries=self.retries, pure=False)

        batch = [submit(item) for _, item in zip(range(self.window), pending)]
        running = as_completed(batch)
        del batch
        try:
            for future in running:
                result = future.result()
                future.release()
                nxt = next(pending, _DONE)
                if nxt is not _DONE:
                    running.add(submit(nxt))
                yield result
        finally:
            for future in list(running.futures):
                future.cancel()

    def close(self) -> None:
        for thing in self._own:
            thing.close()
        self._own = []

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_engine(engine: str = "local", *, scheduler: str | None = None, workers: int | None = None) -> LocalEngine | DaskEngine:
    """The engine a CLI option or a `track_data(engine=...)` names."""
    if engine == "local":
        if scheduler is not None or workers is not None:
            raise ConfigError("engine local: --scheduler and --workers apply to --engine dask only")
        return LocalEngine()
    if engine == "dask":
        if scheduler is not None and workers is not None:
            raise ConfigError("engine dask: expected --scheduler or --workers, found both")
        return DaskEngine(scheduler, workers)
    raise ConfigError(f"engine: expected one of {', '.join(ENGINES)}, found {engine!r}")


def hash_dataset(refs: Iterable[ShardRef], engine: LocalEngine | DaskEngine | None = None,
                 *, leaves_dir: str | os.PathLike[str] | None = None) -> DatasetHash:
    """Hash every shard on `engine` (in-process by default) and build the tree of their
    `data.shard` leaves. The first shard that cannot be read fails the job (`ShardError` naming
    it) and cancels the rest."""
    refs = list(refs)
    ids = [r.id for r in refs]
    if len(set(ids)) != len(ids):
        raise ConfigError("shards: expected unique shard ids, found a repeated one")
    if not refs:
        raise ConfigError("shards: expected at least one shard, found none")
    engine = engine or LocalEngine()
    started = time.perf_counter()
    results: dict[str, ShardResult] = {}
    directory = None if leaves_dir is None else os.fspath(leaves_dir)
    with run_tasks(engine, hash_shard, refs, directory) as answers:
        for result in answers:
            if isinstance(result, ShardFailure):
                raise ShardError(result.message)
            results[result.id] = result
    missing = set(ids) - set(results)
    if missing:  # cannot happen with a working engine; never build a root without every shard
        raise ProvenanceError(f"engine {engine.name}: expected a result for every shard, found none for {sorted(missing)[0]}")
    shards = tuple(results[i] for i in sorted(results))
    tree = MerkleTree.of([s.leaf for s in shards])
    return DatasetHash(shards, tree, time.perf_counter() - started)


@contextmanager
def run_tasks(engine: Any, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> Iterator[Iterator[Any]]:
    """`engine.map(fn, items, *args)`, closed on exit (cancelling what is still in flight), with
    a task that failed past its retries (or killed its workers too often) as one-line error."""
    answers = engine.map(fn, items, *args)
    try:
        yield _one_line_failures(engine, answers)
    finally:
        answers.close()


def _one_line_failures(engine: Any, answers: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from answers
    except ProvenanceError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. distributed's KilledWorker, or a task's own crash
        raise ProvenanceError(f"engine {engine.name}: a shard task failed after its retries "
                              f"({type(e).__name__}: {reason(e)}); no root was built") from None


def set_env(name: str, value: str | None) -> None:
    """Set or unset an environment variable in this process (run on workers by `Client.run`)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
