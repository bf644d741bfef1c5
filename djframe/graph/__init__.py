"""djframe.graph."""
