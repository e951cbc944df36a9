"""The upload-warning service: a FastAPI app (REST API + page) over the detection pipeline."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
