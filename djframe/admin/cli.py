"""The ``djframe`` command's options and sub-commands; the console itself is `djframe.__main__`
(a Python REPL with djframe loaded as ``dj`` and schemas as virtual modules).

The reference client's ``dj`` command, with the same options (``-u``, ``-p``,
``--host host:port``, ``-s schema:alias``), plus ``--backend`` because
djframe's default database is the embedded SQLite file::

    djframe --backend postgresql --host 127.0.0.1:5432 -u postgres -s my_lab:lab
    djframe --url postgresql://postgres@127.0.0.1:5432/test
    djframe --sqlite pipeline.db -s my_lab:lab
    python -m djframe -s my_lab:lab        # the connection from dj.config

A database that cannot be reached ends the command with one line naming it and
what to check (exit status 1), not a traceback.

``djframe worker module.Table`` runs the table's populate loop (reserve, make, complete) on the
database job queue, for batch schedulers (SLURM arrays, Kubernetes Indexed Jobs); see docs/scaling.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
from pathlib import Path

_SCHEMA_ALIAS = re.compile(r"^(?P<schema>[A-Za-z0-9_$-]+)(?::(?P<alias>[A-Za-z_][A-Za-z0-9_]*))?$")


def installed_version() -> str:
    """The installed distribution's version (a source tree without metadata says 0.1.0)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("djframe")
    except PackageNotFoundError:
        return "0.1.0"


def parser() -> argparse.ArgumentParser:
    __version__ = installed_version()
    p = argparse.ArgumentParser(prog="djframe", description="djframe interactive console: a Python REPL with "
                                "djframe loaded as `dj` (DataJoint 2.x compatible).",
                                epilog="Example: djframe --backend mysql --host localhost:3306 -s my_lab:lab. "
                                "Batch workers: djframe worker module.Table --until-empty (djframe worker -h)")
    p.add_argument("-V", "--version", action="version", version=f"djframe {__version__}")
    add_connection_options(p)
    p.add_argument("-s", "--schemas", nargs="+", default=[], metavar="SCHEMA:ALIAS",
                   help="load schemas as virtual modules, each as schema_name:alias (alias defaults to the name)")
    return p


def add_connection_options(p: argparse.ArgumentParser) -> None:
    """-u, -p, --host, --backend, --url, --sqlite: the database to use (default: dj.config's)."""
    from djframe.settings import BACKENDS
    p.add_argument("-u", "--user", help="database user (default: from dj.config)")
    p.add_argument("-p", "--password", help="database password (default: from dj.config)")
    p.add_argument("--host", help="database host as host:port (default: from dj.config)")
    p.add_argument("--backend", choices=BACKENDS, help="database backend (default: from dj.config, else sqlite)")
    add_database_choice(p)


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


def add_database_choice(p: argparse.ArgumentParser) -> None:
    """--url and --sqlite: the whole connection in one option, instead of --backend/--host."""
    p.add_argument("--url", help="database URL: postgresql://user:password@host:port/dbname, "
                   "mysql://user@host:port or sqlite:///relative.db (sqlite:////absolute.db)")
    p.add_argument("--sqlite", metavar="FILE", help="use the SQLite database in FILE (created if missing)")


def connection_request(args, p: argparse.ArgumentParser) -> dict:
    """The dj.conn() arguments the options ask for ({} means dj.config's connection); conflicting
    options end with a usage error."""
    if args.url and (args.sqlite or args.host or args.backend):
        p.error("--url names the whole database: give it without --sqlite, --host or --backend")
    if args.url:
        check_url(args.url, p)
    if args.sqlite:
        if args.host or args.backend not in (None, "sqlite"):
            p.error("--sqlite FILE is the embedded database, which has no host: drop --host/--backend, "
                    "or use --url for a server")
        return {"url": "sqlite:///" + str(Path(args.sqlite).expanduser().resolve())}
    given = {"host": args.host, "user": args.user, "password": args.password, "backend": args.backend,
             "url": args.url}
    return {k: v for k, v in given.items() if v is not None}


def check_url(url: str, p: argparse.ArgumentParser) -> None:
    from djframe.errors import DataJointError
    from djframe.settings import parse_url
    try:
        parse_url(url)
    except DataJointError as error:
        p.error(f"--url: {one_line(error)}")


def connect(request: dict, p: argparse.ArgumentParser):
    """dj.conn() as requested; a failure ends the command with one line naming the database.

    The connection's log lines are held back: the banner (or the failure) names the database.
    """
    from djframe.connection import conn
    try:
        with quiet_log():
            return conn(**request, reset=True) if request else conn()
    except Exception as error:
        p.exit(1, f"djframe: {connection_failure(error, requested_database(request))}\n")


@contextlib.contextmanager
def quiet_log():
    """Hold back djframe's info lines (a filter: dj.config resets the logger's level)."""
    log = logging.getLogger("djframe")
    only_warnings = logging.Filter()
    only_warnings.filter = lambda record: record.levelno >= logging.WARNING
    log.addFilter(only_warnings)
    try:
        yield
    finally:
        log.removeFilter(only_warnings)


def requested_database(request: dict) -> str:
    """'mysql at 127.0.0.1:1 as root' / 'sqlite at /path/x.db': what the request reaches, no password."""
    from djframe.settings import config
    keys = {"host": "database.host", "user": "database.user", "password": "database.password",
            "backend": "database.backend", "url": "database.url"}
    try:
        with quiet_log(), config.override(**{keys[k]: v for k, v in request.items()}):
            return describe_settings(config.connection_settings())
    except Exception as error:
        return f"the database asked for ({one_line(error)})"


def describe_settings(settings: dict) -> str:
    if settings["backend"] == "sqlite":
        return f"sqlite at {settings['path']}"
    user = f" as {settings['user']!r}" if settings.get("user") else ""
    return f"{settings['backend']} at {settings['host']}:{settings['port']}{user}"


def describe_connection(connection) -> str:
    try:
        return describe_settings(connection.settings)
    except (AttributeError, KeyError, TypeError):
        return connection.backend.name


def connection_failure(error: Exception, database: str) -> str:
    """One line: which database could not be reached, why, and what to check."""
    reason = one_line(error)
    if "sqlite at" in database:
        check = "check that the file's folder exists and is writable, or choose another file with --sqlite"
    else:
        check = ("check that the server is running and reachable at that host and port (--host host:port), the "
                 "user and password (-u, -p) and the backend (--backend), or give the whole address with --url")
    if not reason.lower().startswith("cannot connect"):  # the backends' messages name the server already
        reason = f"cannot connect to {database}: {reason}"
    return f"{reason.rstrip('.')}. To fix: {check}."


def one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# ----- djframe worker: reserve -> make -> complete on the job queue -------------------------------
TASK_VARIABLES = ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX")


def worker_parser() -> argparse.ArgumentParser:
    from djframe.tables.jobs import ORDERS
    p = argparse.ArgumentParser(prog="djframe worker", description="Populate a Computed/Imported table from "
                                "the database job queue (reserve -> make -> complete). Any number of workers "
                                "can run at once: each key is reserved by exactly one of them.",
                                epilog="Exit status: 0 done, 1 table or database unavailable, 2 a make() "
                                "raised (its error is in the jobs table).")
    p.add_argument("table", metavar="module.Table", help="importable dotted path of the table class")
    p.add_argument("--restriction", action="append", default=[], metavar="SQL",
                   help="populate only keys matching this SQL condition (repeatable; all must hold)")
    p.add_argument("--max-calls", type=int, metavar="N", help="make at most N keys (in total, with --until-empty)")
    p.add_argument("--until-empty", action="store_true",
                   help="repeat passes until one makes nothing (keys queued meanwhile are made too)")
    p.add_argument("--order", choices=ORDERS, default="original", help="order of keys of one priority")
    p.add_argument("--status", action="store_true",
                   help="print the queue's jobs per status and who holds each reserved job (host, pid, executor "
                   "task, heartbeat, alive/gone/silent), then exit without making anything")
    add_connection_options(p)
    return p


def worker(argv: list[str]) -> int:
    """``djframe worker``: the exit status (0 done, 1 cannot start, 2 some make() raised)."""
    p = worker_parser()
    args = p.parse_args(argv)
    if args.max_calls is not None and args.max_calls < 1:
        p.error("--max-calls N: N must be a positive number")
    request = connection_request(args, p)
    if request:
        connect(request, p)  # before the import: the module's schema uses this connection
    table = import_table(args.table, p)
    connection = table_connection(table, p)
    if args.status:
        print(f"{args.table} on {describe_connection(connection)}: {table.jobs.progress()}")
        return 0
    print(f"djframe worker: {args.table} on {describe_connection(connection)}{task_label()}", file=sys.stderr,
          flush=True)
    made, errors = run_worker(table, args)
    print(f"djframe worker {args.table}: made {made} key(s), {len(errors)} error(s){task_label()}", flush=True)
    for key, error in errors[:5]:
        print(f"  error in {key}: {error}", file=sys.stderr)
    return 2 if errors else 0


def task_label() -> str:
    """' (SLURM_ARRAY_TASK_ID=3)': the scheduler's task index, when one is set, to match logs and jobs."""
    found = [f"{name}={os.environ[name]}" for name in TASK_VARIABLES if os.environ.get(name)]
    return f" ({', '.join(found)}, pid {os.getpid()})" if found else f" (pid {os.getpid()})"


def import_table(path: str, p: argparse.ArgumentParser):
    """The table class at ``module.Table`` (nested: ``module.Master.Part``); failures end with one line."""
    target, attributes = import_longest_module(path, p)
    for name in attributes:
        if not hasattr(target, name):
            p.exit(1, f"djframe worker: {path!r}: {getattr(target, '__name__', target)!r} has no {name!r}\n")
        target = getattr(target, name)
    if not callable(getattr(target, "populate", None)):
        p.exit(1, f"djframe worker: {path!r} is not a Computed or Imported table (it has no populate)\n")
    return target


def import_longest_module(path: str, p: argparse.ArgumentParser):
    """(module, remaining attribute names) for the longest importable module prefix of ``path``."""
    import importlib
    parts = path.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        p.exit(1, f"djframe worker: {path!r}: expected module.Table (a dotted Python path)\n")
    missing = None
    for split in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:split])
        try:
            with quiet_log():
                return importlib.import_module(name), parts[split:]
        except ModuleNotFoundError as error:
            if error.name is None or not name.startswith(error.name):  # the module imports a missing one
                p.exit(1, f"djframe worker: cannot import {name!r}: {one_line(error)}\n")
            missing = missing or error
        except Exception as error:
            p.exit(1, f"djframe worker: cannot import {name!r}: {import_failure(error)}\n")
    p.exit(1, f"djframe worker: cannot import {path!r}: {one_line(missing)} (is its folder on sys.path / "
           f"PYTHONPATH?)\n")


def import_failure(error: Exception) -> str:
    """Why importing the module failed, in one line (a database it cannot reach says what to check)."""
    reason = one_line(error)
    if reason.lower().startswith("cannot connect"):
        return connection_failure(error, "the module's database")
    return f"{type(error).__name__}: {reason}"


def table_connection(table, p: argparse.ArgumentParser):
    """The table's connection, opened now if the import did not; a failure ends with one line."""
    try:
        with quiet_log():
            return table.connection
    except Exception as error:
        p.exit(1, f"djframe worker: {connection_failure(error, requested_database({}))}\n")


def run_worker(table, args) -> tuple[int, list]:
    """One populate pass, or passes until one makes nothing (--until-empty); (keys made, errors)."""
    made, errors, budget = 0, [], args.max_calls
    while budget is None or budget > 0:
        result = table().populate(*args.restriction, reserve_jobs=True, max_calls=budget, order=args.order,
                                  suppress_errors=True, display_progress=False)
        done = result["success_count"] + len(result["error_list"])
        made, errors = made + result["success_count"], errors + result["error_list"]
        budget = None if budget is None else budget - done
        if not args.until_empty or done == 0:
            break
    return made, errors
