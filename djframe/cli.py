"""``djframe`` console: a Python REPL with djframe loaded as ``dj`` and schemas as virtual modules.

The reference client's ``dj`` command, with the same options (``-u``, ``-p``,
``--host host:port``, ``-s schema:alias``), plus ``--backend`` because
djframe's default database is the embedded SQLite file::

    djframe --backend postgresql --host 127.0.0.1:5432 -u postgres -s my_lab:lab
    python -m djframe -s my_lab:lab        # the connection from dj.config
"""

from __future__ import annotations

import argparse
import code
import re

_SCHEMA_ALIAS = re.compile(r"^(?P<schema>[A-Za-z0-9_$-]+)(?::(?P<alias>[A-Za-z_][A-Za-z0-9_]*))?$")


def parser() -> argparse.ArgumentParser:
    from . import __version__
    from .settings import BACKENDS
    p = argparse.ArgumentParser(prog="djframe", description="djframe interactive console: a Python REPL with "
                                "djframe loaded as `dj` (DataJoint 2.x compatible).",
                                epilog="Example: djframe --backend mysql --host localhost:3306 -s my_lab:lab")
    p.add_argument("-V", "--version", action="version", version=f"djframe {__version__}")
    p.add_argument("-u", "--user", help="database user (default: from dj.config)")
    p.add_argument("-p", "--password", help="database password (default: from dj.config)")
    p.add_argument("--host", help="database host as host:port (default: from dj.config)")
    p.add_argument("--backend", choices=BACKENDS, help="database backend (default: from dj.config, else sqlite)")
    p.add_argument("-s", "--schemas", nargs="+", default=[], metavar="SCHEMA:ALIAS",
                   help="load schemas as virtual modules, each as schema_name:alias (alias defaults to the name)")
    return p


def schema_aliases(specs: list, p: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """(schema, alias) pairs from ``schema:alias`` arguments; a malformed one ends with a usage error."""
    pairs = []
    for spec in specs:
        match = _SCHEMA_ALIAS.match(spec)
        if match is None:
            p.error(f"-s {spec!r}: expected schema_name:alias, the alias a Python identifier (e.g. my_lab:lab)")
        schema = match["schema"]
        alias = match["alias"] or schema
        if not alias.isidentifier():
            p.error(f"-s {spec!r}: {alias!r} is not a Python name; give an alias, e.g. {schema}:{schema.replace('-', '_')}")
        pairs.append((schema, alias))
    return pairs


def namespace(args, p: argparse.ArgumentParser) -> dict:
    """The REPL's globals: ``dj`` connected as asked, and one virtual module per ``-s`` schema."""
    import djframe as dj
    pairs = schema_aliases(args.schemas, p)
    given = {"host": args.host, "user": args.user, "password": args.password, "backend": args.backend}
    connection = dj.conn(**given, reset=True) if any(v is not None for v in given.values()) else dj.conn()
    local = {"dj": dj}
    for schema, alias in pairs:
        if schema not in dj.list_schemas(connection):
            p.error(f"-s {schema}: no such schema on this server (dj.list_schemas() lists the ones there are)")
        local[alias] = dj.VirtualModule(alias, schema, connection=connection)
    return local


def cli(argv: list[str] | None = None, interact=code.interact) -> None:
    """Entry point of the ``djframe`` command (``interact`` is replaceable for tests)."""
    p = parser()
    args = p.parse_args(argv)
    local = namespace(args, p)
    loaded = ", ".join(name for name in local if name != "dj")
    banner = "djframe console: `dj` is djframe" + (f"; schemas loaded as {loaded}" if loaded else "")
    interact(banner=banner, local=local, exitmsg="")
