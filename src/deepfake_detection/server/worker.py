"""Scans run off the request path in a bounded pool. Each slot is a thread driving its own worker process: decoding
untrusted media happens out of the server's process (a decoder crash costs one scan, not the service), the model
loads once per process, and a scan past its time limit is stopped by killing the process."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
from pathlib import Path

from .settings import Settings
from .store import ScanStore

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # importing the stack and loading the model in a fresh process


def _serve(conn, model: str, num_frames: int, threads: int = 2) -> None:
    """Worker process: load the detector once, then answer one path per message with ("done", report JSON) or
    ("failed", reason). Exits when the server closes the pipe (also after the server was killed)."""
    try:
        # The cores are shared between the workers: OpenMP (face detection), OpenCV and ONNX Runtime each get
        # `threads`, set before the libraries load. With 2 workers on 2 cores and no limit, 50 clients got fewer
        # scans done than with 1 worker (83 vs 96 in 60 s, benchmarks/load.py); with the limit they did 118.
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import cv2

        from ..errors import DeepfakeError
        from ..models.serving import load_scorer
        from ..pipeline import Detector

        cv2.setNumThreads(threads)
        detector = Detector(load_scorer(model or None, threads=threads), num_frames=num_frames, explain=True)
    except Exception as e:  # reported to the server, which fails the scan with this reason
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", ""))
    while True:
        try:
            path = conn.recv()
        except (EOFError, OSError):
            return
        if path is None:
            return
        try:
            conn.send(("done", detector.detect(path).to_json()))
        except DeepfakeError as e:
            conn.send(("failed", str(e)))
        except Exception as e:  # a bug or decoder surprise fails this scan with its reason, never the worker
            conn.send(("failed", f"internal error: {type(e).__name__}: {e}".splitlines()[0]))


def public_reason(reason: str, upload: Path, filename: str) -> str:
    """A scan's failure reason as clients see it: the client's file name in place of the server's upload path."""
    return reason.replace(str(upload), filename).replace(upload.name, filename)


def _exit_status(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerProcess:
    """One long-lived detector process, restarted after a crash or a timeout. `close()` (from another thread)
    kills it and keeps it from restarting."""

    def __init__(self, model: str, num_frames: int, threads: int = 2):
        self.model, self.num_frames, self.threads = model, num_frames, threads
        self.proc = None
        self.conn = None
        self._lock = threading.Lock()  # start / kill may race between the slot thread and shutdown
        self._closed = False

    def _start(self) -> None:
        ctx = mp.get_context("spawn")  # never fork a threaded server
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_serve, args=(child, self.model, self.num_frames, self.threads), daemon=True,
                                    name="deepfake-scan")
            self.proc.start()
            child.close()
            conn = self.conn
        if not conn.poll(START_TIMEOUT_S):
            self.kill()
            raise RuntimeError(f"the scanner did not start within {START_TIMEOUT_S:.0f} s")
        kind, payload = conn.recv()
        if kind != "ready":
            self.kill()
            raise RuntimeError(f"the scanner could not load its model: {payload}")

    def run(self, path: Path, timeout_s: float) -> tuple[bool, str]:
        """(True, report JSON) or (False, the reason it failed)."""
        try:
            if self.proc is None or not self.proc.is_alive():
                self._start()
            conn = self.conn
            conn.send(str(path))
            if not conn.poll(timeout_s):
                self.kill()
                return False, f"stopped: the scan ran past its time limit of {timeout_s:g} s"
            kind, payload = conn.recv()
        except (EOFError, OSError, AttributeError):  # AttributeError: conn already dropped by kill()
            proc = self.proc
            if proc is not None:
                proc.join(2)  # reap it, so its exit code (or the signal that killed it) is known
            code = proc.exitcode if proc is not None else None
            self.kill()
            return False, f"the scanner process died while reading this file ({_exit_status(code)})"
        except RuntimeError as e:
            return False, str(e)
        return kind == "done", payload

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

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.kill()


class ScanWorkers:
    """A bounded queue in front of `settings.workers` worker processes."""

    def __init__(self, store: ScanStore, settings: Settings, uploads: Path):
        self.store, self.settings, self.uploads = store, settings, uploads
        self.capacity = settings.workers + settings.queue_size  # running + waiting
        self._jobs: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0
        self._threads: list[threading.Thread] = []
        self._stopping = False
        threads = max(1, (os.cpu_count() or 2) // settings.workers)
        self._procs = [WorkerProcess(settings.model, settings.num_frames, threads) for _ in range(settings.workers)]

    @property
    def pending(self) -> int:
        return self._pending

    def start(self) -> None:
        for i, proc in enumerate(self._procs):
            t = threading.Thread(target=self._loop, args=(proc,), name=f"scan-slot-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, scan_id: str, force: bool = False) -> bool:
        """Queue a scan; False when the queue is full (`force`: recovered scans always get in)."""
        with self._lock:
            if not force and self._pending >= self.capacity:
                return False
            self._pending += 1
        self._jobs.put(scan_id)
        return True

    def stop(self) -> None:
        """Shut down without waiting for running scans: they stay 'running' with their uploads on disk, and the
        next start re-queues them."""
        self._stopping = True
        for _ in self._threads:
            self._jobs.put(None)
        for proc in self._procs:
            proc.close()
        for t in self._threads:
            t.join(timeout=10)

    def _loop(self, proc: WorkerProcess) -> None:
        while (scan_id := self._jobs.get()) is not None:
            try:
                self._scan(proc, scan_id)
            except Exception:  # the store or the disk failed: keep serving, the record shows the failure
                log.exception("scan %s failed unexpectedly", scan_id)
                try:
                    self.store.finish(scan_id, error="internal error while scanning; see the server log")
                except Exception:
                    log.exception("cannot record the failure of scan %s", scan_id)
            finally:
                with self._lock:
                    self._pending -= 1

    def _scan(self, proc: WorkerProcess, scan_id: str) -> None:
        record = self.store.get(scan_id)
        upload = self.uploads / scan_id
        if record is None:
            return
        if not upload.is_file():
            self.store.finish(scan_id, error="the uploaded file is gone; upload it again")
            return
        self.store.mark_running(scan_id)
        finished = False
        try:
            ok, payload = proc.run(upload, self.settings.scan_timeout_s)
            if self._stopping and not ok:  # killed by stop(): the next start re-queues it
                return
            if ok:
                report = json.loads(payload)
                report["path"] = record.filename  # never expose server paths
                self.store.finish(scan_id, report=report)
            else:
                self.store.finish(scan_id, error=public_reason(payload, upload, record.filename))
            finished = True
        finally:
            if finished and not record.keep:
                upload.unlink(missing_ok=True)
