"""Swagger UI served from the installation: the page works offline and names no host but this server.

The JavaScript and CSS come from the ``swagger-ui-py`` distribution's ``static`` folder; FastAPI's own
``/docs`` would load them from a CDN. The OpenAPI document is served here too, so that its login (the
password flow of **Authorize**) names Airflow's token endpoint under the path Airflow is served at.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from github_etl.api.security import token_url

log = logging.getLogger(__name__)

SWAGGER_UI_PACKAGE = "swagger_ui"
# The only files the page needs; nothing else of the package is reachable, whatever the path asks for.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
# The browser may load nothing from elsewhere; the page's one inline script starts Swagger UI, and
# Swagger UI draws its icons as data: URIs and sets inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'"
)

OPENAPI_PATH = "/openapi.json"
# Swagger UI's own colours give its method badges, version badges, Authorize button and document link
# 2:1 to 3.8:1 contrast (WCAG AA asks 4.5:1 of such small text): the same hues, darker.
CONTRAST_STYLE = """<style>
.swagger-ui .info .title small { background-color: #596170; }
.swagger-ui .info .title small.version-stamp { background-color: #4a6b00; }
.swagger-ui .info a, .swagger-ui .info .url { color: #1f5fae; }
.swagger-ui .btn.authorize { color: #1d7a4e; border-color: #1d7a4e; }
.swagger-ui .btn.authorize svg { fill: #1d7a4e; }
.swagger-ui .opblock.opblock-get .opblock-summary-method { background: #0b62b5; }
.swagger-ui .json-schema-2020-12-expand-deep-button { color: #545454; }
</style>
"""
# Swagger UI wraps its servers list in an empty <label>, its title beside it: a screen reader would announce
# a combo box with no name. Named whenever Swagger UI (re)draws it.
SERVERS_LABEL_SCRIPT = """<script>
new MutationObserver(() => {
  const servers = document.getElementById("servers");
  if (servers && !servers.hasAttribute("aria-label")) servers.setAttribute("aria-label", "Servers");
}).observe(document.body, { childList: true, subtree: true });
</script>
"""

router = APIRouter(include_in_schema=False)


@cache
def assets_dir() -> Path | None:
    """Folder of the installed Swagger UI files, or None when ``swagger-ui-py`` is not installed.

    Located without importing the package, whose import pulls in handlers for a dozen web frameworks.
    """
    spec = importlib.util.find_spec(SWAGGER_UI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """The Swagger UI page of this API."""
    if assets_dir() is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="Swagger UI is not installed on this server (pip package swagger-ui-py); "
            "the OpenAPI document is at openapi.json",
        )
    # Mounted at /github-etl (under Airflow's base URL path, if any): every URL carries that prefix.
    root = request.scope.get("root_path", "").rstrip("/")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{OPENAPI_PATH}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}/static/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon-32x32.png",
        oauth2_redirect_url=None,
        # Swagger UI would otherwise send the document to an online validator.
        swagger_ui_parameters={"validatorUrl": None},
    )
    # FastAPI's page names no language: a screen reader would read it in its user's default voice.
    html = bytes(page.body).decode("utf-8").replace("<html>", '<html lang="en">', 1)
    html = html.replace("</head>", f"{CONTRAST_STYLE}</head>", 1).replace(
        "</body>", f"{SERVERS_LABEL_SCRIPT}</body>", 1
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


@router.get("/static/{filename}")
def swagger_asset(filename: str) -> FileResponse:
    """One of the Swagger UI files."""
    folder = assets_dir()
    if folder is None or filename not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    return FileResponse(
        folder / filename, media_type=ASSETS[filename], headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get(OPENAPI_PATH)
def openapi_document(request: Request) -> JSONResponse:
    """The OpenAPI document, its server and token URL under the path Airflow is served at.

    Swagger UI posts the login of **Authorize** to the password flow's ``tokenUrl`` on this host: an absolute
    ``/auth/token`` misses Airflow's token endpoint when Airflow is served under a path
    (``[api] base_url = https://host/airflow/``).
    """
    document = copy.deepcopy(request.app.openapi())
    root = request.scope.get("root_path", "").rstrip("/")
    if root:
        document["servers"] = [{"url": root}]
    for scheme in document.get("components", {}).get("securitySchemes", {}).values():
        if password_flow := scheme.get("flows", {}).get("password"):
            password_flow["tokenUrl"] = token_url()
    return JSONResponse(document)
