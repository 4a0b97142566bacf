"""marketgraph storage layer."""
