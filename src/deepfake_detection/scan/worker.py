"""One file in, one JSON-ready record out: the detector held by a scan worker (a local process or a Ray actor).

The record is `Report.to_dict()` (the `detect --json` schema) plus `sha256`, `size` (bytes), `duration` (media
seconds, None for images and failures), `elapsed_s` and `thumbnail`: a base64 JPEG of the crop the model saw on
the most suspicious frame of the deciding face (None without a face). The thumbnail costs one JPEG encode; the
occlusion explanation (`detect --explain`, ~0.4 s per face) is not run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..media import DEFAULT_NUM_FRAMES
from ..provenance import TrustList
from ..report import Report
from ..workerproc import share_cores

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

Record = dict[str, Any]  # one file's JSON Lines record
Result = tuple[str, Record | None, str | None]  # what a pool yields: path, record, or why the worker gave none


@dataclass(frozen=True)
class ScanOptions:
    """What every worker needs to build its detector (picklable: it crosses process and node boundaries)."""

    model: str | None = None
    num_frames: int = DEFAULT_NUM_FRAMES
    threshold: float | None = None
    threads: int = 1  # ONNX Runtime (and OpenCV) threads in this worker
    timeout_s: float = 600.0  # per file (local pool and Ray): the worker is killed and replaced
    trust: TrustList | None = None  # content-credential anchors, loaded once by the driver (shipped as text)


def file_digest(path: str | os.PathLike) -> tuple[str, int]:
    """SHA-256 hex digest and size in bytes, read in 1 MiB chunks."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def failed_record(
    path: str,
    error: str,
    model: str,
    threshold: float,
    sha256: str | None = None,
    size: int | None = None,
    elapsed_s: float = 0.0,
) -> Record:
    rec = Report.failed(path, error, model=model, threshold=threshold).to_dict()
    rec.update(sha256=sha256, size=size, duration=None, elapsed_s=round(elapsed_s, 3), thumbnail=None)
    return rec


class FileScanner:
    """Loads the model once; `scan(path)` never raises (a bug costs one file, never the batch)."""

    def __init__(self, options: ScanOptions):
        share_cores(options.threads)  # before the pipeline (and OpenMP) loads; faces.py makes idle threads sleep
        from ..media import MediaLimits
        from ..models.serving import load_scorer
        from ..pipeline import Detector, detect_with_crop_or_error

        self._detect_or_error = detect_with_crop_or_error
        self.options = options
        self.scorer = load_scorer(options.model, threads=options.threads)
        self.detector = Detector(
            self.scorer,
            num_frames=options.num_frames,
            threshold=options.threshold,
            trust=options.trust,
            limits=MediaLimits(decoder_threads=options.threads),  # the worker's share of the cores, not all of them
        )
        self.threshold = self.detector.effective_threshold

    def scan(self, path: str) -> Record:
        t0 = time.perf_counter()
        try:
            sha256, size = file_digest(path)
        except OSError as e:
            return failed_record(
                path,
                f"cannot read {Path(path).name}: {e.strerror}",
                self.scorer.name,
                self.threshold,
                elapsed_s=time.perf_counter() - t0,
            )
        return self._detect(path, path, sha256, size, t0)

    def scan_bytes(self, path: str, data: bytes) -> Record:
        """Scan content shipped by the driver (`--ship-bytes`): written to a private temp file under the same
        name, reported under `path`."""
        t0 = time.perf_counter()
        sha256, size = hashlib.sha256(data).hexdigest(), len(data)
        folder = tempfile.mkdtemp(prefix="deepfake-scan-")
        try:
            local = Path(folder) / (Path(path).name or "input")
            local.write_bytes(data)
            return self._detect(str(local), path, sha256, size, t0)
        except OSError as e:
            return failed_record(
                path,
                f"cannot stage {Path(path).name} on this worker: {e.strerror}",
                self.scorer.name,
                self.threshold,
                sha256,
                size,
                time.perf_counter() - t0,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _detect(self, local: str, path: str, sha256: str, size: int, t0: float) -> Record:
        # A staged copy (--ship-bytes) is reported under its original path.
        report, crop = self._detect_or_error(self.detector, local, report_as=path if local != path else None)
        rec = report.to_dict()
        rec.update(
            sha256=sha256,
            size=size,
            duration=None if report.verdict == "ERROR" or report.media.is_image else rec["media"]["duration"],
            elapsed_s=round(time.perf_counter() - t0, 3),
            thumbnail=_thumbnail(crop),
        )
        return rec


def _thumbnail(crop: np.ndarray | None) -> str | None:
    """The deciding face's crop on its most suspicious frame (what the model saw), as base64 JPEG."""
    from ..explain import b64_jpeg

    return None if crop is None else b64_jpeg(crop)
