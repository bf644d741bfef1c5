"""``dj.Instance``: a configuration and a connection of its own, with the table verbs bound to it."""

from __future__ import annotations

from djframe.connection import Connection, check_server_named, make_backend
from djframe.settings import Config
from djframe.tables.schema import Schema
from djframe.tables.table import FreeTable


class Instance:
    """A configuration and a connection of its own, independent of `dj.config` and `dj.conn()`:
    several in one process (threads, tests, two databases) never share settings."""

    def __init__(self, host=None, user=None, password=None, port=None, use_tls=None, backend=None, **settings):
        self.config = Config()
        if backend is not None:
            self.config["database.backend"] = backend
        for key, value in settings.items():
            self.config[key.replace("__", ".")] = value
        given = {"database.host": host, "database.user": user, "database.password": password,
                 "database.port": port, "database.use_tls": use_tls}
        for key, value in given.items():
            if value is not None:
                self.config[key] = value
        connection_settings = self.config.connection_settings()
        check_server_named(host, connection_settings)
        self.connection = Connection.over(make_backend(connection_settings), connection_settings, config=self.config)

    def __repr__(self):
        return f"Instance({self.connection!r})"

    def Schema(self, schema_name, *, context=None, create_schema=True, create_tables=None, add_objects=None):
        return Schema(schema_name, context, connection=self.connection,
                      create_schema=create_schema, create_tables=create_tables, add_objects=add_objects)

    def FreeTable(self, full_name):
        return FreeTable(self.connection, full_name)

    def close(self):
        self.connection.close()
