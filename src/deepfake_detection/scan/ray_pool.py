"""Ray pool: the same scan on a Ray cluster. One actor per worker holds the model (`num_cpus` = its ONNX threads);
the driver feeds them paths (or, with `ship_bytes`, the files' bytes through the object store) and collects the
records, which the caller writes through the same resumable log as a local scan.

Ray is optional (`pip install "deepfake-detection[ray]"`) and imported only here, only when asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import DeepfakeError
from ..workerproc import crash_reason, timeout_reason
from .worker import FileScanner, Record, Result, ScanOptions

log = logging.getLogger(__name__)


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise DeepfakeError('--ray needs Ray: pip install "deepfake-detection[ray]" (or "ray==2.60.0")') from e
    return ray


class _ScanActor:
    """Wrapped by `ray.remote` at run time, so importing this module never needs Ray."""

    def __init__(self, options: ScanOptions):
        self.scanner = FileScanner(options)

    def ready(self) -> bool:
        return True

    def scan(self, path: str) -> Record:
        return self.scanner.scan(path)

    def scan_bytes(self, path: str, data: bytes) -> Record:
        return self.scanner.scan_bytes(path, data)


class RayPool:
    """`workers` actors. `address` None starts a local Ray instance for this scan (stopped on close); otherwise it
    connects to a running cluster ("auto", "HOST:PORT" or "ray://HOST:PORT")."""

    def __init__(
        self,
        options: ScanOptions,
        workers: int = 1,
        address: str | None = None,
        ship_bytes: bool = False,
        local_cpus: int | None = None,
    ):
        self.ray = ray = import_ray()
        self.options, self.workers, self.ship_bytes = options, workers, ship_bytes
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            try:
                if address:
                    ray.init(address=address, **kw)
                else:
                    ray.init(num_cpus=local_cpus, **kw)
            except Exception as e:  # ConnectionError, RuntimeError...: one line, not a Ray traceback
                raise DeepfakeError(f"cannot start or reach Ray ({address or 'local'}): {e}".splitlines()[0]) from e
        cpus = int(ray.cluster_resources().get("CPU", 1))  # local: `local_cpus`; a cluster: all its nodes
        self.options = replace(options, threads=max(1, cpus // workers))
        self._actor_cls = ray.remote(_ScanActor)
        self._actors: list[Any] = []  # Ray actor handles

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _new_actor(self):
        return self._actor_cls.options(num_cpus=self.options.threads).remote(self.options)

    def start(self) -> None:
        ray = self.ray
        self._actors = [self._new_actor() for _ in range(self.workers)]
        try:
            ray.get([a.ready.remote() for a in self._actors])
        except ray.exceptions.RayError as e:
            raise DeepfakeError(f"a Ray scan actor could not load the model: {_one_line(e)}") from e

    def _submit(self, actor, path: str):
        if self.ship_bytes:
            try:
                data = Path(path).read_bytes()
            except OSError as e:
                return None, f"cannot read {Path(path).name}: {e.strerror}"
            return actor.scan_bytes.remote(path, self.ray.put(data)), None
        return actor.scan.remote(path), None

    def imap(self, paths: Iterable[str]) -> Iterator[Result]:
        ray = self.ray
        todo = list(reversed(list(paths)))
        if not todo:
            return
        if not self._actors:
            self.start()
        idle = list(self._actors)
        running: dict = {}  # ObjectRef -> (path, actor, start time)
        limit = self.options.timeout_s
        while todo or running:
            while todo and idle:  # one file per actor at a time: a dead actor costs only its own file
                actor, path = idle.pop(), todo.pop()
                ref, reason = self._submit(actor, path)
                if ref is None:
                    idle.append(actor)
                    yield path, None, reason
                    continue
                running[ref] = (path, actor, time.monotonic())
            if not running:
                continue
            oldest = min(running, key=lambda r: running[r][2])
            wait_s = max(0.0, running[oldest][2] + limit - time.monotonic())
            done, _ = ray.wait(list(running), num_returns=1, timeout=wait_s)
            if not done:  # the oldest file ran past the limit: its actor is killed and replaced
                path, actor, _ = running.pop(oldest)
                self._replace(actor)
                idle.append(self._actors[-1])
                yield path, None, timeout_reason(limit)
                continue
            path, actor, _ = running.pop(done[0])
            try:
                record, reason = ray.get(done[0]), None
                idle.append(actor)
            except ray.exceptions.RayActorError as e:
                log.warning("Ray scan actor died on %s: %s", path, _one_line(e))
                self._replace(actor)
                idle.append(self._actors[-1])
                record, reason = None, crash_reason("Ray actor died")
            except ray.exceptions.RayError as e:
                idle.append(actor)
                record, reason = None, f"Ray task failed: {_one_line(e)}"
            yield path, record, reason

    def _replace(self, actor) -> None:
        """Kill `actor` (dead already, or stuck past the time limit) and append a fresh one to the pool."""
        try:
            self.ray.kill(actor)
        except Exception:
            pass
        self._actors.remove(actor)
        self._actors.append(self._new_actor())

    def close(self) -> None:
        for a in self._actors:
            try:
                self.ray.kill(a)
            except Exception:
                pass
        self._actors = []
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__
