"""The upstream market-data provider (Polygon.io): HTTP client, pacing, retries, breaker."""
