from __future__ import annotations

from fastapi import APIRouter

from ... import __version__
from ...models.serving import DEFAULT_MODEL
from ..deps import SettingsDep, WorkersDep
from ..responses import errors
from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness and queue depth", responses=errors())
def healthz(settings: SettingsDep, workers: WorkersDep) -> Health:
    return Health(
        status="ok",
        version=__version__,
        model=settings.model or DEFAULT_MODEL,
        queued_or_running=workers.pending,
        capacity=workers.capacity,
    )
