"""Local pool: N worker processes (spawn) in a `workerproc.WorkerPool`, each loading the model once, each driven by
one thread of the driver.

Decoding happens in the workers, never in the driver: a worker that dies (a segfault in a decoder, the OOM killer)
or runs past the per-file time limit costs only the file it held, which comes back as a crash reason; the worker
is replaced on the next file. Results arrive in completion order.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from typing import cast

from ..workerproc import Ask, Handler, WorkerPool, WorkerStartError
from .worker import FileScanner, Record, Result, ScanOptions

log = logging.getLogger(__name__)


def _scanner(options: ScanOptions, factory: Callable[[ScanOptions], FileScanner], threads: int) -> Handler:
    """Built once in each worker process: path -> ("done", its record)."""
    scanner = factory(replace(options, threads=threads))
    return lambda path: ("done", scanner.scan(str(path)))


class LocalPool:
    """`workers` processes fed from a queue. Use as a context manager; `imap` yields results unordered."""

    def __init__(
        self, options: ScanOptions, workers: int = 1, factory: Callable[[ScanOptions], FileScanner] = FileScanner
    ):
        self.options = options
        self._pool = WorkerPool(
            partial(_scanner, options, factory),
            workers,
            timeout_s=options.timeout_s,
            threads=options.threads,
            name="deepfake-scan",
        )
        self._results: queue.SimpleQueue[Result | BaseException] = queue.SimpleQueue()

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def imap(self, paths: Iterable[str]) -> Iterator[Result]:
        paths = list(paths)
        if not paths:
            return
        self._pool.start()
        for p in paths:
            self._pool.submit(partial(self._scan, p))
        for _ in range(len(paths)):
            item = self._results.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    def _scan(self, path: str, ask: Ask) -> None:
        try:
            record, reason = ask(path)
        except WorkerStartError as e:  # the model cannot load (or no worker started): stop the batch with it
            self._results.put(e)
            return
        except Exception as e:
            log.exception("scan worker driver failed on %s", path)
            record, reason = None, f"internal error in the scan driver: {type(e).__name__}: {e}".splitlines()[0]
        self._results.put((path, cast(Record | None, record), reason))  # `_scanner` answers with a record

    def close(self) -> None:
        self._pool.close(polite=True)
