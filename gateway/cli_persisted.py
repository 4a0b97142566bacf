"""`marketgraph persisted-queries build|verify`: the allow-list's manifest, made and checked
offline (no database), e.g. in a frontend's CI.

    marketgraph persisted-queries build src/queries -o manifest.json
    marketgraph persisted-queries verify manifest.json [--sources src/queries]

`verify` fails (exit 1) when an id is not its body's SHA-256, a document does not validate
against the gateway's schema, or (with `--sources`) the manifest is not what `build` makes
from those files now.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from domain.introspection import Introspection
from gateway.persisted_manifest import (
    ManifestError,
    build_manifest,
    dumps,
    load_manifest,
    verify_manifest,
)
from schema import build_schema


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `persisted-queries` command group."""
    group = subparsers.add_parser(
        "persisted-queries", help="build or verify a persisted-query manifest (allow-list)"
    )
    sub = group.add_subparsers(dest="persisted_command", required=True)
    build = sub.add_parser("build", help="a manifest of every operation in .graphql files")
    build.add_argument("paths", nargs="+", help=".graphql/.gql files or directories")
    build.add_argument("-o", "--output", help="where to write it (default: standard output)")
    build.set_defaults(handler=_build)
    verify = sub.add_parser("verify", help="check a manifest against the schema")
    verify.add_argument("manifest", help="the manifest JSON file")
    verify.add_argument(
        "--sources", nargs="+", help="also check it is what `build` makes from these"
    )
    verify.set_defaults(handler=_verify)


def _build(args: argparse.Namespace, *_: object) -> int:
    try:
        manifest = build_manifest(args.paths, build_schema(introspection=Introspection.PUBLIC))
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = dumps(manifest)
    if args.output:
        Path(args.output).write_bytes(text)
        count = len(manifest["operations"])
        print(f"{count} operation(s) written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text.decode())
    return 0


def _verify(args: argparse.Namespace, *_: object) -> int:
    schema = build_schema(introspection=Introspection.PUBLIC)
    try:
        problems = verify_manifest(args.manifest, schema)
        if args.sources:
            built = build_manifest(args.sources, schema)
            expected = {o["id"]: o["body"] for o in built["operations"]}
            if load_manifest(args.manifest) != expected:
                problems.append(f"not what `build` makes from {' '.join(args.sources)}: rebuild")
    except ManifestError as exc:
        problems = [str(exc)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{args.manifest}: every document is valid", file=sys.stderr)
    return 1 if problems else 0
