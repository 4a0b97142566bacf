"""GraphiQL at `/graphql`, with its browser assets served by the gateway itself.

Strawberry's GraphiQL page loads React, GraphiQL, the explorer plugin and js-cookie from
unpkg.com. Here the same files come from the repo's `node_modules` (installed by `npm ci` from
`package.json`/`package-lock.json`; never committed) and are served under
`/static/vendor/<package>@<version>/<file>`. Only the files in `VENDOR_ASSETS` are reachable,
and because each URL carries the installed version, responses are cached for a year.

Wiring (in the app factory)::

    assets_dir = find_assets_dir(settings.graphiql_assets_dir)
    routes = [*graphiql_asset_routes(assets_dir),
              Route("/graphql", LocalGraphQL(schema, assets_dir=assets_dir))]

Keys typed into GraphiQL's headers editor stay in the tab: the page neither persists headers
(`shouldPersistHeaders` off) nor takes them from its URL (a link could otherwise plant someone
else's key). Its HTML goes out with a Content-Security-Policy allowing only this origin's files
and the page's own inline code (by hash), no framing, and `nosniff`.

An installed package (`pip install .`) has no `node_modules` beside it: `GRAPHIQL_ASSETS_DIR`
names one. Nothing is ever loaded from a CDN: when the assets are missing, GraphiQL answers 503
with a page saying how to install them, and an error is logged once per `LocalGraphQL` instance
(the page is rendered once, when the view is built). The API itself is unaffected.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute
from strawberry.asgi import GraphQL
from strawberry.http.ides import get_graphql_ide_html
from strawberry.http.typevars import Context, RootValue

from domain.errors import ErrorCode
from gateway.graphiql_examples import with_examples
from gateway.misconfigured import MissingFiles
from gateway.responses import error_response
from gateway.static_route import StaticRoute

if TYPE_CHECKING:
    from collections.abc import Mapping

    from strawberry.schema import BaseSchema

logger = logging.getLogger(__name__)

STATIC_PREFIX: Final = "/static/vendor"
"""Where the vendored files are served; page URLs and routes both derive from it."""

CACHE_CONTROL: Final = "public, max-age=31536000, immutable"

DEFAULT_ASSETS_DIR: Final = Path(__file__).resolve().parent.parent / "node_modules"
"""The repository's `node_modules`, for a checkout (an installed package has none here)."""

UNAVAILABLE_PAGE: Final = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>GraphiQL unavailable</title>'
    "</head><body><h1>GraphiQL is unavailable</h1><p>Its browser assets are not installed: run "
    "<code>npm ci</code> at the repository root, or set <code>GRAPHIQL_ASSETS_DIR</code> to a "
    "<code>node_modules</code> directory holding them. The GraphQL API at this URL works "
    "without them.</p></body></html>"
)
"""What GraphiQL answers (503) without its assets; it loads nothing from anywhere."""
_HOW_TO_INSTALL: Final = (
    "run `npm ci` at the repository root, or set GRAPHIQL_ASSETS_DIR to a node_modules "
    "directory holding them"
)

# Strawberry's template, as it is and as served: headers stay in the tab.
_KEEP_HEADERS_IN_TAB: Final = (
    ("React.useState(parameters.headers)", "React.useState(undefined)"),
    ("shouldPersistHeaders: true", "shouldPersistHeaders: false"),
)
_INLINE: Final = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)

_JS: Final = "text/javascript; charset=utf-8"
_CSS: Final = "text/css; charset=utf-8"


@dataclass(frozen=True, slots=True)
class VendorAsset:
    """One file of an npm package that the GraphiQL page needs."""

    package: str
    """npm package name, e.g. `@graphiql/plugin-explorer`."""
    path: str
    """File inside the package, e.g. `dist/index.umd.js`."""
    media_type: str


VENDOR_ASSETS: Final[tuple[VendorAsset, ...]] = (
    VendorAsset("react", "umd/react.production.min.js", _JS),
    VendorAsset("react-dom", "umd/react-dom.production.min.js", _JS),
    VendorAsset("js-cookie", "dist/js.cookie.min.js", _JS),
    VendorAsset("graphiql", "graphiql.min.js", _JS),
    VendorAsset("graphiql", "graphiql.min.css", _CSS),
    VendorAsset("@graphiql/plugin-explorer", "dist/index.umd.js", _JS),
    VendorAsset("@graphiql/plugin-explorer", "dist/style.css", _CSS),
)
"""The allow-list: exactly the files Strawberry's GraphiQL page loads, nothing else."""

# `https://unpkg.com/<package>@<version>/<path>` as written in Strawberry's template.
_CDN_URL: Final = re.compile(
    r"https://unpkg\.com/(?P<package>(?:@[\w.-]+/)?[\w.-]+)@(?P<version>[^/\"']+)/(?P<path>[^\"']+)"
)
_TAG: Final = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_SRI_ATTRS: Final = re.compile(r"\s+(?:integrity=\"[^\"]*\"|crossorigin(?:=\"[^\"]*\")?)(?=[\s/>])")


@dataclass(frozen=True, slots=True)
class ServedAsset:
    """A vendored file as the gateway serves it."""

    asset: VendorAsset
    file: Path
    url: str
    """Absolute path on the gateway, e.g. `/static/vendor/graphiql@3.9.0/graphiql.min.js`."""


def find_assets_dir(
    override: str | os.PathLike[str] | None = None,
    assets: tuple[VendorAsset, ...] = VENDOR_ASSETS,
) -> Path | None:
    """The `node_modules` dir holding every file in `assets`, or None when absent.

    `override` (GRAPHIQL_ASSETS_DIR) names the directory explicitly; an explicit directory that
    lacks the files is a configuration error and raises `FileNotFoundError`. Without it the
    repo root's `node_modules` is used and its absence returns None (GraphiQL unavailable).
    """
    candidate = Path(override) if override is not None else DEFAULT_ASSETS_DIR
    missing = _missing_files(candidate, assets)
    if not missing:
        return candidate.resolve()
    if override is not None:
        raise MissingFiles(
            f"GRAPHIQL_ASSETS_DIR {candidate} lacks {', '.join(missing)}; {_HOW_TO_INSTALL}"
        )
    return None


def served_assets(
    assets_dir: Path,
    static_prefix: str = STATIC_PREFIX,
    assets: tuple[VendorAsset, ...] = VENDOR_ASSETS,
) -> dict[VendorAsset, ServedAsset]:
    """Map each allow-listed asset to its file and versioned URL under `static_prefix`."""
    missing = _missing_files(assets_dir, assets)
    if missing:
        raise MissingFiles(
            f"GraphiQL assets dir {assets_dir} lacks {', '.join(missing)}; {_HOW_TO_INSTALL}"
        )
    prefix = static_prefix.rstrip("/")
    versions = {pkg: _package_version(assets_dir, pkg) for pkg in {a.package for a in assets}}
    return {
        asset: ServedAsset(
            asset=asset,
            file=assets_dir / asset.package / asset.path,
            url=f"{prefix}/{asset.package}@{versions[asset.package]}/{asset.path}",
        )
        for asset in assets
    }


def graphiql_asset_routes(
    assets_dir: Path | None,
    *,
    static_prefix: str = STATIC_PREFIX,
    assets: tuple[VendorAsset, ...] = VENDOR_ASSETS,
) -> list[BaseRoute]:
    """Routes serving exactly the allow-listed files of `assets_dir` (`assets`: GraphiQL's,
    or more pages' too); none when it is None."""
    if assets_dir is None:
        return []
    prefix = static_prefix.rstrip("/")
    by_key: Mapping[str, ServedAsset] = {
        served.url.removeprefix(prefix + "/"): served
        for served in served_assets(assets_dir, prefix, assets).values()
    }

    async def vendor_asset(request: Request) -> Response:
        served = by_key.get(request.path_params["asset"])
        if served is None:
            return error_response(ErrorCode.NOT_FOUND, "Not Found")
        return FileResponse(
            served.file,
            media_type=served.asset.media_type,
            headers={"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
        )

    return [
        StaticRoute(
            f"{prefix}/{{asset:path}}",
            vendor_asset,
            files=(served.url for served in by_key.values()),
            methods=["GET", "HEAD"],
            name="graphiql_vendor_asset",
        )
    ]


def render_graphiql_page(
    assets_dir: Path | None,
    *,
    static_prefix: str = STATIC_PREFIX,
    template: str | None = None,
) -> str:
    """Strawberry's GraphiQL page with its CDN URLs pointing at the gateway's own routes.

    With `assets_dir` None, or when the template asks for a file outside `VENDOR_ASSETS`, an
    error is logged and UNAVAILABLE_PAGE returned: never a page that loads from a CDN. Call it
    once per app (as `LocalGraphQL` does) so the error is logged once.
    """
    page = with_examples(get_graphql_ide_html("graphiql")) if template is None else template
    if assets_dir is None:
        logger.error(
            "GraphiQL assets not found in %s: %s; GraphiQL answers 503 until then",
            DEFAULT_ASSETS_DIR,
            _HOW_TO_INSTALL,
        )
        return UNAVAILABLE_PAGE
    served = served_assets(assets_dir, static_prefix)
    by_file = {(a.package, a.path): s.url for a, s in served.items()}
    unknown = sorted(
        {m["package"] + "/" + m["path"] for m in _CDN_URL.finditer(page)}
        - {f"{pkg}/{path}" for pkg, path in by_file}
    )
    if unknown:
        logger.error(
            "GraphiQL template asks for %s, which is not vendored (update package.json and "
            "VENDOR_ASSETS); GraphiQL answers 503 until then",
            ", ".join(unknown),
        )
        return UNAVAILABLE_PAGE

    def localise(tag: re.Match[str]) -> str:
        text = tag.group(0)
        if not _CDN_URL.search(text):
            return text
        text = _CDN_URL.sub(lambda m: by_file[(m["package"], m["path"])], text)
        # Subresource integrity pins the CDN's bytes; same-origin files need no such pin.
        return _SRI_ATTRS.sub("", text)

    for as_is, served_as in _KEEP_HEADERS_IN_TAB:
        if as_is not in page:
            logger.error(
                "GraphiQL template lacks %r (a new Strawberry?): cannot keep keys out of its URL "
                "and storage; GraphiQL answers 503 until gateway/graphiql.py is updated",
                as_is,
            )
            return UNAVAILABLE_PAGE
        page = page.replace(as_is, served_as)
    return _TAG.sub(localise, page)


def security_headers(page: str) -> dict[str, str]:
    """Headers for an HTML page: scripts from this origin or inline in `page` (allowed by hash,
    so nothing injected runs), styles from this origin or inline, no framing, no MIME
    sniffing."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    policy = (
        "default-src 'none'",
        f"script-src 'self' {' '.join(hashes['script'])}".rstrip(),
        # GraphiQL and CodeMirror set style attributes at run time, which no hash can allow;
        # styles run no code, so inline ones are allowed (scripts stay hash-only)
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
    return {
        "Content-Security-Policy": "; ".join(policy),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class LocalGraphQL(GraphQL[Context, RootValue]):
    """Strawberry's ASGI view whose GraphiQL page loads its assets from this gateway.

    `assets_dir` must be the one given to `graphiql_asset_routes` (usually from
    `find_assets_dir()`); every other keyword goes to `strawberry.asgi.GraphQL`.
    """

    def __init__(
        self,
        schema: BaseSchema,
        *,
        assets_dir: Path | None,
        static_prefix: str = STATIC_PREFIX,
        **kwargs: Any,
    ) -> None:
        super().__init__(schema, **kwargs)
        self._graphiql_page: str | None = (
            render_graphiql_page(assets_dir, static_prefix=static_prefix)
            if self.graphql_ide == "graphiql"
            else None
        )
        self._page_headers = security_headers(self._graphiql_page or "")

    async def render_graphql_ide(self, request: Request) -> Response:
        if self._graphiql_page is None:
            return await super().render_graphql_ide(request)
        status = 503 if self._graphiql_page is UNAVAILABLE_PAGE else 200
        return HTMLResponse(self._graphiql_page, status_code=status, headers=self._page_headers)


def _missing_files(assets_dir: Path, assets: tuple[VendorAsset, ...]) -> list[str]:
    return [
        f"{a.package}/{a.path}" for a in assets if not (assets_dir / a.package / a.path).is_file()
    ] + [
        f"{pkg}/package.json"
        for pkg in sorted({a.package for a in assets})
        if not (assets_dir / pkg / "package.json").is_file()
    ]


def _package_version(assets_dir: Path, package: str) -> str:
    manifest = json.loads((assets_dir / package / "package.json").read_text(encoding="utf-8"))
    version = manifest.get("version") if isinstance(manifest, dict) else None
    if not isinstance(version, str) or not re.fullmatch(r"[\w.+-]+", version):
        raise ValueError(f"{assets_dir / package / 'package.json'} has no usable version")
    return version
