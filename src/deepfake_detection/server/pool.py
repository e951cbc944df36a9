"""Scans run off the request path in a bounded pool (`workerproc.WorkerPool`): each slot is a thread driving its own
worker process, so decoding untrusted media happens out of the server's process (a decoder crash costs one scan,
not the service), the model loads once per process, and a scan past its time limit is stopped by killing the
process."""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path
from typing import Any, cast

from ..provenance import TrustList
from ..workerproc import Ask, Handler, WorkerPool, WorkerStartError
from .settings import Settings
from .store import ScanStore

log = logging.getLogger(__name__)


def _detector(model: str, num_frames: int, trust: TrustList | None, threads: int) -> Handler:
    """Built once in each worker process (after `share_cores(threads)`): path -> ("done", report dict). A failure is
    an ERROR report (`pipeline.detect_or_error`, the rule `detect` and `scan` follow too), never a dead worker."""
    from ..media import MediaLimits
    from ..models.serving import load_scorer
    from ..pipeline import Detector, detect_or_error

    scorer = load_scorer(model or None, threads=threads)
    limits = MediaLimits(decoder_threads=threads)  # the worker's share of the cores, not all of them
    detector = Detector(scorer, num_frames=num_frames, explain=True, trust=trust, limits=limits)
    return lambda path: ("done", detect_or_error(detector, str(path)).to_dict())


def public_reason(reason: str, upload: Path, filename: str) -> str:
    """A scan's failure reason as clients see it: the client's file name in place of the server's upload path."""
    return reason.replace(str(upload), filename).replace(upload.name, filename)


class ScanWorkers:
    """A bounded queue in front of `settings.workers` worker processes; each scan's record follows it in the store."""

    def __init__(self, store: ScanStore, settings: Settings, uploads: Path):
        self.store, self.settings, self.uploads = store, settings, uploads
        self.capacity = settings.workers + settings.queue_size  # running + waiting
        self._lock = threading.Lock()
        self._pending = 0
        # Each worker gets its share of the cores (`threads_per_worker`): with 2 workers on 2 cores and no thread
        # limit, 50 clients got fewer scans done than with 1 worker (83 vs 96 in 60 s, benchmarks/load.py); with the
        # limit they did 118.
        trust = TrustList.load(settings.trust_list) if settings.trust_list else None  # a bad file fails the start
        self.pool = WorkerPool(
            partial(_detector, settings.model, settings.num_frames, trust),
            settings.workers,
            timeout_s=settings.scan_timeout_s,
            name="deepfake-scan",
        )

    @property
    def pending(self) -> int:
        return self._pending

    def start(self) -> None:
        self.pool.start()

    def submit(self, scan_id: str, force: bool = False) -> bool:
        """Queue a scan; False when the queue is full (`force`: recovered scans always get in)."""
        with self._lock:
            if not force and self._pending >= self.capacity:
                return False
            self._pending += 1
        self.pool.submit(partial(self._run, scan_id))
        return True

    def stop(self) -> None:
        """Shut down without waiting for running scans: they stay 'running' (queued ones 'queued') with their uploads
        on disk, and the next start re-queues them."""
        self.pool.close()

    def _run(self, scan_id: str, ask: Ask) -> None:
        try:
            self._scan(scan_id, ask)
        except Exception:  # the store or the disk failed: keep serving, the record shows the failure
            log.exception("scan %s failed unexpectedly", scan_id)
            try:
                self.store.finish(scan_id, error="internal error while scanning; see the server log")
            except Exception:
                log.exception("cannot record the failure of scan %s", scan_id)
        finally:
            with self._lock:
                self._pending -= 1

    def _scan(self, scan_id: str, ask: Ask) -> None:
        record = self.store.get(scan_id)
        upload = self.uploads / scan_id
        if record is None:
            return
        if not upload.is_file():
            self.store.finish(scan_id, error="the uploaded file is gone; upload it again")
            return
        self.store.mark_running(scan_id)
        try:
            payload, reason = ask(str(upload))
        except WorkerStartError as e:  # the model does not load, or the process did not start in time
            payload, reason = None, str(e)
        if payload is None and self.pool.closed:  # killed by stop(): the next start re-queues it
            return
        report = cast(dict[str, Any] | None, payload)  # `_detector` answers with a report
        if report is not None and report["verdict"] != "ERROR":
            report["path"] = record.filename  # never expose server paths
            self.store.finish(scan_id, report=report)
        else:
            error = report["error"] if report is not None else reason
            self.store.finish(
                scan_id, error=public_reason(error or "the worker gave no answer", upload, record.filename)
            )
        if not record.keep:
            upload.unlink(missing_ok=True)
