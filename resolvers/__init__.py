"""marketgraph resolvers layer."""
