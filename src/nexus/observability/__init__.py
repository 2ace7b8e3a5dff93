"""Observability: the Agents SDK trace processor that keeps spans for our store, and metrics."""
