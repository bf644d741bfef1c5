"""Connection: picks a backend from the configuration, owns transactions and caches.

`dj.conn()` returns one shared connection made from `dj.config`; with no
configuration at all that is a SQLite file (the embedded default).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from djframe.backends.base import Backend
from djframe.errors import DataJointError, LostConnectionError, TransactionError
from djframe.settings import refuse_in_thread_safe_mode

logger = logging.getLogger("djframe")

_BACKEND_ALIASES = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql",
                    "mariadb": "mysql", "sqlite": "sqlite"}


def make_backend(settings: dict):
    """Instantiate the backend named in connection settings."""
    kind = _BACKEND_ALIASES.get(str(settings.get("backend", "sqlite")).lower())
    if kind == "sqlite":
        from djframe.backends.sqlite.driver import SQLiteBackend
        return SQLiteBackend(settings["path"])
    if kind == "postgresql":
        from djframe.backends.postgres.driver import PostgresBackend
        return PostgresBackend(**_server_args(settings))
    if kind == "mysql":
        from djframe.backends.mysql.driver import MySQLBackend
        return MySQLBackend(**_server_args(settings))
    raise DataJointError(f"Unknown database.backend {settings.get('backend')!r}; use sqlite, postgresql or mysql.")


def _server_args(settings: dict) -> dict:
    return {k: settings.get(k) for k in ("host", "port", "user", "password", "database_name", "use_tls")}


class Connection:
    """A database connection with DataJoint transaction semantics.

    ``Connection(host, user, password, port=None, use_tls=None, *, database_name=None, backend=None,
    config_override=None)`` is the reference client's constructor: it connects at once, with the
    settings of `dj.config` where an argument is not given (``host`` may be ``"host:port"``).
    """

    def __init__(self, host=None, user=None, password=None, port=None, use_tls=None, *, database_name=None,
                 backend=None, config_override=None, config=None):
        if isinstance(host, Backend):  # Connection(backend, settings[, config]): an opened backend
            self._attach(host, user, config if config is not None else password)
            return
        cfg = config
        if cfg is None:
            from djframe.settings import config as cfg
        given = {"database.host": host, "database.user": user, "database.password": password,
                 "database.port": port, "database.use_tls": use_tls, "database.name": database_name,
                 "database.backend": backend}
        overrides = {k.replace("__", "."): v for k, v in (config_override or {}).items()}
        overrides.update({k: v for k, v in given.items() if v is not None})
        with cfg.override(**overrides):
            settings = cfg.connection_settings()
        check_server_named(host, settings)
        self._attach(make_backend(settings), settings, config)

    @classmethod
    def over(cls, backend, settings: dict | None = None, config=None) -> "Connection":
        """A Connection around an already opened backend (tests, Instance, worker processes)."""
        connection = cls.__new__(cls)
        connection._attach(backend, settings, config)
        return connection

    def _attach(self, backend, settings, config):
        from djframe.query.usersql import load_dialects
        load_dialects(backend.sqlglot_dialect)
        self.backend = backend
        self.settings = dict(settings or {})
        self._config = config
        self.query_cache = None  # a QueryCache while set_query_cache(key) is on
        self.schemas: dict = {}
        self._in_transaction = False
        self._specs: dict = {}
        self._schema_catalog: dict = {}  # schema -> (foreign keys, lineage), for loading specs
        self._dependencies = None
        self._closed = False
        self._transaction_lost = False

    @property
    def config(self):
        """The settings this connection works under: its `Instance`'s own, else `dj.config`."""
        if self._config is not None:
            return self._config
        from djframe.settings import config
        return config

    # ----- query cache ----------------------------------------------------------------
    def set_query_cache(self, query_cache: str | None = None) -> None:
        """Answer queries from results saved under ``query_cache`` (a key) in ``config["query_cache"]``,
        saving what is asked for the first time; None turns caching off. Writes are refused meanwhile."""
        from djframe.query.cache import open_cache
        self.query_cache = open_cache(self, query_cache)

    def purge_query_cache(self) -> None:
        """Remove every saved query result from ``config["query_cache"]``."""
        from djframe.query.cache import purge
        purge(self)

    def refuse_while_caching(self, what: str) -> None:
        if self.query_cache is not None:
            raise DataJointError(f"Cannot {what} while query caching is on (key {self.query_cache.key!r}): only "
                                 "queries are allowed, since saved results would hide the change. Call "
                                 "conn.set_query_cache(None) first.")

    def read_rows(self, sql: str) -> list:
        """Small query results (counts, existence), from the query cache when it is on."""
        if self.query_cache is None:
            return self.backend.fetch_rows(sql)
        return self.query_cache.rows(sql, lambda: self.backend.fetch_rows(sql))

    # ----- identity -------------------------------------------------------------------
    def get_user(self) -> str:
        """Who the server says this connection is (``user@host`` on MySQL)."""
        return self.backend.current_user()

    def register(self, schema) -> None:
        """Record a Schema as using this connection (``conn.schemas``)."""
        self.schemas[schema.database] = schema

    def connect(self) -> None:
        """Open the connection again (after close() or a lost server); an open transaction is lost."""
        try:
            self.backend.close()
        except Exception:  # already closed or broken: replaced below
            pass
        self.backend = make_backend(self.settings)
        self._in_transaction = False
        self._closed = False

    def clone(self) -> "Connection":
        """A new connection with this one's settings and config, on a session of its own: for a thread
        that must not share this one (a worker's heartbeat while it makes a key in a transaction)."""
        return Connection.over(make_backend(self.settings), self.settings, self._config)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def __repr__(self):
        state = "connected" if self.is_connected else "disconnected"
        return f"DataJoint connection ({state}) {self.address}"

    @property
    def address(self) -> str:
        """Where this connection goes, as a URL without the password."""
        s = self.settings
        if self.backend.name == "sqlite":
            return f"sqlite:///{s.get('path')}"
        db = f"/{s['database_name']}" if s.get("database_name") and self.backend.name == "postgresql" else ""
        return f"{self.backend.name}://{s.get('user')}@{s.get('host')}:{s.get('port')}{db}"

    @property
    def is_connected(self) -> bool:
        if self._closed:
            return False
        try:
            self.backend.ping()
            return True
        except Exception:
            return False

    def ping(self):
        self.backend.ping()

    def close(self):
        self.backend.close()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def query(self, sql: str, args=(), *, as_dict=False, suppress_warnings=True, reconnect=None) -> "QueryCursor":
        """Run raw SQL (``%s`` placeholders for ``args``) and return a DB-API style cursor over its rows:
        an escape hatch; prefer query expressions. A closed or lost connection is opened again first
        (``reconnect``, default ``database.reconnect``) unless a transaction was open, since its work
        is gone: that is a LostConnectionError."""
        if self._closed or (reconnect is not False and not self._in_transaction and not self._alive_or_none()):
            self._reopen(reconnect)
        names, rows, count = self.backend.run_query(sql, args)
        return QueryCursor(names, rows, count, as_dict)

    def _alive_or_none(self) -> bool:
        """True unless the backend already knows its link is gone (no round trip)."""
        return not getattr(self.backend, "is_closed", lambda: False)()

    def _reopen(self, reconnect) -> None:
        if self._in_transaction:
            self._transaction_lost = True  # told to the caller now; its `with conn.transaction` commits nothing
            raise LostConnectionError("The connection was closed inside a transaction, whose changes are lost. "
                                      "Cancel the transaction (or leave its `with` block) and run it again.")
        if reconnect is None:
            reconnect = self.config["database.reconnect"]
        if not reconnect:
            raise LostConnectionError(f"The connection to {self.address} is closed. Call conn.connect() or pass "
                                      "reconnect=True.")
        self.connect()

    # ----- transactions ---------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def start_transaction(self):
        if self._in_transaction:
            raise TransactionError("Nested connections are not supported: a transaction is already open. "
                                   "Commit or cancel it first.")
        self.backend.begin()
        self._in_transaction = True

    @contextmanager
    def snapshot(self):
        """Several reads that must see one state of the database (an export): a transaction at
        snapshot isolation, rolled back after (it writes nothing); inside an open transaction, that one."""
        if self._in_transaction:
            yield self
            return
        self.backend.begin_snapshot()
        self._in_transaction = True
        try:
            yield self
        finally:
            self._in_transaction = False
            self.backend.rollback()

    def commit_transaction(self):
        self._require_transaction("commit")
        self._in_transaction = False
        self.backend.commit()
        self.__dict__.pop("_on_rollback", None)  # store objects written in the transaction stay

    def cancel_transaction(self):
        self._require_transaction("cancel")
        self._in_transaction = False
        try:
            self.backend.rollback()
        except Exception:
            if not self._closed and self.is_connected:
                raise
            # the link is gone and the server has rolled the transaction back itself: the error that
            # cancelled it is what the caller must see, not this one
            logger.warning("The connection to %s was lost; its open transaction was rolled back by the server.",
                           self.address)
        for undo in self.__dict__.pop("_on_rollback", ()):  # remove store objects the rolled-back rows referenced
            undo()
        self._specs.clear()
        self._schema_catalog.clear()
        self._dependencies = None

    def _require_transaction(self, verb):
        if not self._in_transaction:
            raise TransactionError(f"Cannot {verb}: no transaction is open.")

    @property
    @contextmanager
    def transaction(self):
        """`with conn.transaction:` commits on success and rolls back on any exception."""
        self.start_transaction()
        self._transaction_lost = False
        try:
            yield self
        except BaseException:
            self.cancel_transaction()
            raise
        else:
            if self._transaction_lost:  # the LostConnectionError raised inside the block was handled there
                logger.warning("The transaction's connection was lost inside the block: nothing was committed.")
                self.cancel_transaction()  # also removes store objects its rows referenced
            else:
                self.commit_transaction()

    @contextmanager
    def atomic(self):
        """All or nothing for one write: its own transaction, or a savepoint inside the caller's
        (so a failed insert in a user's transaction leaves no partial rows and the transaction usable)."""
        if not self._in_transaction:
            with self.transaction:
                yield self
            return
        if getattr(self, "_populating", False):
            # inside make(): any failure rolls back the whole make, so a savepoint per write
            # would only add two round trips per insert
            yield self
            return
        depth = self.__dict__.get("_savepoint_depth", 0)
        name = f"djframe_{depth}"
        self.backend.savepoint(name)
        self._savepoint_depth = depth + 1
        try:
            yield self
        except BaseException:
            if self._in_transaction:
                self.backend.rollback_to_savepoint(name)
            raise
        else:
            self.backend.release_savepoint(name)
        finally:
            self._savepoint_depth = depth

    # ----- catalog caches ----------------------------------------------------------------
    def table_spec(self, schema: str, table: str):
        """The TableSpec of a declared table, read from the catalog once and cached."""
        if self.backend.catalog_changed:  # a statement met a column or table the server no longer has
            self.backend.catalog_changed = False
            self.forget()
        key = (schema, table)
        if key not in self._specs:
            from djframe.define.catalog import load_table_spec
            if schema not in self._schema_catalog:  # foreign keys and lineage are read per schema: once
                self._schema_catalog[schema] = (self.backend.foreign_keys(schema), self.backend.read_lineage(schema))
            foreign_keys, lineage = self._schema_catalog[schema]
            self._specs[key] = load_table_spec(self.backend, schema, table, foreign_keys=foreign_keys,
                                               lineage=lineage)
        return self._specs[key]

    def forget(self, schema: str | None = None):
        """Drop cached catalog facts after DDL."""
        if schema is None:
            self._specs.clear()
            self._schema_catalog.clear()
        else:
            self._specs = {k: v for k, v in self._specs.items() if k[0] != schema}
            self._schema_catalog.pop(schema, None)
        self._dependencies = None

    def reload_dependencies(self):
        """Read the foreign-key graph again (another process may have declared tables since)."""
        self._dependencies = None

    @property
    def adapter(self):
        """The reference's database adapter, for the calls user code makes of it (quote_identifier)."""
        backend = self.backend
        return type("Adapter", (), {"backend": backend, "quote_identifier": staticmethod(backend.quote)})()

    @property
    def dependencies(self):
        """The foreign-key graph of every schema on the server (loaded lazily)."""
        if self._dependencies is None:
            from djframe.graph.dependencies import Dependencies
            self._dependencies = Dependencies.from_backend(self.backend, self)
        return self._dependencies


class QueryCursor:
    """The rows of one `Connection.query`, read like a DB-API cursor (fetchone, fetchall, iteration)."""

    def __init__(self, names, rows, rowcount, as_dict=False):
        self.description = [(n, None, None, None, None, None, None) for n in names] if names else None
        self.rowcount = rowcount
        self._rows = [dict(zip(names, r)) for r in rows] if as_dict and names else [tuple(r) for r in rows]
        self._at = 0

    def fetchone(self):
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchmany(self, size=1):
        rows = self._rows[self._at:self._at + size]
        self._at += len(rows)
        return rows

    def fetchall(self):
        rows = self._rows[self._at:]
        self._at = len(self._rows)
        return rows

    def __iter__(self):
        return iter(self.fetchall())

    def close(self):
        self._rows, self._at = [], 0


_connection: Connection | None = None


def conn(host=None, user=None, password=None, *, reset=False, backend=None, url=None, **kwargs) -> Connection:
    """The shared connection, created from `dj.config` on first use."""
    global _connection
    refuse_in_thread_safe_mode("dj.conn()")
    if _connection is not None and not reset:
        return _connection  # as the reference: arguments count only for a new connection
    from djframe.settings import config
    overrides = {k: v for k, v in {"database.host": host, "database.user": user,
                                   "database.password": password, "database.backend": backend,
                                   "database.url": url}.items() if v is not None}
    with config.override(**overrides):
        settings = config.connection_settings()
    check_server_named(host, settings)
    if _connection is not None:
        try:
            _connection.close()
        except Exception:
            pass
    _connection = Connection.over(make_backend(settings), settings)
    where = settings.get("path") if settings["backend"] == "sqlite" else f"{settings.get('host')}:{settings.get('port')}"
    logger.info("djframe connected to %s at %s", settings["backend"], where)
    return _connection


def check_server_named(host, settings) -> None:
    """A host given for the embedded database would be ignored: say which backend to use instead."""
    if host is not None and settings["backend"] == "sqlite":
        raise DataJointError(f"A host ({host!r}) was given, but the backend is sqlite, the embedded database, "
                             "which has none. Pass backend='postgresql' or backend='mysql' (or set "
                             "database.backend).")


def set_connection(connection: Connection | None):
    """Replace the shared connection (tests and Instance-style use)."""
    global _connection
    _connection = connection
