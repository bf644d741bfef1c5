"""djframe.backends.postgres."""
