"""The reference client's Connection API on every backend: the constructor, `query` with its cursor,
placeholders and reconnection, `close`/`is_connected`, the repr and the shared `dj.conn()`."""

import pytest

import djframe as dj
from djframe.connection import Connection, set_connection
from djframe.errors import LostConnectionError
from tests.conftest import server_settings


def open_like_the_reference(backend, tmp_path) -> Connection:
    """dj.Connection(host, user, password, ...) as user code writes it; SQLite takes a path."""
    s = server_settings(backend, str(tmp_path))
    if backend == "sqlite":
        with dj.config.override(database__backend="sqlite", database__path=s["path"]):
            return Connection()
    return Connection(f"{s['host']}:{s['port']}", s["user"], s["password"], use_tls=False, backend=backend,
                      database_name=s.get("database_name"))


@pytest.fixture
def fresh(backend_name, tmp_path):
    connection = open_like_the_reference(backend_name, tmp_path)
    yield connection
    connection.close()


def test_query_returns_a_cursor(fresh):
    cursor = fresh.query("SELECT 1 AS one, 2 AS two")
    assert [d[0] for d in cursor.description] == ["one", "two"]
    assert tuple(cursor.fetchone()) == (1, 2) and cursor.fetchone() is None
    assert fresh.query("SELECT 1 AS one", as_dict=True).fetchall() == [{"one": 1}]
    assert [tuple(r) for r in fresh.query("SELECT 3 UNION ALL SELECT 4")] in ([(3,), (4,)], [(4,), (3,)])


def test_query_binds_arguments_in_the_references_style(fresh):
    """%s placeholders and %% for a percent sign, as the reference's drivers take them, on every driver."""
    row = fresh.query("SELECT %s, %s, '50%%s literal', 'a%%b'", (7, "it's")).fetchone()
    assert tuple(row)[2:] == ("50%s literal", "a%b") and tuple(row)[1] == "it's" and int(row[0]) == 7
    assert fresh.query("SELECT 'x' LIKE 'x%%'").fetchone()[0] in (1, True)


def test_close_and_reconnect(fresh):
    assert fresh.is_connected and "(connected)" in repr(fresh)
    fresh.close()
    assert not fresh.is_connected and "(disconnected)" in repr(fresh)
    assert fresh.query("SELECT 5", reconnect=True).fetchone()[0] == 5
    assert fresh.is_connected


def test_closed_inside_a_transaction_is_an_error(fresh):
    with pytest.raises(LostConnectionError, match="inside a transaction"):
        with fresh.transaction:
            fresh.close()
            fresh.query("SELECT 1", reconnect=True)
    assert not fresh.in_transaction


def test_a_lost_transaction_handled_in_its_block_commits_nothing(fresh, caplog):
    with fresh.transaction:
        fresh.close()
        with pytest.raises(LostConnectionError):
            fresh.query("SELECT 1", reconnect=True)
    assert not fresh.in_transaction and "nothing was committed" in caplog.text
    assert fresh.query("SELECT 2").fetchone()[0] == 2  # reconnects outside the transaction


def test_no_reconnect_when_told_not_to(fresh):
    fresh.close()
    with pytest.raises(LostConnectionError, match="closed"):
        fresh.query("SELECT 1", reconnect=False)


def test_context_manager_closes(backend_name, tmp_path):
    with open_like_the_reference(backend_name, tmp_path) as connection:
        assert connection.query("SELECT 1").fetchone()[0] == 1
    assert not connection.is_connected


def test_shared_connection_keeps_its_arguments(backend_name, tmp_path, monkeypatch):
    """dj.conn(...) with arguments reuses the shared connection until reset=True, as the reference does."""
    s = server_settings(backend_name, str(tmp_path))
    args = {} if backend_name == "sqlite" else dict(host=f"{s['host']}:{s['port']}", user=s["user"],
                                                     password=s["password"])
    overrides = {"database__backend": backend_name, "database__use_tls": False}
    overrides.update({"database__path": s["path"]} if backend_name == "sqlite" else {})
    if s.get("database_name"):
        overrides["database__name"] = s["database_name"]
    set_connection(None)
    try:
        with dj.config.override(**overrides):
            first = dj.conn(**args)
            assert dj.conn() is first and dj.conn(**args) is first
            second = dj.conn(reset=True, **args)
            assert second is not first and dj.conn(**args) is second and second.is_connected
            second.close()
    finally:
        set_connection(None)
