"""Each answered request is counted under its endpoint and status, and timed under its
endpoint, however often the same series recur (their handles are kept after first use)."""

from __future__ import annotations

from gateway.observability.metrics import Metrics

BARS = "POST /graphql:Bars"


def test_each_status_and_endpoint_is_its_own_series() -> None:
    metrics = Metrics()
    for endpoint, status in [(BARS, 200), (BARS, 200), (BARS, 400), ("GET /health", 200)]:
        metrics.observe_request(endpoint, status, 0.25, None, False)
    text = metrics.exposition().decode()
    assert f'marketgraph_requests_total{{endpoint="{BARS}",status="200"}} 2.0' in text
    assert f'marketgraph_requests_total{{endpoint="{BARS}",status="400"}} 1.0' in text
    assert 'marketgraph_requests_total{endpoint="GET /health",status="200"} 1.0' in text
    assert f'_count{{endpoint="{BARS}"}} 3.0' in text  # the latency histogram
    assert f'_sum{{endpoint="{BARS}"}} 0.75' in text
