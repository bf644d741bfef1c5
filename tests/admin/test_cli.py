"""The `djframe` console: options, virtual modules per -s, clear usage errors."""

import subprocess
import sys

import pytest

import djframe as dj
from djframe.__main__ import cli
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


# ----- choosing the database, and failing to reach it (issue 11) ---------------------------------
def unreachable_args(conn, tmp_path):
    """Options naming a database of the fixture's kind that cannot be reached."""
    if conn.settings["backend"] == "sqlite":
        return ["--sqlite", str(tmp_path / "no-such-folder" / "x.db")], str(tmp_path / "no-such-folder")
    return ["--backend", conn.settings["backend"], "--host", "127.0.0.1:1", "-u", conn.settings["user"]], \
        "127.0.0.1:1"


def database_url(conn):
    s = conn.settings
    if s["backend"] == "sqlite":
        return "sqlite:///" + s["path"]  # an absolute path: sqlite:////tmp/...
    password = f":{s['password']}" if s.get("password") else ""
    database = f"/{s['database_name']}" if s.get("database_name") else ""
    return f"{s['backend']}://{s['user']}{password}@{s['host']}:{s['port']}{database}"


def test_console_connection_failure_is_one_line_naming_the_database(conn, tmp_path, capsys):
    args, where = unreachable_args(conn, tmp_path)
    set_connection(None)
    try:
        with pytest.raises(SystemExit) as exit_:
            cli(args, interact=lambda **kw: pytest.fail("the console must not start"))
        err = capsys.readouterr().err
        assert exit_.value.code == 1
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert where in err and "To fix: check" in err
    finally:
        close_console_connection(conn)


def test_console_script_connection_failure_exits_without_traceback(conn, tmp_path):
    args, where = unreachable_args(conn, tmp_path)
    out = subprocess.run([sys.executable, "-m", "djframe", *args], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and where in out.stderr


def test_console_connects_by_url_and_by_sqlite_file(schema, conn, tmp_path):
    @schema
    class Probe(dj.Manual):
        definition = """
        probe_id : int32
        """
    Probe.insert1({"probe_id": 7})
    seen = {}
    set_connection(None)
    try:
        cli(["--url", database_url(conn), "-s", f"{schema.database}:lab"],
            interact=lambda banner, local, exitmsg: seen.update(banner=banner, local=local))
        assert seen["local"]["lab"].Probe().to_dicts() == [{"probe_id": 7}]
        assert dj.conn().backend.name == conn.backend.name and "connected to " + conn.backend.name in seen["banner"]
        close_console_connection(conn)
        set_connection(None)
        cli(["--sqlite", str(tmp_path / "console.db")], interact=lambda banner, local, exitmsg: seen.update(
            banner=banner))
        assert dj.conn().backend.name == "sqlite" and str(tmp_path / "console.db") in seen["banner"]
        assert (tmp_path / "console.db").exists()
    finally:
        close_console_connection(conn)


def test_console_database_options_conflicts_are_usage_errors(capsys):
    for bad, message in ((["--url", "sqlite:///x.db", "--host", "h:1"], "--url names the whole database"),
                         (["--sqlite", "x.db", "--backend", "mysql"], "--sqlite FILE"),
                         (["--url", "nosuch://x"], "--url: Cannot parse")):
        with pytest.raises(SystemExit) as exit_:
            cli(bad, interact=lambda **kw: pytest.fail("the console must not start"))
        assert exit_.value.code == 2 and message in capsys.readouterr().err
