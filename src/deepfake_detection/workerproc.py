"""Long-lived worker processes answering requests over a pipe, and the pool of them shared by `serve` and `scan`.

Untrusted media is decoded in such a process, never in the caller's: a decoder crash, the OOM killer or a hang
past the time limit costs the one request in flight, and the process is started afresh for the next one. The
process builds its handler once (loading the model) and reports ready, or why not, before the first request.
`WorkerPool` runs N of them, each driven by one thread, fed from one job queue.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from .errors import DeepfakeError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0  # importing the stack and loading the model in a fresh process on a busy machine

Handler = Callable[[object], tuple[str, object]]  # request -> (kind, payload), built once in the process


class WorkerStartError(DeepfakeError):
    """The worker process could not start or build its handler (e.g. the model does not load)."""


class WorkerBuildError(WorkerStartError):
    """The process started but could not build its handler (the model does not load): a fresh process would fail
    the same way, so a pool does not try again."""


class WorkerTimeout(DeepfakeError):
    """A request ran past its time limit; the process was killed."""


class WorkerDied(DeepfakeError):
    """The process ended while answering a request; `status` says how (exit code or signal)."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity (taskset, a container's cpuset), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """Each of `workers` worker processes' share of `available_cores()`: at least 1."""
    return max(1, available_cores() // max(1, workers))


def share_cores(threads: int) -> None:
    """Give this worker process `threads` threads for OpenMP (face detection) and OpenCV, so N workers do not
    fight over the cores (2 workers on 2 cores without it: 4x slower per file in `scan`; fewer scans done under
    load in `serve`). OpenMP reads its variable when it loads: call before importing the pipeline. An explicit
    OMP_NUM_THREADS in the environment wins."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import cv2

    cv2.setNumThreads(threads)


def exit_status(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _answer(conn: Connection, build: Callable[[], Handler]) -> None:
    """Process side: build the handler, report ready (or the one-line reason it failed), then answer one request
    per message until None arrives or the caller is gone."""
    # Ctrl-C in a terminal reaches the whole process group: the caller decides what stops (and kills us), so a
    # worker never dies in the middle of a request with a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        handle = build()
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}".splitlines()[0]))
        return
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
            if request is None:
                return
            conn.send(handle(request))
        except (EOFError, OSError):
            return


class WorkerProcess:
    """Caller side of one worker process: started on the first request, restarted after a crash or a timeout.
    `close()` (from any thread) kills it and keeps it from restarting."""

    def __init__(
        self, build: Callable[[], Handler], name: str = "deepfake-worker", start_timeout_s: float = START_TIMEOUT_S
    ):
        self.build, self.name, self.start_timeout_s = build, name, start_timeout_s
        self.proc: BaseProcess | None = None
        self.conn: Connection | None = None
        self._lock = threading.Lock()  # start / kill may race between a feeding thread and shutdown
        self._closed = False

    def _start(self) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that holds threads
        with self._lock:
            if self._closed:
                raise WorkerStartError("shutting down")
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=_answer, args=(child, self.build), daemon=True, name=self.name)
            self.proc, self.conn = proc, conn
            proc.start()
            child.close()
        if not conn.poll(self.start_timeout_s):
            self.kill()
            raise WorkerStartError(f"the worker did not start within {self.start_timeout_s:.0f} s")
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            kind, payload = "error", f"it ended ({exit_status(self.proc.exitcode if self.proc else None)})"
        if kind != "ready":
            self.kill()
            raise WorkerBuildError(f"the worker could not load the model: {payload}")

    def request(self, message: object, timeout_s: float) -> tuple[str, object]:
        """The handler's (kind, payload) for `message`. Raises WorkerStartError, WorkerTimeout or WorkerDied."""
        if self.proc is None or not self.proc.is_alive():
            self._start()
        try:
            conn = self.conn
            if conn is None:  # dropped by a concurrent kill()
                raise OSError("the worker's pipe is closed")
            conn.send(message)
            if not conn.poll(timeout_s):
                self.kill()
                raise WorkerTimeout(f"over the {timeout_s:g} s limit")
            return conn.recv()
        except (EOFError, OSError):
            proc = self.proc
            if proc is not None:
                proc.join(2)  # reap it, so its exit code (or the signal that killed it) is known
            code = proc.exitcode if proc is not None else None
            self.kill()
            raise WorkerDied(exit_status(code)) from None

    def kill(self) -> None:
        with self._lock:
            proc, conn = self.proc, self.conn
            self.proc = self.conn = None
        if proc is not None and proc.pid is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
        if conn is not None:
            conn.close()

    def close(self, polite: bool = False) -> None:
        """Stop for good; `polite` first lets the process finish its request and exit on its own (2 s)."""
        with self._lock:
            self._closed = True
            proc, conn = self.proc, self.conn
        if polite and conn is not None:
            try:
                conn.send(None)
            except OSError:
                pass
            if proc is not None:
                proc.join(2)
        self.kill()


def timeout_reason(timeout_s: float) -> str:
    """Why a file has no answer when its worker ran past the time limit: one wording for `serve` and `scan`."""
    return f"worker stopped: over the {timeout_s:g} s limit per file"


def crash_reason(status: str) -> str:
    """Why a file has no answer when its worker died on it (`status`: how it ended, e.g. "killed by SIGSEGV")."""
    return f"worker crashed while reading this file ({status})"


Answer = tuple[object | None, str | None]  # the handler's payload, or None and why the worker gave none
Ask = Callable[[object], Answer]  # one request to the driving thread's worker process
Job = Callable[[Ask], None]  # run on a driving thread


def _with_cores(build: Callable[[int], Handler], threads: int) -> Handler:
    """Process side: take this worker's share of the cores before the handler (and OpenMP) loads."""
    share_cores(threads)
    return build(threads)


class WorkerPool:
    """`workers` worker processes, each driven by one thread, fed from one job queue. Used by `serve` and `scan`.

    `build(threads)` makes the handler in each process, after `share_cores(threads)`; `threads` defaults to
    `threads_per_worker(workers)`. A job is a callable run on a driving thread; it gets `ask(message)`, which sends
    one request to that thread's process and returns (payload, None), or (None, reason) when the process ran past
    `timeout_s` or died (`timeout_reason`, `crash_reason`) or `close()` killed it; the process is replaced for the
    next request. Processes start with their first request. A process that cannot build its handler raises
    WorkerBuildError from `ask`, once: the pool remembers it and every later `ask` raises the same at once, without
    starting another process. Other start failures (WorkerStartError: no answer within `start_timeout_s`) are
    tried again by the next request.

    Example:
        pool = WorkerPool(build, workers=2, timeout_s=600)
        pool.start()
        pool.submit(lambda ask: print(ask("clip.mp4")))
        pool.close()
    """

    def __init__(
        self,
        build: Callable[[int], Handler],
        workers: int = 1,
        *,
        timeout_s: float,
        threads: int | None = None,
        name: str = "deepfake-worker",
        start_timeout_s: float = START_TIMEOUT_S,
    ):
        self.timeout_s = timeout_s
        self.threads = threads or threads_per_worker(workers)
        entry = partial(_with_cores, build, self.threads)
        self.procs = [WorkerProcess(entry, name=f"{name}-{i}", start_timeout_s=start_timeout_s) for i in range(workers)]
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._build_error: str | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def start(self) -> None:
        """Start the driving threads (once); jobs submitted before wait in the queue."""
        if self._threads or self._closed:
            return
        for proc in self.procs:
            t = threading.Thread(target=self._drive, args=(proc,), name=f"{proc.name}-driver", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def _ask(self, proc: WorkerProcess, message: object) -> Answer:
        if self._build_error is not None:
            raise WorkerBuildError(self._build_error)
        try:
            return proc.request(message, self.timeout_s)[1], None
        except WorkerTimeout:
            return None, timeout_reason(self.timeout_s)
        except WorkerDied as e:
            return None, "worker stopped: shutting down" if self._closed else crash_reason(e.status)
        except WorkerBuildError as e:
            self._build_error = str(e)
            raise

    def _drive(self, proc: WorkerProcess) -> None:
        ask = partial(self._ask, proc)
        while not self._closed and (job := self._jobs.get()) is not None:
            try:
                job(ask)
            except Exception:  # a job's own bug: keep driving, the next job gets this worker
                log.exception("a job on %s failed", proc.name)

    def close(self, polite: bool = False) -> None:
        """Stop for good: no job starts after this and running requests are killed (`polite`: each process first
        gets 2 s to finish its request and exit). Waits up to 10 s for each driving thread."""
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        for proc in self.procs:
            proc.close(polite=polite)
        for t in self._threads:
            t.join(timeout=10)
