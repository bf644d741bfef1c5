"""One fixture parametrises every database test over SQLite, PostgreSQL and MySQL/MariaDB.

Server addresses come from environment variables with the machine's defaults.
An unreachable server is a test failure, never a skip (set DJ_TEST_BACKENDS to
run a subset locally, e.g. DJ_TEST_BACKENDS=sqlite).
"""

import contextlib
import fcntl
import os
import tempfile
import uuid

import pytest

import djframe as dj
from djframe.connection import Connection, make_backend, set_connection

ALL_BACKENDS = ("sqlite", "postgresql", "mysql")
BACKENDS = tuple(b for b in os.environ.get("DJ_TEST_BACKENDS", ",".join(ALL_BACKENDS)).split(",") if b)


def server_settings(backend, tmp_dir):
    if backend == "sqlite":
        return {"backend": "sqlite", "path": os.path.join(tmp_dir, "test.sqlite")}
    if backend == "postgresql":
        return {"backend": "postgresql", "host": os.environ.get("DJ_TEST_PG_HOST", "127.0.0.1"),
                "port": int(os.environ.get("DJ_TEST_PG_PORT", 5432)),
                "user": os.environ.get("DJ_TEST_PG_USER", "postgres"),
                "password": os.environ.get("DJ_TEST_PG_PASSWORD", ""),
                "database_name": os.environ.get("DJ_TEST_PG_DATABASE", "test"), "use_tls": False}
    return {"backend": "mysql", "host": os.environ.get("DJ_TEST_MYSQL_HOST", "127.0.0.1"),
            "port": int(os.environ.get("DJ_TEST_MYSQL_PORT", 3306)),
            "user": os.environ.get("DJ_TEST_MYSQL_USER", "root"),
            "password": os.environ.get("DJ_TEST_MYSQL_PASSWORD", ""), "use_tls": False}


@pytest.fixture(scope="session", params=BACKENDS)
def connection(request, tmp_path_factory):
    """A live connection to one backend; failing to connect fails the tests."""
    settings = server_settings(request.param, str(tmp_path_factory.mktemp(request.param)))
    conn = Connection.over(make_backend(settings), settings)
    yield conn
    conn.close()


@pytest.fixture
def conn(connection):
    """The backend's connection, installed as dj.conn() for the test."""
    set_connection(connection)
    dj.config["safemode"] = False
    if connection.in_transaction:
        connection.cancel_transaction()
    yield connection
    if connection.in_transaction:
        connection.cancel_transaction()
    set_connection(None)


@pytest.fixture
def schema_name():
    return f"djf_{uuid.uuid4().hex[:10]}"


DDL_LOCK = os.path.join(tempfile.gettempdir(), "djframe-tests-drop.lock")
_held = False


@contextlib.contextmanager
def drop_lock(exclusive=False):
    """Test processes (xdist workers) drop schemas under a shared lock; a test that runs the reference
    client holds it exclusively. The reference reads information_schema across the whole server, and
    MariaDB fails such a scan ("Table ... doesn't exist") when another client drops a table during it.
    djframe's own catalog reads retry instead (dependencies.py); the reference's cannot be changed."""
    global _held
    if _held:  # this process holds it already (a lock taken twice by one process would wait for itself)
        yield
        return
    with open(DDL_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        _held = True
        try:
            yield
        finally:
            _held = False
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def _reference_runs_alone(request):
    """Tests marked `oracle` (they run the reference client) hold the drop lock exclusively."""
    if request.node.get_closest_marker("oracle") is None:
        yield
        return
    with drop_lock(exclusive=True):
        yield


@pytest.fixture
def schema(conn, schema_name):
    """A fresh schema, dropped after the test."""
    sch = dj.Schema(schema_name, connection=conn)
    yield sch
    if conn.in_transaction:
        conn.cancel_transaction()
    with drop_lock():
        sch.drop(prompt=False)


@pytest.fixture
def backend_name(conn):
    return conn.backend.name
