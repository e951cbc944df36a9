"""Local pool: N worker processes (spawn), each loading the model once, each driven by one thread of the driver.

Decoding happens in the workers, never in the driver: a worker that dies (a segfault in a decoder, the OOM killer)
or runs past the per-file time limit costs only the file it held, which comes back as a crash reason; the worker
is replaced on the next file. Results arrive in completion order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import cast

from ..errors import DeepfakeError
from ..workerproc import Handler, WorkerDied, WorkerProcess, WorkerTimeout
from .worker import FileScanner, Record, Result, ScanOptions

log = logging.getLogger(__name__)


def _scanner(options: ScanOptions, factory: Callable[[ScanOptions], FileScanner]) -> Handler:
    """Built once in each worker process: path -> ("done", its record)."""
    scanner = factory(options)
    return lambda path: ("done", scanner.scan(str(path)))


def _run(worker: WorkerProcess, path: str, timeout_s: float) -> tuple[Record | None, str | None]:
    try:
        return cast(Record, worker.request(path, timeout_s)[1]), None  # `_scanner` answers with a record
    except WorkerTimeout:
        return None, f"worker stopped: over the {timeout_s:g} s limit per file"
    except WorkerDied as e:
        return None, f"worker crashed while reading this file ({e.status})"


class LocalPool:
    """`workers` processes fed from a queue. Use as a context manager; `imap` yields results unordered."""

    def __init__(
        self, options: ScanOptions, workers: int = 1, factory: Callable[[ScanOptions], FileScanner] = FileScanner
    ):
        self.options = options
        self._workers = [
            WorkerProcess(partial(_scanner, options, factory), name=f"deepfake-scan-{i}") for i in range(workers)
        ]
        self._threads: list[threading.Thread] = []
        self._jobs: queue.Queue[str] = queue.Queue()
        self._results: queue.Queue[Result | BaseException] = queue.Queue()
        self._stopping = False

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def imap(self, paths: Iterable[str]) -> Iterator[Result]:
        paths = list(paths)
        if not paths:
            return
        for p in paths:
            self._jobs.put(p)
        for w in self._workers[: len(paths)]:
            t = threading.Thread(target=self._loop, args=(w,), name=f"{w.name}-feeder", daemon=True)
            t.start()
            self._threads.append(t)
        for _ in range(len(paths)):
            item = self._results.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    def _loop(self, worker: WorkerProcess) -> None:
        while not self._stopping:
            try:
                path = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                record, reason = _run(worker, path, self.options.timeout_s)
            except DeepfakeError as e:  # the model cannot load: no worker will do better
                self._stopping = True
                self._results.put(e)
                return
            except Exception as e:
                log.exception("scan worker feeder failed on %s", path)
                record, reason = None, f"internal error in the scan driver: {type(e).__name__}: {e}".splitlines()[0]
            self._results.put((path, record, reason))

    def close(self) -> None:
        self._stopping = True
        for w in self._workers:
            w.close(polite=True)
        for t in self._threads:
            t.join(timeout=5)
