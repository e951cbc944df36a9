"""/api/v1/scans: upload a file for scanning, poll its result, list recent scans."""

from __future__ import annotations

import errno
import hashlib
import re
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Response, UploadFile
from fastapi import Path as PathParam
from pydantic import WithJsonSchema
from starlette.concurrency import run_in_threadpool

from ...media import sniff_container
from ..deps import SettingsDep, StoreDep, UploadsDep, WorkersDep
from ..responses import errors
from ..schemas import ScanCreated, ScanPage, ScanPublic, ScanSummary

router = APIRouter(prefix="/scans", tags=["scans"])

CHUNK = 1 << 20
RETRY_AFTER_S = 30
MAX_OFFSET = 1 << 31  # far past any real history, and well inside SQLite's 64-bit integers

# Scan ids are uuid4 hex; any short name-like id is looked up (and 404s), anything else is a 422.
ScanId = Annotated[
    str,
    PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="the id returned by the upload"),
]
# Omitted means the server's default (--keep-uploads); the schema says boolean, as a form sends "true"/"false".
Keep = Annotated[
    bool | None,
    WithJsonSchema({"type": "boolean"}),
    Form(description="keep the uploaded file after the scan (default: the server's setting)"),
]


class TooLarge(Exception):
    pass


def _receive(src, dest: Path, max_bytes: int) -> tuple[str, int, bytes]:
    """Copy the upload to `dest` in chunks: (SHA-256 hex, size, first bytes). Raises TooLarge past `max_bytes`."""
    digest, size, head = hashlib.sha256(), 0, b""
    with open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge
            if len(head) < 512:
                head += chunk[: 512 - len(head)]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size, head


def display_name(name: str | None) -> str:
    """The client's file name reduced to a printable base name, for display only."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()
    return base[:200] or "upload"


@router.post(
    "",
    status_code=202,
    response_model=ScanCreated,
    summary="Upload a video or image to scan",
    responses={
        200: {"model": ScanCreated, "description": "identical content was already scanned"},
        202: {"description": "queued (or identical content is already queued or running)"},
        **errors(400, 413, 415, 422, 503, 507),
    },
)
async def create_scan(
    file: Annotated[UploadFile, File(description="the video or image")],
    response: Response,
    store: StoreDep,
    workers: WorkersDep,
    settings: SettingsDep,
    uploads: UploadsDep,
    keep: Keep = None,
) -> ScanCreated:
    incoming = uploads / f".incoming-{uuid.uuid4().hex}"
    try:
        try:
            sha256, size, head = await run_in_threadpool(_receive, file.file, incoming, settings.max_upload_bytes)
        except TooLarge:
            raise HTTPException(413, f"file is over the {settings.max_upload_mb:g} MB upload limit") from None
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise HTTPException(
                507, "the server is out of disk space; retry later", headers={"Retry-After": str(RETRY_AFTER_S)}
            ) from None
        if size == 0:
            raise HTTPException(400, "empty file")
        kind = sniff_container(head)
        if kind is None:
            raise HTTPException(
                415,
                "not a video or image this service reads (checked by content: MP4/MOV, "
                "WebM/MKV, AVI, MPEG, FLV, JPEG, PNG, WebP, GIF, BMP)",
            )
        if (same := store.find_reusable(sha256)) is not None:
            response.status_code = 200 if same.status == "done" else 202
            return ScanCreated(id=same.id, status=same.status, duplicate=True)
        if workers.pending >= workers.capacity:
            raise HTTPException(503, "the scan queue is full; retry later", headers={"Retry-After": str(RETRY_AFTER_S)})
        record = store.create(
            sha256, display_name(file.filename), size, settings.keep_uploads if keep is None else keep
        )
        incoming.rename(uploads / record.id)
        if not workers.submit(record.id):
            (uploads / record.id).unlink(missing_ok=True)
            store.delete(record.id)
            raise HTTPException(503, "the scan queue is full; retry later", headers={"Retry-After": str(RETRY_AFTER_S)})
        return ScanCreated(id=record.id, status="queued")
    finally:
        incoming.unlink(missing_ok=True)


@router.get("", response_model=ScanPage, summary="Recent scans, newest first", responses=errors(422))
def list_scans(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ScanPage:
    records, total = store.recent(limit, offset)
    return ScanPage(items=[ScanSummary.of(r) for r in records], total=total, limit=limit, offset=offset)


@router.get(
    "/{scan_id}",
    response_model=ScanPublic,
    summary="A scan's status and, once done, its report",
    responses=errors(404, 422),
)
def get_scan(scan_id: ScanId, store: StoreDep) -> ScanPublic:
    record = store.get(scan_id)
    if record is None:
        raise HTTPException(404, f"no scan with id {scan_id!r}")
    return ScanPublic.of(record)
