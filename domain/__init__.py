"""Types every layer shares: error codes, timeframes, scopes, tickers and records."""
