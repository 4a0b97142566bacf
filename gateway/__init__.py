"""marketgraph gateway layer."""
