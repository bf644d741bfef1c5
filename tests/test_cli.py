"""The `djframe` console: options, virtual modules per -s, clear usage errors."""

import subprocess
import sys

import pytest

import djframe as dj
from djframe.cli import cli
from djframe.connection import set_connection


def console_args(conn):
    """CLI options and config overrides that reach the same database as the test connection."""
    s = conn.settings
    if s["backend"] == "sqlite":
        return ["--backend", "sqlite"], {"database.path": s["path"]}
    args = ["--backend", s["backend"], "--host", f"{s['host']}:{s['port']}", "-u", s["user"]]
    if s.get("password"):
        args += ["-p", s["password"]]
    return args, {"database.name": s.get("database_name")} if s.get("database_name") else {}


def close_console_connection(conn):
    from djframe import connection as shared
    if shared._connection is not None and shared._connection is not conn:
        shared._connection.close()
    set_connection(conn)


def test_console_loads_schemas_as_virtual_modules(schema, conn):
    @schema
    class Mouse(dj.Manual):
        definition = """
        mouse_id : int32
        ---
        strain : varchar(16)
        """
    Mouse.insert([(1, "C57"), (2, "BALB")])
    args, overrides = console_args(conn)
    seen = {}
    set_connection(None)  # the console opens its own connection (reset would close the test's)
    try:
        with dj.config.override(**overrides):
            cli(args + ["-s", f"{schema.database}:lab"], interact=lambda banner, local, exitmsg: seen.update(
                banner=banner, local=local))
        lab = seen["local"]["lab"]
        assert seen["local"]["dj"] is dj and "lab" in seen["banner"]
        assert sorted(lab.Mouse.to_dicts(), key=lambda r: r["mouse_id"]) == [
            {"mouse_id": 1, "strain": "C57"}, {"mouse_id": 2, "strain": "BALB"}]
        assert dj.conn() is not conn and dj.conn().backend.name == conn.backend.name
    finally:
        close_console_connection(conn)


def test_console_usage_errors(conn, capsys):
    args, overrides = console_args(conn)
    set_connection(None)
    try:
        with dj.config.override(**overrides):
            for bad, message in ((["-s", "lab:9x"], "schema_name:alias"), (["-s", "no-such_db"], "not a Python name"),
                                 (["-s", "djf_missing_schema:m"], "no such schema")):
                with pytest.raises(SystemExit) as exit_:
                    cli(args + bad, interact=lambda **kw: pytest.fail("the console must not start"))
                assert exit_.value.code == 2 and message in capsys.readouterr().err
    finally:
        close_console_connection(conn)


def test_console_script_version():
    out = subprocess.run([sys.executable, "-m", "djframe", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("djframe ") and out.stdout.split()[1] == dj.__version__
