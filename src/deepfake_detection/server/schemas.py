"""API schemas, one per direction (what a client sends is only the multipart upload)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..report import Verdict
from .store import ScanRecord, ScanStatus


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def _when(t: float | None) -> datetime | None:
    return None if t is None else _at(t)


class ScanCreated(BaseModel):
    id: str
    status: ScanStatus
    duplicate: bool = Field(default=False, description="identical content (SHA-256) was already scanned or is queued")


class ScanSummary(BaseModel):
    id: str
    status: ScanStatus
    filename: str
    size: int
    created: datetime
    finished: datetime | None
    verdict: Verdict | None = Field(default=None, description="REAL, FAKE, NO_FACE once done")
    probability: float | None = Field(default=None, description="calibrated P(fake) of the most suspicious face")
    error: str | None = None

    @classmethod
    def of(cls, r: ScanRecord) -> ScanSummary:
        report = r.report or {}
        return cls(
            id=r.id,
            status=r.status,
            filename=r.filename,
            size=r.size,
            created=_at(r.created),
            finished=_when(r.finished),
            verdict=report.get("verdict"),
            probability=report.get("probability"),
            error=r.error,
        )


class ScanPublic(ScanSummary):
    sha256: str
    started: datetime | None
    report: dict[str, Any] | None = Field(
        default=None,
        description="the `deepfake-detect detect --json` report, with explanations (heatmap, pictures) per face",
    )

    @classmethod
    def of(cls, r: ScanRecord) -> ScanPublic:
        base = ScanSummary.of(r).model_dump()
        return cls(**base, sha256=r.sha256, started=_when(r.started), report=r.report)


class ScanPage(BaseModel):
    items: list[ScanSummary]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    model: str
    queued_or_running: int
    capacity: int


class ErrorBody(BaseModel):
    error: str
