"""``djframe`` and ``python -m djframe``: the interactive console, with the package loaded as ``dj``.

It lives in the package's facade because it hands the whole public API to the user; the options,
the connection and the ``worker`` sub-command are `djframe.admin.cli`'s.
"""

from __future__ import annotations

import argparse
import code
import sys

import djframe as dj
from djframe.admin.cli import connect, connection_request, describe_connection, parser, schema_aliases, worker


def cli(argv: list[str] | None = None, interact=code.interact) -> None:
    """Entry point of the ``djframe`` command (``interact`` is replaceable for tests)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["worker"]:
        raise SystemExit(worker(argv[1:]))
    p = parser()
    args = p.parse_args(argv)
    local = namespace(args, p)
    loaded = ", ".join(name for name in local if name != "dj")
    banner = (f"djframe console, connected to {describe_connection(local['dj'].conn())}: `dj` is djframe"
              + (f"; schemas loaded as {loaded}" if loaded else ""))
    interact(banner=banner, local=local, exitmsg="")


def namespace(args, p: argparse.ArgumentParser) -> dict:
    """The REPL's globals: ``dj`` connected as asked, and one virtual module per ``-s`` schema."""
    pairs = schema_aliases(args.schemas, p)
    connection = connect(connection_request(args, p), p)
    local = {"dj": dj}
    for schema, alias in pairs:
        if schema not in dj.list_schemas(connection):
            p.error(f"-s {schema}: no such schema on this server (dj.list_schemas() lists the ones there are)")
        local[alias] = dj.VirtualModule(alias, schema, connection=connection)
    return local


if __name__ == "__main__":
    cli()
