"""``python -m djframe``: the interactive console (see `djframe.cli`)."""
from djframe.cli import cli

cli()
