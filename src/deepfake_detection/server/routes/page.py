"""The web page and the files it needs, all served from installed packages (no CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

STATIC = Path(str(resources.files("deepfake_detection.server") / "static"))


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def swagger_dir() -> Path:
    """Swagger UI 5 from swagger-ui-bundle-v2: it reads the OpenAPI 3.1 that FastAPI writes (version 4 cannot)."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon")


@router.get("/vendor/plotly.min.js")
def plotly() -> FileResponse:
    return FileResponse(plotly_js(), media_type="application/javascript")


@router.get("/vendor/swagger/{name}")
def swagger_asset(name: str) -> FileResponse:
    if name not in ("swagger-ui-bundle.js", "swagger-ui.css"):
        raise HTTPException(404, "not found")
    return FileResponse(swagger_dir() / name)


@router.get("/docs")
def docs() -> HTMLResponse:
    # validatorUrl None: Swagger UI would otherwise send the schema to an online validator for its badge
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="deepfake-detect API",
        swagger_js_url="/vendor/swagger/swagger-ui-bundle.js",
        swagger_css_url="/vendor/swagger/swagger-ui.css",
        swagger_favicon_url="/favicon.ico",
        swagger_ui_parameters={"validatorUrl": None},
    )
