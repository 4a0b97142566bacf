"""marketgraph schema layer."""
