"""djframe.backends.sqlite."""
