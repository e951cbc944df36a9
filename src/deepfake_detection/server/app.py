"""Assembles the FastAPI app: settings, store and worker pool live for the app's lifespan; routes stay thin."""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from .. import __version__
from ..errors import DeepfakeError
from .pool import ScanWorkers
from .responses import errors
from .routes import health, page, scans
from .settings import Settings
from .store import ScanStore

log = logging.getLogger(__name__)

MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file itself
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def recover(store: ScanStore, workers: ScanWorkers) -> tuple[int, int]:
    """Scans left queued or running by a stopped (or killed) server: re-queued when their upload is still on disk,
    failed with a reason otherwise; half-received and orphaned uploads are deleted. Returns (re-queued, failed)."""
    requeued = failed = 0
    for path in workers.uploads.iterdir():  # uploads whose scan ended (or vanished) while the server was down
        record = None if path.name.startswith(".") else store.get(path.name)
        if record is None or (record.status in ("done", "failed") and not record.keep):
            path.unlink(missing_ok=True)
    for record in store.unfinished():
        if (workers.uploads / record.id).is_file():
            store.requeue(record.id)
            workers.submit(record.id, force=True)
            requeued += 1
        else:
            store.finish(record.id, error="interrupted by a server restart and the upload is gone; upload it again")
            failed += 1
    return requeued, failed


class BodyLimit:
    """Answer 413 for request bodies over the limit, before (Content-Length) or while (streamed) they arrive."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"").decode() or None
        message = f"file is over the {self.max_bytes / 2**20:g} MB upload limit"
        if length is not None and length.isdigit() and int(length) > self.max_bytes + MULTIPART_SLACK:
            return await _send_json(send, 413, {"error": message})
        seen, over = 0, False

        async def limited_receive():
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes + MULTIPART_SLACK:
                    over = True
                    return {"type": "http.disconnect"}  # stops the body parser; the answer below is a 413
            return msg

        async def guarded_send(msg):
            if over:  # whatever the app answered after the cut-off, the client gets the 413
                if msg["type"] == "http.response.start":
                    return await _send_json(send, 413, {"error": message})
                return
            await send(msg)

        await self.app(scope, limited_receive, guarded_send)


class TokenAuth:
    """With a token configured, every /api/ request needs `Authorization: Bearer <token>`; checked before the body
    is read. The page, its scripts, /docs, /openapi.json and /healthz stay open (they hold no scan data)."""

    def __init__(self, app, token: str):
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                return await _send_json(
                    send,
                    401,
                    {"error": "missing or wrong API token (Authorization: Bearer <token>)"},
                    [(b"www-authenticate", b"Bearer")],
                )
        return await self.app(scope, receive, send)


async def _send_json(send, status: int, body: dict, headers: list | None = None) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route answers on this path. Starlette's 405 names only the first route whose path
    matched (GET and POST on /api/v1/scans are two routes), so its Allow header would leave one out."""
    routes = [r for r in app.router.routes if not isinstance(r, Mount)]  # a mount matches any method
    return [m for m in METHODS if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        uploads = settings.data_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        store = ScanStore(settings.data_dir / "scans.sqlite3")
        workers = ScanWorkers(store, settings, uploads)
        requeued, failed = recover(store, workers)
        if requeued or failed:
            log.warning("recovered unfinished scans: %d re-queued, %d failed", requeued, failed)
        workers.start()
        app.state.settings, app.state.store, app.state.workers, app.state.uploads = settings, store, workers, uploads
        try:
            yield
        finally:
            workers.stop()

    app = FastAPI(
        title="deepfake-detect",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Upload a video or image; get REAL / FAKE / NO_FACE per face with a calibrated "
        "probability, where in the video, and a heatmap of the evidence.",
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    if settings.token:
        app.add_middleware(TokenAuth, token=settings.token)  # outermost: refused before any byte is read
    # 401 is documented only where the server can answer it: with a token, every /api/ route
    app.include_router(scans.router, prefix="/api/v1", responses=errors(401) if settings.token else None)
    app.include_router(health.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: HTTPException):
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405 and (allowed := allowed_methods(app, request)):
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {problems}"}, 422)

    @app.exception_handler(DeepfakeError)
    async def deepfake_error(request: Request, exc: DeepfakeError):
        return JSONResponse({"error": str(exc)}, 400)

    @app.exception_handler(sqlite3.OperationalError)
    async def store_error(request: Request, exc: sqlite3.OperationalError):
        if "full" in str(exc):  # SQLITE_FULL: the disk under the data dir filled up between two requests
            log.error("scan store: %s", exc)
            return JSONResponse(
                {"error": "the server is out of disk space; retry later"},
                507,
                headers={"Retry-After": str(scans.RETRY_AFTER_S)},
            )
        log.exception("scan store error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal server error"}, 500)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal server error"}, 500)

    return app
