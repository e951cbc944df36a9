"""`scan(paths, out)`: discover media, skip what the results file already holds, scan the rest in a pool of
workers (local processes or Ray actors), append one line per file, then rebuild the CSV/HTML views."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..media import DEFAULT_NUM_FRAMES
from ..report import VERDICTS
from ..workerproc import available_cores, threads_per_worker
from .discover import discover
from .local import LocalPool
from .results import ResultLog
from .views import write_csv, write_html
from .worker import FileScanner, Record, Result, ScanOptions, failed_record, file_digest

log = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker per core up to 4 (measured on 2 cores: 2 single-threaded workers beat 1 two-threaded worker by
    about 2x, since decoding and face detection are mostly serial per file); each worker holds its own model and
    up to `num_frames` decoded frames, so more workers cost memory."""
    return max(1, min(available_cores(), 4))


class Pool(Protocol):
    """A LocalPool or a RayPool: a context manager yielding one result per path, in completion order."""

    def __enter__(self) -> Pool: ...

    def __exit__(self, *exc: object) -> None: ...

    def imap(self, paths: Iterable[str]) -> Iterator[Result]: ...


@dataclass(frozen=True)
class BatchSummary:
    """What one `scan` run found, scanned and skipped, with every found file's current verdict."""

    out: str
    files: int  # media candidates found
    scanned: int  # scanned in this run
    already_done: int  # skipped: already in the results file with the same content
    verdicts: dict[str, int]  # over every found file's current record
    errors: int
    skipped_non_media: int
    skipped_unreadable: dict[str, int] = field(default_factory=dict)  # reason -> count
    elapsed_s: float = 0.0  # this run, wall clock, worker start-up included
    files_per_min: float = 0.0  # this run's scanned files
    videos_per_min: float = 0.0  # this run's decoded videos (images and failures not counted)
    backend: str = "local"
    workers: int = 1
    threads_per_worker: int = 1
    csv: str | None = None
    html: str | None = None

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scan(
    paths: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    csv: str | os.PathLike | None = None,
    html: str | os.PathLike | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    model: str | None = None,
    num_frames: int = DEFAULT_NUM_FRAMES,
    threshold: float | None = None,
    trust_list: str | os.PathLike | None = None,
    use_ray: bool = False,
    ray_address: str | None = None,
    ship_bytes: bool = False,
    timeout_s: float = 600.0,
    progress: bool = True,
    factory: Callable[[ScanOptions], FileScanner] = FileScanner,
) -> BatchSummary:
    """Scan every video and image under `paths` into the JSON Lines file `out` (resumable; see docs/SCAN.md).

    Arguments:
        workers: processes (or Ray actors), each with its own model; default `default_workers()` (cores, at most
            4). ONNX Runtime, OpenCV and OpenMP threads per worker are max(1, cores // workers) (Ray: the
            cluster's CPUs).
        retry_failed: scan files whose record is an ERROR again (their old lines are replaced).
        trust_list: PEM file of trust anchors for content credentials (see `provenance.TrustList`).
        use_ray / ray_address / ship_bytes: run on Ray (a local instance when no address); `ship_bytes` sends
            the files' content through the object store instead of having the workers open the paths.
        factory: builds a worker's scanner from the options (a seam for tests; must be picklable).

    Returns a BatchSummary; raises DeepfakeError before scanning for a missing path, an unusable results file, an
    unusable trust list or a model that does not load.
    """
    from ..models.serving import load_scorer
    from ..provenance import TrustList

    t0 = time.perf_counter()
    trust = TrustList.load(trust_list) if trust_list else None
    scorer = load_scorer(model, threads=1)  # a wrong --model fails here, once; crash records need its name
    model_name = scorer.name
    crash_threshold = scorer.card.effective_threshold(threshold)
    del scorer

    found = discover(paths)
    results = ResultLog.open(out)
    todo, redo, already, stamps = _plan(found.files, results, retry_failed)
    results.drop(redo)

    workers = min(max(1, workers or default_workers()), max(1, len(todo)))  # no idle worker loading a model for nothing
    cores = available_cores()
    options = ScanOptions(
        model=model,
        num_frames=num_frames,
        threshold=threshold,
        threads=threads_per_worker(workers),
        timeout_s=timeout_s,
        trust=trust,
    )
    scanned: Counter[str] = Counter()
    videos = 0
    backend = f"ray ({ray_address or 'local'})" if use_ray else "local"
    pool: Pool | None = None  # nothing to do: no worker starts (and no Ray instance)
    if todo and use_ray:
        from .ray_pool import RayPool

        pool = RayPool(options, workers=workers, address=ray_address, ship_bytes=ship_bytes, local_cpus=cores)
        options = pool.options
    elif todo:
        pool = LocalPool(options, workers=workers, factory=factory)

    from tqdm import tqdm

    bar = tqdm(
        total=len(todo), desc="scan", unit="file", file=sys.stderr, disable=not progress or not todo, dynamic_ncols=True
    )
    try:
        if pool is not None:
            with pool:
                for path, record, reason in pool.imap(todo):
                    if record is None:
                        record = _crash_record(path, reason or "the worker gave no record", model_name, crash_threshold)
                    if path in stamps:  # taken before the worker read the file: a later edit shows as a change
                        record["mtime_ns"] = stamps[path]
                    results.append(record)
                    scanned[record["verdict"]] += 1
                    videos += record["verdict"] != "ERROR" and record.get("duration") is not None
                    bar.update(1)
                    bar.set_postfix(FAKE=scanned["FAKE"], ERROR=scanned["ERROR"], refresh=False)
    finally:
        bar.close()

    elapsed = time.perf_counter() - t0
    current = [results.records[p] for p in found.files if p in results.records]
    verdicts = Counter(r["verdict"] for r in current)
    n = sum(scanned.values())
    summary = BatchSummary(
        out=str(out),
        files=len(found.files),
        scanned=n,
        already_done=already,
        verdicts={v: verdicts.get(v, 0) for v in VERDICTS},
        errors=verdicts.get("ERROR", 0),
        skipped_non_media=found.non_media,
        skipped_unreadable=dict(found.unreadable),
        elapsed_s=round(elapsed, 2),
        files_per_min=round(60 * n / elapsed, 2) if n else 0.0,
        videos_per_min=round(60 * videos / elapsed, 2) if videos else 0.0,
        backend=backend,
        workers=workers,
        threads_per_worker=options.threads,
        csv=str(write_csv(results, csv)) if csv else None,
        html=str(write_html(results, html)) if html else None,
    )
    return summary


def _plan(files: list[str], results: ResultLog, retry_failed: bool) -> tuple[list[str], set[str], int, dict[str, int]]:
    """Which files to scan, which old records to drop first, how many are already done, and each file's
    modification time (ns) as seen now.

    A record counts as done when its sha256 matches the file's current content; a file whose content changed is
    scanned again (its old line replaced). An ERROR record is done unless `retry_failed`. As in rsync, a file
    whose size and modification time equal its record's is taken as unchanged without being read again."""
    todo: list[str] = []
    redo: set[str] = set()
    already = 0
    stamps: dict[str, int] = {}
    for path in files:
        try:
            st = os.stat(path)
            stamps[path] = st.st_mtime_ns
        except OSError:
            st = None
        old = results.records.get(path)
        if old is None:
            todo.append(path)
            continue
        sha256: str | None
        if (
            st is not None
            and old.get("sha256")
            and old.get("size") == st.st_size
            and old.get("mtime_ns") == st.st_mtime_ns
        ):
            sha256 = old["sha256"]  # quick check: same size and time stamp
        else:
            try:
                sha256, _ = file_digest(path)
            except OSError:
                sha256 = None
        changed = old.get("sha256") is not None and sha256 != old.get("sha256")
        failed = old.get("verdict") == "ERROR"
        if changed or (failed and retry_failed) or (not failed and old.get("sha256") is None):
            todo.append(path)
            redo.add(path)
        else:
            already += 1
    return todo, redo, already, stamps


def _crash_record(path: str, reason: str, model: str, threshold: float) -> Record:
    try:
        sha256, size = file_digest(path)
    except OSError:
        return failed_record(path, reason, model, threshold)
    return failed_record(path, reason, model, threshold, sha256, size)
