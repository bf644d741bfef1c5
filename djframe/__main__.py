"""``python -m djframe``: the interactive console (see `djframe.admin.cli`)."""
from djframe.admin.cli import cli

cli()
