"""djframe.admin."""
