"""What an operator watches: request facts, the 24 h window, Prometheus metrics, alerts."""
