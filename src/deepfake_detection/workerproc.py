"""One long-lived worker process answering requests over a pipe, shared by `serve` and `scan`.

Untrusted media is decoded in such a process, never in the caller's: a decoder crash, the OOM killer or a hang
past the time limit costs the one request in flight, and the process is started afresh for the next one. The
process builds its handler once (loading the model) and reports ready, or why not, before the first request.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from .errors import DeepfakeError

START_TIMEOUT_S = 180.0  # importing the stack and loading the model in a fresh process on a busy machine

Handler = Callable[[object], tuple[str, object]]  # request -> (kind, payload), built once in the process


class WorkerStartError(DeepfakeError):
    """The worker process could not start or build its handler (e.g. the model does not load)."""


class WorkerTimeout(DeepfakeError):
    """A request ran past its time limit; the process was killed."""


class WorkerDied(DeepfakeError):
    """The process ended while answering a request; `status` says how (exit code or signal)."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


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
            raise WorkerStartError(f"the worker could not load the model: {payload}")

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
