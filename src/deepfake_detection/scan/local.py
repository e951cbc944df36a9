"""Local pool: N worker processes (spawn), each loading the model once, each driven by one thread of the driver.

Decoding happens in the workers, never in the driver: a worker that dies (a segfault in a decoder, the OOM killer)
or runs past the per-file time limit costs only the file it held, which comes back as a crash reason; the worker
is replaced on the next file. Results arrive in completion order.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
from typing import Callable, Iterable, Iterator

from ..errors import DeepfakeError
from .worker import FileScanner, ScanOptions

log = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0  # importing the stack and loading the model in a fresh process on a busy machine
Result = tuple[str, "dict | None", "str | None"]  # path, record, or the reason the worker gave no record


def _serve(conn, options: ScanOptions, factory: Callable[[ScanOptions], FileScanner]) -> None:
    """Worker process: build the scanner, then answer one path per message with its record; exit on None or when
    the driver is gone."""
    try:
        scanner = factory(options)
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}".splitlines()[0]))
        return
    conn.send(("ready", None))
    while True:
        try:
            path = conn.recv()
            if path is None:
                return
            conn.send(("done", scanner.scan(path)))
        except (EOFError, OSError, BrokenPipeError):
            return


class _Worker:
    def __init__(self, ctx, options: ScanOptions, factory, name: str):
        self.ctx, self.options, self.factory, self.name = ctx, options, factory, name
        self.proc = self.conn = None

    def start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_serve, args=(child, self.options, self.factory), daemon=True,
                                     name=self.name)
        self.proc.start()
        child.close()
        if not self.conn.poll(START_TIMEOUT_S):
            self.kill()
            raise DeepfakeError(f"a scan worker did not start within {START_TIMEOUT_S:.0f} s")
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            kind, payload = "error", f"it exited with code {self.proc.exitcode}"
        if kind != "ready":
            self.kill()
            raise DeepfakeError(f"a scan worker could not load the model: {payload}")

    def run(self, path: str) -> tuple[dict | None, str | None]:
        if self.proc is None or not self.proc.is_alive():
            self.start()
        try:
            self.conn.send(path)
            if not self.conn.poll(self.options.timeout_s):
                self.kill()
                return None, f"worker stopped: over the {self.options.timeout_s:g} s limit per file"
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            code = self.proc.exitcode if self.proc is not None else None
            self.kill()
            return None, f"worker crashed while reading this file (exit code {code})"
        return payload, None

    def kill(self) -> None:
        proc, conn, self.proc, self.conn = self.proc, self.conn, None, None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        """Ask politely (the worker exits between files), then make sure."""
        if self.conn is not None:
            try:
                self.conn.send(None)
            except OSError:
                pass
        if self.proc is not None:
            self.proc.join(2)
        self.kill()


class LocalPool:
    """`workers` processes fed from a queue. Use as a context manager; `imap` yields results unordered."""

    def __init__(self, options: ScanOptions, workers: int = 1,
                 factory: Callable[[ScanOptions], FileScanner] = FileScanner):
        ctx = mp.get_context("spawn")  # never fork a driver that holds threads and a tqdm bar
        self._workers = [_Worker(ctx, options, factory, f"deepfake-scan-{i}") for i in range(workers)]
        self._threads: list[threading.Thread] = []
        self._jobs: queue.Queue[str | None] = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._stopping = False

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
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

    def _loop(self, worker: _Worker) -> None:
        while not self._stopping:
            try:
                path = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                record, reason = worker.run(path)
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
            w.stop()
        for t in self._threads:
            t.join(timeout=5)
