"""Swagger UI at `/docs` and ReDoc at `/redoc`, their scripts served by the gateway itself.

The files come from `node_modules` (swagger-ui-dist and redoc, installed by `npm ci` from the
lock file, never committed) under `/static/vendor/<package>@<version>/…`, through the same
allow-listed route as GraphiQL's (gateway/graphiql.py). No page asks a CDN for anything: no
Google Fonts, no validator badge, favicons from the same packages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

from domain.errors import ErrorCode
from gateway.graphiql import STATIC_PREFIX, VendorAsset, served_assets
from gateway.responses import error_response

_JS: Final = "text/javascript; charset=utf-8"
_CSS: Final = "text/css; charset=utf-8"
SWAGGER_JS: Final = VendorAsset("swagger-ui-dist", "swagger-ui-bundle.js", _JS)
SWAGGER_CSS: Final = VendorAsset("swagger-ui-dist", "swagger-ui.css", _CSS)
FAVICON: Final = VendorAsset("swagger-ui-dist", "favicon-32x32.png", "image/png")
REDOC_JS: Final = VendorAsset("redoc", "bundles/redoc.standalone.js", _JS)
DOCS_ASSETS: Final = (SWAGGER_JS, SWAGGER_CSS, FAVICON, REDOC_JS)
TITLE: Final = "marketgraph REST API"
# Nothing but this origin: ReDoc draws a "by Redocly" logo from cdn.redoc.ly that no option
# turns off; the policy keeps the browser from asking for it (or anything else elsewhere).
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:;"
    " connect-src 'self'; frame-ancestors 'none'"
)


def docs_router(assets_dir: Path | None, openapi_url: str) -> APIRouter:
    """`/docs` and `/redoc` (503 with the fix when the npm assets are not installed)."""
    router = APIRouter(include_in_schema=False)
    urls = (
        {}
        if assets_dir is None
        else {a: s.url for a, s in served_assets(assets_dir, STATIC_PREFIX, DOCS_ASSETS).items()}
    )

    def missing() -> Response:
        return error_response(
            ErrorCode.UNAVAILABLE,
            "the documentation assets are not installed; run `npm ci` at the repository root",
        )

    @router.get("/docs")
    async def swagger() -> Response:
        if not urls:
            return missing()
        page: HTMLResponse = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=TITLE,
            swagger_js_url=urls[SWAGGER_JS],
            swagger_css_url=urls[SWAGGER_CSS],
            swagger_favicon_url=urls[FAVICON],
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page

    @router.get("/redoc")
    async def redoc() -> Response:
        if not urls:
            return missing()
        page: HTMLResponse = get_redoc_html(
            openapi_url=openapi_url,
            title=TITLE,
            redoc_js_url=urls[REDOC_JS],
            redoc_favicon_url=urls[FAVICON],
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page

    return router
