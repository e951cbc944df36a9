"""The scan's JSON Lines file: append-only, one fsync'd line per file, repaired and reloaded on start.

A line is written with a single `write` of its bytes followed by `fsync`, so a crash or `kill -9` can leave at
most one torn line at the end, which `open_results` cuts away. Dropping lines (files to scan again) rewrites the
whole file into a temporary file next to it and swaps it in with `os.replace`, so the file on disk is always
either the old one or the new one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import DeepfakeError

log = logging.getLogger(__name__)


class ResultLog:
    """Records by path (the last line wins), plus appending and atomic removal."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records: dict[str, dict] = {}

    @classmethod
    def open(cls, path: str | os.PathLike) -> ResultLog:
        log_ = cls(path)
        try:
            log_.path.parent.mkdir(parents=True, exist_ok=True)
            if log_.path.exists():
                log_._load()
            else:
                log_.path.touch()
        except OSError as e:
            raise DeepfakeError(f"cannot use {log_.path} as the results file: {e.strerror}") from e
        return log_

    def _load(self) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # torn last line: the writer was killed mid-line
            log.warning("%s: cutting a torn last line (%d bytes)", self.path, len(data) - end)
            with open(self.path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        bad = 0
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
                path = rec["path"]
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            self.records[path] = rec
        if bad:  # not written by us, or a disk gone wrong: keep only the valid lines
            log.warning("%s: dropping %d line(s) that are not scan records", self.path, bad)
            self._rewrite()

    def append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:  # a single write in practice; a short write is finished, never interleaved
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records[record["path"]] = record

    def drop(self, paths: set[str]) -> None:
        """Remove the records of `paths` (to scan them again), atomically."""
        if not paths & self.records.keys():
            return
        for p in paths:
            self.records.pop(p, None)
        self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "wb") as f:
            for rec in self.records.values():
                f.write((json.dumps(rec, ensure_ascii=False) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.records.values())


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
