"""djframe.write."""
