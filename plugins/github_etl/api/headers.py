"""Headers every answer of the plugin's app carries, whatever route or error produced it.

- ``X-Content-Type-Options: nosniff``: the JSON, the page and its scripts carry text anyone can write on
  GitHub (names, descriptions, topics); a client must take them as the type they are served as.
- ``Cache-Control: no-store`` where a route set none: the data answer only users Airflow let in, so a
  browser must not keep them on disk after its user logged out, nor a shared proxy hand them to another.
  The page and its assets set their own (they hold no data).

A path holding an encoded slash (``%2F``) is a 404, as one holding a slash: no segment of these routes takes one,
and Starlette decodes it before routing, so ``/repositories/octo/alpha%2Fhistory`` would reach another route.

A plain ASGI wrapper, not Starlette's ``BaseHTTPMiddleware``, which would add a task and a queue to every
request of an API measured by its p95.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        if b"%2f" in scope.get("raw_path", b"").lower():
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
