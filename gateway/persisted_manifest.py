"""Persisted-query manifests: read one (PERSISTED_QUERIES_FILE), build one from `.graphql`
files, check one against the schema.

The format is Apollo's (`@apollo/generate-persisted-query-manifest`), so Apollo clients can
send ids from it: `{"format": "apollo-persisted-query-manifest", "version": 1, "operations":
[{"id", "name", "type", "body"}]}`, where `id` is the SHA-256 of `body`. A plain JSON object
`{hash: document}` is accepted too. `build` makes one entry per named operation, its body the
operation and the fragments it uses (from any of the files), printed canonically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    Node,
    OperationDefinitionNode,
    Visitor,
    parse,
    print_ast,
    validate,
    visit,
)

from gateway.misconfigured import Misconfigured
from gateway.persisted_queries import sha256_hex

FORMAT = "apollo-persisted-query-manifest"
SUFFIXES = (".graphql", ".gql")


class ManifestError(Misconfigured):
    """A manifest or a source file that cannot be used; the message names the file."""


def load_manifest(path: str | Path) -> dict[str, str]:
    """hash → document of a manifest file (either format)."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ManifestError(f"persisted-query manifest {path}: {exc}") from exc
    if isinstance(data, dict) and data.get("format") == FORMAT:
        operations = data.get("operations")
        if data.get("version") != 1 or not isinstance(operations, list):
            raise ManifestError(f"{path}: version 1 with a list of operations expected")
        pairs = [(_field(path, o, "id"), _field(path, o, "body")) for o in operations]
    elif isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        pairs = list(data.items())
    else:
        raise ManifestError(f"{path}: neither {FORMAT} nor an object of hash → document")
    return dict(pairs)


def _field(path: str | Path, operation: object, name: str) -> str:
    value = operation.get(name) if isinstance(operation, dict) else None
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{path}: every operation needs a string {name!r}")
    return value


def source_files(paths: Iterable[str | Path]) -> list[Path]:
    """The `.graphql`/`.gql` files named or under the directories named, in a stable order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise ManifestError(f"{path}: no such file or directory")
    return found


def build_manifest(paths: Iterable[str | Path], schema: strawberry.Schema) -> dict[str, Any]:
    """Apollo's manifest of every operation in `paths`, each validated against `schema`."""
    operations: dict[str, tuple[Path, OperationDefinitionNode]] = {}
    fragments: dict[str, FragmentDefinitionNode] = {}
    for file in source_files(paths):
        try:
            document = parse(file.read_text(encoding="utf-8"), no_location=True)
        except (OSError, GraphQLError) as exc:
            raise ManifestError(f"{file}: {exc}") from exc
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if definition.name is None:
                    raise ManifestError(f"{file}: every operation needs a name")
                name = definition.name.value
                if name in operations:
                    other = operations[name][0]
                    raise ManifestError(f"{file}: operation {name} is also in {other}")
                operations[name] = (file, definition)
            elif isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value] = definition
    entries = []
    for name, (file, operation) in sorted(operations.items()):
        used = _fragments_used(operation, fragments, file)
        body = print_ast(DocumentNode(definitions=(operation, *used)))
        problems = validate(schema._schema, parse(body))
        if problems:
            raise ManifestError(f"{file}: {name}: {problems[0].message}")
        entries.append(
            {"id": sha256_hex(body), "name": name, "type": operation.operation.value, "body": body}
        )
    return {"format": FORMAT, "version": 1, "operations": entries}


def verify_manifest(path: str | Path, schema: strawberry.Schema) -> list[str]:
    """What is wrong with a manifest: ids that are not their body's hash, documents that do
    not validate against `schema`. Empty: every document can run."""
    problems = []
    for key, body in load_manifest(path).items():
        if key != sha256_hex(body):
            problems.append(f"{key}: not the SHA-256 of its body")
        try:
            errors = validate(schema._schema, parse(body))
        except GraphQLError as exc:
            errors = [exc]
        problems += [f"{key}: {error.message}" for error in errors]
    return problems


def dumps(manifest: Mapping[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def _fragments_used(
    node: Node, fragments: Mapping[str, FragmentDefinitionNode], file: Path
) -> list[FragmentDefinitionNode]:
    """The fragments `node` spreads, directly or through other fragments, sorted by name."""
    seen: dict[str, FragmentDefinitionNode] = {}
    pending = [node]
    while pending:
        spreads = _Spreads()
        visit(pending.pop(), spreads)
        for name in spreads.names - seen.keys():
            if name not in fragments:
                raise ManifestError(f"{file}: unknown fragment {name}")
            seen[name] = fragments[name]
            pending.append(fragments[name])
    return [seen[name] for name in sorted(seen)]
