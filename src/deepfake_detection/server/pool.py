"""Scans run off the request path in a bounded pool. Each slot is a thread driving its own worker process: decoding
untrusted media happens out of the server's process (a decoder crash costs one scan, not the service), the model
loads once per process, and a scan past its time limit is stopped by killing the process."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from functools import partial
from pathlib import Path

from ..workerproc import Handler, WorkerDied, WorkerProcess, WorkerStartError, WorkerTimeout, share_cores
from .settings import Settings
from .store import ScanStore

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # importing the stack and loading the model in a fresh process


def _detector(model: str, num_frames: int, threads: int) -> Handler:
    """Built once in each worker process: path -> ("done", report JSON) or ("failed", reason)."""
    # With 2 workers on 2 cores and no thread limit, 50 clients got fewer scans done than with 1 worker (83 vs 96
    # in 60 s, benchmarks/load.py); with the limit they did 118.
    share_cores(threads)
    from ..errors import DeepfakeError
    from ..models.serving import load_scorer
    from ..pipeline import Detector

    detector = Detector(load_scorer(model or None, threads=threads), num_frames=num_frames, explain=True)

    def handle(path: object) -> tuple[str, object]:
        try:
            return "done", detector.detect(str(path)).to_json()
        except DeepfakeError as e:
            return "failed", str(e)
        except Exception as e:  # a bug or decoder surprise fails this scan with its reason, never the worker
            return "failed", f"internal error: {type(e).__name__}: {e}".splitlines()[0]

    return handle


def run_scan(proc: WorkerProcess, upload: Path, timeout_s: float) -> tuple[bool, str]:
    """(True, report JSON) or (False, the reason the scan failed)."""
    try:
        kind, payload = proc.request(str(upload), timeout_s)
    except WorkerTimeout:
        return False, f"stopped: the scan ran past its time limit of {timeout_s:g} s"
    except WorkerDied as e:
        return False, f"the scanner process died while reading this file ({e.status})"
    except WorkerStartError as e:
        return False, str(e)
    return kind == "done", str(payload)  # the report's JSON or the reason (see `_detector`)


def public_reason(reason: str, upload: Path, filename: str) -> str:
    """A scan's failure reason as clients see it: the client's file name in place of the server's upload path."""
    return reason.replace(str(upload), filename).replace(upload.name, filename)


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
        build = partial(_detector, settings.model, settings.num_frames, threads)
        self._procs = [
            WorkerProcess(build, name="deepfake-scan", start_timeout_s=START_TIMEOUT_S) for _ in range(settings.workers)
        ]

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
            ok, payload = run_scan(proc, upload, self.settings.scan_timeout_s)
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
