"""The page at / and the charting library it draws with.

The page's own files are services/dashboard/static (index.html, its scripts and style sheets; mounted at
/static by `app`). lightweight-charts comes from npm's node_modules, installed by `npm ci`
(`make install`) and never committed; it is served at /vendor/lightweight-charts.js from
TICKFLOW_DASHBOARD_VENDOR_DIR (an image sets it) or services/dashboard/web/node_modules.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, Response

from services.config import Settings

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
DEFAULT_VENDOR_DIR = HERE / "web" / "node_modules"
CHARTS_FILE = Path("lightweight-charts") / "dist" / "lightweight-charts.standalone.production.js"


def vendor_file(settings: Settings) -> Path:
    base = Path(settings.dashboard_vendor_dir) if settings.dashboard_vendor_dir else DEFAULT_VENDOR_DIR
    return base / CHARTS_FILE


def page_router(settings: Settings) -> APIRouter:
    """/ and /vendor/lightweight-charts.js (both left out of the OpenAPI docs)."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @router.get("/vendor/lightweight-charts.js", include_in_schema=False)
    def charts_library() -> Response:
        path = vendor_file(settings)
        if not path.is_file():
            return PlainTextResponse(f"lightweight-charts is not installed ({path} is missing); run `make install` "
                                     "or `npm ci` in services/dashboard/web", status_code=503)
        return FileResponse(path, media_type="text/javascript")

    return router
