"""djframe.backends.mysql."""
