"""djframe.tables."""
