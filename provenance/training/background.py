"""Provenance work beside training: values computed ahead, and epoch trees built in order.

`Ahead` computes one value in a thread while the caller does something else (the git state while
the data is hashed) and hands it over, or its error, when asked. `EpochWork` runs closures one
after another, first in, first out, in one thread at the lowest CPU priority: the checkpoint of
epoch N is saved, hashed and chained after that of epoch N-1, while epoch N+1 trains. An error
stops the queue and is raised to the caller at its next call (`submit` or `finish`), never lost.

Why a thread at the lowest priority (reasoned; on this session's shared 2-core machine a nice 0 /
nice 19 comparison drowned in other jobs' load, `bench/training.py --background-nice 0` makes it
on a quiet one): torch's intra-op threads take both cores, and a parallel region waits at its
barrier for whichever of its threads the scheduler set aside, so CPU the background takes at
normal priority is paid again by training. At nice 19 it runs in the gaps (Python between ops,
the end of an epoch) and what is left is waited for after training. A process of its own would
add the transfer of every checkpoint and a second web3 connection (and keys), for the same CPU.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Generic, TypeVar

from .. import anchoring

T = TypeVar("T")


class Ahead(Generic[T]):
    """`fn()` computed in a daemon thread from now; `result()` waits for it (or raises its error)."""

    def __init__(self, fn: Callable[[], T], name: str = "provenance-ahead") -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], T]) -> None:
        try:
            self._value = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller of result()
            self._error = e

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class EpochWork:
    """Closures run in order in one low-priority background thread (see the module docstring)."""

    def __init__(self, name: str = "provenance-epochs") -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._name = name
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Queue `job` after the ones before it; raises the error of an earlier job, if any."""
        self._raise()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._queue.put(job)

    def finish(self) -> None:
        """Wait until every queued job has run, and let the thread go; raises the first error one
        of them raised."""
        if self._thread is not None and not self.in_worker:
            self._queue.join()
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    @property
    def behind(self) -> bool:
        """Whether jobs wait in the queue behind the one running (the work is behind its producer)."""
        return self._queue.qsize() > 0

    @property
    def in_worker(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        anchoring.lower_priority()
        while True:
            job = self._queue.get()
            if job is None:  # finish(): the queue is empty
                self._queue.task_done()
                return
            try:
                if self._error is None:  # after a failure the rest is skipped: a chain cannot skip a stage
                    job()
            except BaseException as e:  # noqa: BLE001 - raised to the caller by submit() or finish()
                self._error = e
            finally:
                self._queue.task_done()
