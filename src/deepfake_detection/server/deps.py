"""Shared handler dependencies: the app-scoped store, worker pool and settings (built in the app's lifespan)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from .pool import ScanWorkers
from .settings import Settings
from .store import ScanStore


def _store(request: Request) -> ScanStore:
    return request.app.state.store


def _workers(request: Request) -> ScanWorkers:
    return request.app.state.workers


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _uploads(request: Request) -> Path:
    return request.app.state.uploads


StoreDep = Annotated[ScanStore, Depends(_store)]
WorkersDep = Annotated[ScanWorkers, Depends(_workers)]
SettingsDep = Annotated[Settings, Depends(_settings)]
UploadsDep = Annotated[Path, Depends(_uploads)]
