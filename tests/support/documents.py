"""Random GraphQL documents over Bar that are valid by construction, for the fast-path property.

Aliases (two of one field, names such as `rows` or `lambda` that the row builder must treat
as data), duplicate fields, named and inline fragments (nested), `__typename`, @include/@skip
with literals and with variables, under root `bars` and under `symbols { bars }`. Each
response key names one field per document and each directive appears at most once per
location, so validation passes and the documents execute (tests/resolvers/test_fast_path.py
counts the share that does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

EDGE = "X:EDGEUSD"  # extreme values every scalar accepts (times: the supported range's ends)
ODD = "X:ODDUSD"  # values GraphQL must refuse (NaN, infinities, a 33-bit Int, infinite times)
EMPTY = "X:NONEUSD"  # no bars at all
TICKERS = ("X:BTCUSD", "X:ETHUSD", "AAPL", EDGE, ODD, EMPTY)
BAR_FIELDS = (
    "time", "open", "high", "low", "close", "volume", "vwap", "trades", "barCount",
    "qualityScore", "gapDetected", "volumeAnomaly", "validationNotes", "__typename",
)  # fmt: skip
ALIAS_NAMES = ("a", "b", "x1", "open", "time", "vwap", "v0", "rows", "lambda", "None", "_")
TIMEFRAMES = ("M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1", "MO1")
STARTS = ("2024-05-06T00:02:00Z", "2024-05-06T03:30:00+02:00", "2024-03-01T00:00:00Z")
VARIABLES = {"v0": "Boolean!", "v1": "Boolean!", "v2": "Boolean = true"}


@dataclass(frozen=True)
class Document:
    text: str
    variables: dict[str, Any]


def any_directives() -> st.SearchStrategy[str]:
    """Nothing, @include, @skip, or both (each at most once, by the spec), in either order."""
    condition = st.sampled_from(("true", "false", *(f"${name}" for name in VARIABLES)))
    one = st.tuples(st.sampled_from(("include", "skip")), condition)
    return st.one_of(
        st.just(""),
        st.lists(one, min_size=1, max_size=2, unique_by=lambda d: d[0]).map(
            lambda ds: " ".join(f"@{name}(if: {value})" for name, value in ds)
        ),
    )


def selection(
    aliases: dict[str, str], fragments: int, *, with_directives: bool = True
) -> st.SearchStrategy[str]:
    """A non-empty selection set body over Bar; may spread fragments F0..F{fragments-1}.

    Response keys always name one field per document (`aliases`), so documents stay valid.
    """
    plain = [f for f in BAR_FIELDS if aliases.get(f, f) == f]
    names = [*plain, *(f"{alias}: {target}" for alias, target in aliases.items())]

    def directives() -> st.SearchStrategy[str]:
        return any_directives() if with_directives else st.just("")

    item = st.tuples(st.sampled_from(names), directives()).map(" ".join)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        inline = st.tuples(st.sampled_from(("... on Bar", "...")), directives(), inner).map(
            lambda i: f"{i[0]} {i[1]} {{ {i[2]} }}"
        )
        options = [item, inline]
        if fragments:
            spread = st.tuples(st.integers(0, fragments - 1), directives()).map(
                lambda s: f"...F{s[0]} {s[1]}"
            )
            options.append(spread)
        return st.lists(st.one_of(*options), min_size=1, max_size=4).map(" ".join)

    return st.recursive(st.lists(item, min_size=1, max_size=4).map(" ".join), extend, max_leaves=8)


@st.composite
def bars_arguments(draw: st.DrawFn, root: bool) -> str:
    parts = []
    if root:
        parts.append(f'ticker: "{draw(st.sampled_from(TICKERS))}"')
    timeframe = draw(st.none() | st.sampled_from(TIMEFRAMES))
    if timeframe:
        parts.append(f"timeframe: {timeframe}")
    start = draw(st.none() | st.none() | st.sampled_from(STARTS))
    if start:
        parts.append(f'from: "{start}"')
    limit = draw(st.none() | st.integers(1, 8) | st.sampled_from((0, 25, 400)))
    if limit is not None:
        parts.append(f"limit: {limit}")
    order = draw(st.none() | st.sampled_from(("ASC", "DESC")))
    if order:
        parts.append(f"order: {order}")
    return f"({', '.join(parts)})" if parts else ""


@st.composite
def documents(draw: st.DrawFn) -> Document:
    aliases = draw(
        st.dictionaries(st.sampled_from(ALIAS_NAMES), st.sampled_from(BAR_FIELDS), max_size=5)
    )
    # fragment i spreads only fragments below i: no cycles
    bodies = [draw(selection(aliases, i)) for i in range(draw(st.integers(0, 3)))]
    used_bodies: list[str] = []

    def bars_selection() -> str:
        body = draw(selection(aliases, len(bodies)))
        used_bodies.append(body)
        return body

    roots = []
    for index in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            arguments = draw(bars_arguments(root=True))
            roots.append(f"r{index}: bars{arguments} {{ {bars_selection()} }}")
            continue
        tickers = draw(st.lists(st.sampled_from(TICKERS), min_size=1, max_size=4, unique=True))
        inner = ["ticker"]
        for sub in range(draw(st.integers(1, 2))):
            inner.append(f"b{sub}: bars{draw(bars_arguments(root=False))} {{ {bars_selection()} }}")
        if draw(st.integers(0, 4)) == 0:
            inner.append(f"latestBar(timeframe: M1) {{ {bars_selection()} }}")
        listed = ", ".join(f'"{t}"' for t in tickers)
        roots.append(f"s{index}: symbols(tickers: [{listed}]) {{ {' '.join(inner)} }}")

    used: set[int] = set()
    pending = list(used_bodies)
    while pending:
        for spread in map(int, re.findall(r"\.\.\.F(\d+)", pending.pop())):
            if spread not in used:
                used.add(spread)
                pending.append(bodies[spread])
    fragments = "\n".join(f"fragment F{i} on Bar {{ {bodies[i]} }}" for i in sorted(used))
    operation = "\n  ".join(roots)
    names = sorted(set(re.findall(r"\$(v\d)", operation + fragments)))
    declared = ", ".join(f"${n}: {VARIABLES[n]}" for n in names)
    text = f"query Q{f'({declared})' if declared else ''} {{\n  {operation}\n}}\n{fragments}"
    values: dict[str, bool | None] = {}
    for name in names:
        if VARIABLES[name].endswith("!"):
            values[name] = draw(st.booleans())
        else:  # nullable with a default: omitted, true, false, or an explicit null
            value = draw(st.sampled_from((True, False, None, "omit")))
            if value != "omit":
                values[name] = value  # type: ignore[assignment]
    return Document(text, values)


def bar_fragments(text: str, bodies: list[str]) -> str:
    """The definitions of the fragments `F<i>` on Bar (bodies[i]) that `text` spreads, directly
    or through other fragments."""
    used = sorted({int(i) for i in re.findall(r"\.\.\.F(\d+)", text)})
    while True:
        more = sorted(
            {int(i) for n in used for i in re.findall(r"\.\.\.F(\d+)", bodies[n])} - set(used)
        )
        if not more:
            break
        used = sorted({*used, *more})
    return "\n".join(f"fragment F{i} on Bar {{ {bodies[i]} }}" for i in used)


# Arguments a compiled operation (schema/compiled.py) takes as variables, with values of the
# right type, of the wrong type (a variable error) and out of range (a resolver error).
ARGUMENT_VARIABLES = {
    "ticker": ("String!", st.sampled_from((*TICKERS, ODD, ODD, 7))),
    "limit": ("Int", st.sampled_from((None, 1, 2, 3, 5, 8, 0, 400, -1, 10**6, "x"))),
    "timeframe": ("Timeframe", st.sampled_from((None, "M1", "D1", "H1", "M5", "X1"))),
    "order": ("SortOrder = DESC", st.sampled_from(("ASC", "DESC", "omit"))),
}


@st.composite
def plain_fragments(draw: st.DrawFn, max_aliases: int) -> tuple[dict[str, str], list[str]]:
    """Aliases of Bar fields, and bodies of up to two fragments on Bar (F0, F1) that use them,
    without directives."""
    aliases = draw(
        st.dictionaries(
            st.sampled_from(ALIAS_NAMES), st.sampled_from(BAR_FIELDS), max_size=max_aliases
        )
    )
    bodies = [
        draw(selection(aliases, i, with_directives=False)) for i in range(draw(st.integers(0, 2)))
    ]
    return aliases, bodies


@st.composite
def compiled_documents(draw: st.DrawFn) -> Document:
    """Documents a compiled operation answers: root `bars` fields only (aliased, several),
    selections with aliases, fragments and `__typename` but no directive, and arguments given
    as literals or variables (whose values may be wrong). Named or not."""
    aliases, bodies = draw(plain_fragments(max_aliases=4))
    declared: dict[str, str] = {}
    values: dict[str, object] = {}
    roots = []
    for index in range(draw(st.integers(1, 3))):
        literal = draw(bars_arguments(root=True)).strip("()")
        parts = [p for p in literal.split(", ") if p]
        for name, (kind, strategy) in ARGUMENT_VARIABLES.items():
            if not draw(st.booleans()):
                continue
            parts = [p for p in parts if not p.startswith(f"{name}:")]
            variable = f"{name}{index}"
            parts.append(f"{name}: ${variable}")
            declared[variable] = kind
            value = draw(strategy)
            if value != "omit":
                values[variable] = value
        body = draw(selection(aliases, len(bodies), with_directives=False))
        roots.append(f"r{index}: bars({', '.join(parts)}) {{ {body} }}")
    text = "\n".join(roots)
    fragments = bar_fragments(text, bodies)
    signature = ", ".join(f"${name}: {kind}" for name, kind in declared.items())
    name = draw(st.sampled_from(("", "query Q", "query")))
    head = f"{name or 'query'}{f'({signature})' if signature else ''}"
    if not name and not signature:
        head = ""
    operation = "\n  ".join(roots)
    return Document(f"{head} {{\n  {operation}\n}}\n{fragments}", values)


AGGREGATE_FIELDS = (
    "ticker", "from", "to", "open", "high", "low", "close", "volume", "vwap", "trades",
    "barCount", "change", "changePercent", "firstBarTime", "lastBarTime", "__typename",
)  # fmt: skip
WINDOWS = (
    ("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z"),  # a day
    ("2024-05-06T00:00:00Z", "2024-05-06T00:04:00Z"),  # minutes, some of them refused values
    ("2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z"),  # a month
    ("2024-05-07T00:00:00Z", "2024-05-06T00:00:00Z"),  # reversed: an error for each symbol
)
# the timeframe of `latestBar` as a variable: right, null (an argument error for each symbol:
# the argument is non-null with a default), omitted (the default) and unknown (refused)
TIMEFRAME_VALUES = ("M1", "D1", "H1", None, "omit", "X1")


@st.composite
def compiled_symbol_documents(draw: st.DrawFn) -> Document:
    """Documents of root `symbols` fields whose items select plain columns and the objects of
    `latestBar` and `aggregate` (the fields with resolvers of their own a compiled operation
    resolves for all items at once): aliased, with fragments on Bar, over tickers with and
    without bars and with refused values, literal or variable timeframes; no directives."""
    aliases, bodies = draw(plain_fragments(max_aliases=3))
    declared: dict[str, str] = {}
    values: dict[str, object] = {}
    roots = []
    for index in range(draw(st.integers(1, 2))):
        items = draw(st.lists(st.sampled_from(("ticker", "__typename", "t: ticker")), unique=True))
        for key in draw(st.lists(st.sampled_from(("latestBar", "d: latestBar")), unique=True)):
            timeframe = f"timeframe: {draw(st.sampled_from(TIMEFRAMES))}"
            if draw(st.booleans()):
                timeframe = f"timeframe: $tf{index}{key[0]}"
                declared[f"tf{index}{key[0]}"] = "Timeframe"
                value = draw(st.sampled_from(TIMEFRAME_VALUES))
                if value != "omit":
                    values[f"tf{index}{key[0]}"] = value
            body = draw(selection(aliases, len(bodies), with_directives=False))
            items.append(f"{key}({timeframe}) {{ {body} }}")
        for key in draw(st.lists(st.sampled_from(("aggregate", "w: aggregate")), unique=True)):
            start, end = draw(st.sampled_from(WINDOWS))
            basis = draw(st.sampled_from(("", ", basis: M1", ", basis: D1")))
            fields = draw(st.lists(st.sampled_from(AGGREGATE_FIELDS), min_size=1, unique=True))
            items.append(f'{key}(from: "{start}", to: "{end}"{basis}) {{ {" ".join(fields)} }}')
        tickers = draw(st.lists(st.sampled_from(TICKERS), min_size=1, max_size=4, unique=True))
        listed = ", ".join(f'"{t}"' for t in tickers)
        selected = " ".join(draw(st.permutations(items))) or "ticker"
        roots.append(f"s{index}: symbols(tickers: [{listed}]) {{ {selected} }}")
    text = "\n".join(roots)
    fragments = bar_fragments(text, bodies)
    signature = ", ".join(f"${name}: {kind}" for name, kind in declared.items())
    head = f"query S({signature})" if signature else draw(st.sampled_from(("", "query S")))
    operation = "\n  ".join(roots)
    return Document(f"{head} {{\n  {operation}\n}}\n{fragments}", values)
