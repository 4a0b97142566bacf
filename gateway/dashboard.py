"""The dashboard at `/dashboard`: our own static page, and its charting library from npm.

The page, its scripts and styles live in the repository's `dashboard/` directory (or
DASHBOARD_DIR). Only files found there at start-up with a known type are served. The
charting library (lightweight-charts) comes from `node_modules` like GraphiQL's assets, at a
versioned URL under `/dashboard/vendor/`; the page names it as `vendor:<package>/<file>`, which
is replaced by that URL once, when the app is built. Without the library the page still works
and says the chart is unavailable; without the directory `/dashboard` answers 503 saying why.
Nothing is ever loaded from another origin: a Content-Security-Policy says so to the browser.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from domain.errors import ErrorCode
from gateway.graphiql import VendorAsset, find_assets_dir, graphiql_asset_routes, served_assets
from gateway.misconfigured import MissingFiles
from gateway.responses import error_response
from gateway.static_route import StaticRoute

logger = logging.getLogger(__name__)

DEFAULT_DASHBOARD_DIR: Final = Path(__file__).resolve().parent.parent / "dashboard"
VENDOR_PREFIX: Final = "/dashboard/vendor"
CHART_ASSETS: Final = (
    VendorAsset(
        "lightweight-charts",
        "dist/lightweight-charts.standalone.production.js",
        "text/javascript; charset=utf-8",
    ),
)
"""The allow-list of npm files the dashboard loads."""

MEDIA_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        # lightweight-charts adds a <style> element: inline styles only, never inline scripts
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # our files change with the repository: always revalidate
}
_VENDOR_REF: Final = re.compile(r"vendor:(?P<package>(?:@[\w.-]+/)?[\w.-]+)/(?P<path>[\w./-]+)")


def unavailable_page(directory: Path) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Dashboard '
        "unavailable</title></head><body><h1>The dashboard is unavailable</h1><p>Its files "
        f"are not in {directory}: set <code>DASHBOARD_DIR</code> to the repository's "
        "<code>dashboard</code> directory. The API works without it.</p></body></html>"
    )


def render_index(directory: Path, chart_urls: dict[str, str]) -> str:
    """index.html with each `vendor:<package>/<file>` replaced by its served URL.

    A reference to a file that is not served (library not installed) becomes an empty
    attribute, so the page loads nothing for it and shows the chart as unavailable.
    """
    page = (directory / "index.html").read_text(encoding="utf-8")

    def localise(match: re.Match[str]) -> str:
        return chart_urls.get(f"{match['package']}/{match['path']}", "")

    return _VENDOR_REF.sub(localise, page)


def dashboard_routes(
    directory: str | os.PathLike[str] | None, assets_override: str | os.PathLike[str] | None
) -> list[BaseRoute]:
    """`/dashboard` (the page), `/dashboard/<file>` (allow-listed) and the chart library."""
    root = Path(directory) if directory is not None else DEFAULT_DASHBOARD_DIR
    if not (root / "index.html").is_file():
        if directory is not None:
            raise MissingFiles(f"DASHBOARD_DIR {root} has no index.html")
        logger.error("dashboard files not found in %s: /dashboard answers 503", root)
        missing = unavailable_page(root)
        return [Route("/dashboard", lambda _: HTMLResponse(missing, status_code=503))]

    assets_dir = find_assets_dir(assets_override, CHART_ASSETS)
    chart_urls: dict[str, str] = {}
    if assets_dir is None:
        logger.warning("lightweight-charts not in node_modules (`npm ci`): no dashboard chart")
    else:
        served = served_assets(assets_dir, VENDOR_PREFIX, CHART_ASSETS)
        chart_urls = {f"{a.package}/{a.path}": s.url for a, s in served.items()}
    index = render_index(root, chart_urls)
    files = {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in MEDIA_TYPES
    }

    async def page(request: Request) -> Response:
        return HTMLResponse(index, headers=SECURITY_HEADERS)

    async def file(request: Request) -> Response:
        found = files.get(request.path_params["file"])
        if found is None:
            return error_response(ErrorCode.NOT_FOUND, "Not Found")
        return FileResponse(found, media_type=MEDIA_TYPES[found.suffix], headers=SECURITY_HEADERS)

    return [
        StaticRoute("/dashboard", page, files=("/dashboard",), methods=["GET", "HEAD"]),
        Route("/dashboard/", lambda _: RedirectResponse("/dashboard"), methods=["GET"]),
        *graphiql_asset_routes(assets_dir, static_prefix=VENDOR_PREFIX, assets=CHART_ASSETS),
        StaticRoute(
            "/dashboard/{file:path}",
            file,
            files=(f"/dashboard/{name}" for name in files),
            methods=["GET", "HEAD"],
        ),
    ]
