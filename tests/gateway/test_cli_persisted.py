"""`marketgraph persisted-queries build|verify`, run as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.persisted_manifest import load_manifest
from gateway.persisted_queries import sha256_hex

LATEST = """
# the newest bar
query Latest($ticker: String!) { bars(ticker: $ticker, timeframe: M1, order: DESC, limit: 1) {
  ...Prices
} }
"""
FRAGMENTS = """
fragment Prices on Bar { close ...Times }
fragment Times on Bar { time }
fragment Unused on Bar { volume }
"""
LIVE = 'subscription Live { bars(tickers: ["AAPL"], timeframe: M1) { close } }'


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway.cli", "persisted-queries", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def sources(root: Path, **files: str) -> Path:
    """A directory of .graphql files (subdirectories included), plus a file build ignores."""
    (root / "src" / "nested").mkdir(parents=True)
    (root / "src" / "README.md").write_text("not a query")
    for name, text in files.items():
        (root / "src" / ("nested" if name == "latest" else "") / f"{name}.graphql").write_text(text)
    return root / "src"


def operations(path: Path) -> list[dict[str, Any]]:
    operations: list[dict[str, Any]] = json.loads(path.read_text())["operations"]
    return operations


def test_build_writes_apollos_manifest_with_each_operation_and_its_fragments(
    tmp_path: Path,
) -> None:
    src = sources(tmp_path, latest=LATEST, fragments=FRAGMENTS, live=LIVE)
    out = tmp_path / "manifest.json"

    built = run("build", src, "-o", out)

    assert built.returncode == 0, built.stderr
    assert "2 operation(s)" in built.stderr
    manifest = json.loads(out.read_text())
    assert manifest["format"] == "apollo-persisted-query-manifest" and manifest["version"] == 1
    latest, live = operations(out)
    assert (latest["name"], latest["type"], live["name"], live["type"]) == (
        "Latest", "query", "Live", "subscription"
    )  # fmt: skip
    assert all(op["id"] == sha256_hex(op["body"]) for op in (latest, live))
    assert "fragment Prices on Bar" in latest["body"] and "fragment Times on Bar" in latest["body"]
    assert "Unused" not in latest["body"] and "#" not in latest["body"]
    assert run("verify", out, "--sources", src).returncode == 0
    assert load_manifest(out) == {latest["id"]: latest["body"], live["id"]: live["body"]}


def test_build_refuses_what_could_not_run(tmp_path: Path) -> None:
    cases = {
        "invalid": ('query Bad { bars(ticker: "A", timeframe: M1) { nosuch } }', "nosuch"),
        "anonymous": ("{ symbols { ticker } }", "every operation needs a name"),
        "unknown fragment": ("query F { symbols { ...Nope } }", "unknown fragment Nope"),
        "syntax": ("query {", "Syntax Error"),
    }
    for case, (text, message) in cases.items():
        root = tmp_path / case.replace(" ", "_")
        root.mkdir()
        result = run("build", sources(root, one=text), "-o", root / "m.json")
        assert result.returncode == 1, case
        assert message in result.stderr and "one.graphql" in result.stderr, result.stderr
        assert not (root / "m.json").exists()
    duplicate = sources(tmp_path / "dup", latest=LATEST, again=LATEST, fragments=FRAGMENTS)
    result = run("build", duplicate)
    assert result.returncode == 1 and "operation Latest is also in" in result.stderr
    assert run("build", tmp_path / "nowhere").returncode == 1


def test_build_without_output_prints_the_manifest(tmp_path: Path) -> None:
    result = run("build", sources(tmp_path, live=LIVE))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["operations"][0]["name"] == "Live"


def test_verify_fails_on_a_tampered_stale_or_invalid_manifest(tmp_path: Path) -> None:
    src = sources(tmp_path, live=LIVE)
    out = tmp_path / "manifest.json"
    assert run("build", src, "-o", out).returncode == 0
    manifest = json.loads(out.read_text())
    manifest["operations"][0]["body"] += " "
    out.write_text(json.dumps(manifest))
    tampered = run("verify", out)
    assert tampered.returncode == 1 and "not the SHA-256 of its body" in tampered.stderr

    assert run("build", src, "-o", out).returncode == 0
    (src / "live.graphql").write_text(LIVE.replace("close", "open"))
    stale = run("verify", out, "--sources", src)
    assert stale.returncode == 1 and "rebuild" in stale.stderr
    assert run("verify", out).returncode == 0  # still a valid manifest by itself

    invalid = '{ bars(ticker: "A", timeframe: M1) { nosuch } }'
    out.write_text(json.dumps({sha256_hex(invalid): invalid}))  # the plain format
    refused = run("verify", out)
    assert refused.returncode == 1 and "nosuch" in refused.stderr
    out.write_text("[]")
    assert run("verify", out).returncode == 1
