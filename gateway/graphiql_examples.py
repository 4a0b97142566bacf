"""What GraphiQL opens on: example operations over the demo data, and where a key goes.

Strawberry's page opens on a generic welcome text with an empty Headers tab. Here it opens on
three operations that answer on `marketgraph demo` data (bars, several symbols in one request,
a window aggregate), and the Headers tab holds `{"X-API-Key": "mg_..."}`. That placeholder is
never sent (the page's fetcher drops it), so the examples run where reads are open and a
pasted key works everywhere else.

Each edit is anchored on one exact line of Strawberry's template: when an anchor is missing
(a new Strawberry), the stock page is served unchanged and a warning logged.
"""

from __future__ import annotations

import json
import logging
from typing import Final

logger = logging.getLogger(__name__)

PLACEHOLDER_KEY: Final = "mg_..."
DEFAULT_HEADERS: Final = json.dumps({"X-API-Key": PLACEHOLDER_KEY}, indent=2)

EXAMPLE_OPERATIONS: Final = """# marketgraph: OHLCV bars over GraphQL.
# Over `marketgraph demo` data (AAPL, MSFT, SPY,
# X:BTCUSD, X:ETHUSD; daily bars 2023-2024, minute
# bars 2024-12-23..31) each operation answers: press
# the run button and pick one. Ctrl-Space completes;
# the Docs pane holds the schema.
#
# A key goes in the Headers tab: {"X-API-Key": "mg_..."}
# (the placeholder itself is never sent). Make one:
#   marketgraph keys create NAME --scope admin

query DailyBars {
  bars(
    ticker: "AAPL"
    timeframe: D1
    from: "2024-12-01T00:00:00Z"
    to: "2025-01-01T00:00:00Z"
  ) {
    time
    open
    high
    low
    close
    volume
  }
}

query SeveralSymbols {
  symbols(tickers: ["AAPL", "MSFT", "X:BTCUSD"]) {
    ticker
    name
    latestBar(timeframe: H1) {
      time
      close
    }
  }
}

query WeekSummary {
  aggregates(
    tickers: ["AAPL", "SPY", "X:ETHUSD"]
    from: "2024-12-23T00:00:00Z"
    to: "2024-12-28T00:00:00Z"
  ) {
    ticker
    open
    close
    change
    changePercent
    volume
    barCount
  }
}
"""
"""The operations GraphiQL opens on (tests run each against the demo data)."""

_SCRIPT: Final = f"""const EXAMPLE_QUERY = {json.dumps(EXAMPLE_OPERATIONS)};
      const DEFAULT_HEADERS = {json.dumps(DEFAULT_HEADERS)};
      // The Headers tab shows where a key goes; its placeholder must never reach the server.
      function withoutPlaceholderKey(send) {{
        return function (params, options) {{
          const headers = Object.fromEntries(
            Object.entries((options && options.headers) || {{}}).filter(
              ([, value]) => value !== {json.dumps(PLACEHOLDER_KEY)},
            ),
          );
          return send(params, Object.assign({{}}, options, {{ headers }}));
        }};
      }}
      const UNUSED_WELCOME = `"""
"""Declares our example and helpers, and turns Strawberry's welcome text into an unused string."""

_EDITS: Final = (
    ("const EXAMPLE_QUERY = `", _SCRIPT),
    ("fetcher: fetcher,", "fetcher: withoutPlaceholderKey(fetcher),"),
    ("headers: headers,", "headers: headers,\n          defaultHeaders: DEFAULT_HEADERS,"),
)


def with_examples(page: str) -> str:
    """Strawberry's GraphiQL page opening on EXAMPLE_OPERATIONS with the key placeholder."""
    missing = [anchor for anchor, _ in _EDITS if page.count(anchor) != 1]
    if missing:
        logger.warning(
            "GraphiQL template changed (%s not found once): serving it without the "
            "marketgraph examples",
            ", ".join(map(repr, missing)),
        )
        return page
    for anchor, replacement in _EDITS:
        page = page.replace(anchor, replacement)
    return page
