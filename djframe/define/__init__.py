"""djframe.define."""
