"""Scan records in SQLite (WAL): they survive restarts, and a scan cut off by a crash is re-queued or failed on
start, never left 'running'. One short-lived connection per call keeps it safe across worker threads."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ScanStatus = Literal["queued", "running", "done", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    keep INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    report TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS scans_sha256 ON scans (sha256);
CREATE INDEX IF NOT EXISTS scans_created ON scans (created);
"""


@dataclass(frozen=True)
class ScanRecord:
    id: str
    sha256: str
    filename: str  # the client's name, for display only: never part of a path
    size: int
    status: ScanStatus
    keep: bool
    created: float
    started: float | None
    finished: float | None
    report: dict[str, Any] | None
    error: str | None


class ScanStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def create(self, sha256: str, filename: str, size: int, keep: bool) -> ScanRecord:
        scan_id, created = uuid.uuid4().hex, time.time()
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO scans (id, sha256, filename, size, status, keep, created) "
                "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                (scan_id, sha256, filename, size, int(keep), created),
            )
        return ScanRecord(scan_id, sha256, filename, size, "queued", keep, created, None, None, None, None)

    def get(self, scan_id: str) -> ScanRecord | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return _record(row) if row else None

    def find_reusable(self, sha256: str) -> ScanRecord | None:
        """The latest scan of identical content that is done or on its way (a failed one is worth retrying)."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM scans WHERE sha256 = ? AND status != 'failed' ORDER BY created DESC LIMIT 1", (sha256,)
            ).fetchone()
        return _record(row) if row else None

    def recent(self, limit: int = 20, offset: int = 0) -> tuple[list[ScanRecord], int]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM scans ORDER BY created DESC LIMIT ? OFFSET ?", (limit, offset)).fetchall()
            total = db.execute("SELECT COUNT(*) FROM scans").fetchone()[0]
        return [_record(r) for r in rows], int(total)

    def mark_running(self, scan_id: str) -> None:
        self._update(scan_id, status="running", started=time.time())

    def finish(self, scan_id: str, report: dict[str, Any] | None = None, error: str | None = None) -> None:
        status = "failed" if error is not None else "done"
        self._update(
            scan_id,
            status=status,
            finished=time.time(),
            report=json.dumps(report) if report is not None else None,
            error=error,
        )

    def _update(self, scan_id: str, **fields: object) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        with closing(self._connect()) as db, db:
            db.execute(f"UPDATE scans SET {cols} WHERE id = ?", (*fields.values(), scan_id))

    def unfinished(self) -> list[ScanRecord]:
        """Scans queued or running when the last server stopped, oldest first."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM scans WHERE status IN ('queued', 'running') ORDER BY created").fetchall()
        return [_record(r) for r in rows]

    def delete(self, scan_id: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM scans WHERE id = ?", (scan_id,))

    def requeue(self, scan_id: str) -> None:
        self._update(scan_id, status="queued", started=None)


def _record(row: sqlite3.Row) -> ScanRecord:
    return ScanRecord(
        id=row["id"],
        sha256=row["sha256"],
        filename=row["filename"],
        size=row["size"],
        status=row["status"],
        keep=bool(row["keep"]),
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        report=json.loads(row["report"]) if row["report"] else None,
        error=row["error"],
    )
