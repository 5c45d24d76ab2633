"""The GitHub insights page: one HTML page and its assets, served by the plugin from its own folder.

The page holds no data: its script reads the repository API beside it with the Airflow session's cookie,
so it shows the warehouse only to a logged-in Airflow user, like the API does. Every asset it loads is
served here (Chart.js is vendored in ``github_etl/ui/vendor``); the page works offline and names no other
host. Airflow's UI shows it in an iframe under its own navigation (see :mod:`github_etl.plugin`).
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
# The only files served, by the name the page asks for; nothing else of the folder is reachable.
ASSETS = {
    "insights.js": ("insights.js", "text/javascript"),
    "insights.css": ("insights.css", "text/css"),
    "icon.svg": ("icon.svg", "image/svg+xml"),
    "chart.umd.min.js": ("vendor/chart.umd.min.js", "text/javascript"),
    "chart.js-LICENSE.md": ("vendor/chart.js-LICENSE.md", "text/markdown; charset=utf-8"),
}
# Scripts and styles from this server only, no inline script; Chart.js sets inline styles on its canvas.
# Framed by Airflow's UI, on the same origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'"
)

router = APIRouter(include_in_schema=False)


@router.get("/ui")
def insights_root() -> RedirectResponse:
    """The page's address with its trailing slash, against which its relative asset URLs resolve."""
    return RedirectResponse("ui/", status_code=status.HTTP_308_PERMANENT_REDIRECT)


@router.get("/ui/")
def insights_page(request: Request) -> Response:
    """The GitHub insights page, naming the DAG whose readers may read its data."""
    page = (UI_DIR / "index.html").read_text(encoding="utf-8")
    return Response(
        page.replace("__DAG_ID__", html.escape(request.app.state.settings.dag_id)),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


@router.get("/ui/static/{filename}")
def insights_asset(filename: str) -> FileResponse:
    """One of the page's files."""
    if filename not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    relative, media_type = ASSETS[filename]
    return FileResponse(UI_DIR / relative, media_type=media_type, headers={"Cache-Control": "no-cache"})
