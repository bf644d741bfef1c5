"""dj.config: defaults, precedence, files, secrets, validation, URLs and store specs."""

import json
import logging
import os

import pytest

from djframe import settings
from djframe.errors import DataJointError
from djframe.settings import Config


@pytest.fixture
def project(monkeypatch, tmp_path):
    """A clean environment: no DJ_* variables, CWD in a repo root, no system secrets."""
    for var in list(os.environ):
        if var.startswith("DJ_"):
            monkeypatch.delenv(var)
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.setattr(settings, "SYSTEM_SECRETS_DIR", tmp_path / "no-such-secrets")
    level = logging.getLogger("djframe").level
    yield root
    logging.getLogger("djframe").setLevel(level)


def write_config(folder, data):
    (folder / "datajoint.json").write_text(json.dumps(data))


# ---- defaults and access ------------------------------------------------------------------


def test_defaults(project):
    config = Config()
    assert config["database.backend"] == "sqlite"
    assert config.database.host == "localhost"
    assert config["display.limit"] == 12 and config.jobs.default_priority == 5
    assert config.safemode is True and config.stores == {}
    assert config.config_file is None
    assert config.sqlite_path() == str(project.resolve() / "djframe.sqlite")
    assert config.connection_settings() == {
        "backend": "sqlite", "host": None, "port": None, "user": None, "password": None,
        "database_name": None, "path": str(project.resolve() / "djframe.sqlite"), "use_tls": None}


def test_module_config_exists():
    assert isinstance(settings.config, Config)


def test_sqlite_path_next_to_config_file(project):
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    write_config(project, {"database": {"path": "data/x.db"}})
    os.chdir(sub)
    config = Config()
    assert config.config_file == (project / "datajoint.json").resolve()
    assert config.sqlite_path() == str(project.resolve() / "data" / "x.db")
    config["database.path"] = None
    assert config.sqlite_path() == str(project.resolve() / "djframe.sqlite")


def test_search_stops_at_repository_root(project):
    write_config(project.parent, {"database": {"host": "outside"}})
    assert Config()["database.host"] == "localhost"


def test_dict_and_attribute_access(project):
    config = Config()
    config["database.host"] = "a"
    assert config.database.host == "a"
    config.database.host = "b"
    assert config["database.host"] == "b"
    config.safemode = False
    assert config["safemode"] is False
    del config["database.host"]
    assert config["database.host"] == "localhost"
    assert config.get("stores.nope", 7) == 7 and config.get("nonsense") is None
    assert "database.host" in config and "stores.nope" not in config and "nonsense" not in config
    config["database"] = {"user": "u", "port": 1}
    assert config["database"]["user"] == "u" and config.database.port == 1


def test_unknown_key_rejected(project):
    config = Config()
    with pytest.raises(DataJointError, match=r"database\.hots.*\n.*Valid sections: database"):
        config["database.hots"] = "x"
    with pytest.raises(DataJointError, match="nonsense"):
        config["nonsense"]
    with pytest.raises(DataJointError, match="database.hots"):
        config.database.hots
    assert not hasattr(config.database, "hots")
    config["stores.anything.at_all"] = 1  # stores are free-form
    assert config.stores == {"anything": {"at_all": 1}}


@pytest.mark.parametrize("key, value", [
    ("safemode", "maybe"), ("safemode", 2), ("database.port", "abc"), ("database.port", True),
    ("database.port", 70000), ("jobs.default_priority", 128), ("jobs.stale_timeout", -1),
    ("database.backend", "oracle"), ("display.diagram_direction", "RL"),
    ("display.diagram_theme", "blue"), ("loglevel", "LOUD"), ("database.host", 5),
    ("provenance.source", "[1]"),
])
def test_type_validation(project, key, value):
    with pytest.raises(DataJointError) as info:
        Config()[key] = value
    assert key in str(info.value) and repr(value) in str(info.value)


def test_coercion(project):
    config = Config()
    for text, expected in [("yes", True), ("0", False), ("TRUE", True), ("no", False)]:
        config["database.reconnect"] = text
        assert config["database.reconnect"] is expected
    config["database.port"] = "5433"
    assert config["database.port"] == 5433
    config["database.backend"] = "postgres"
    assert config["database.backend"] == "postgresql"
    config["display.diagram_direction"] = "tb"
    assert config["display.diagram_direction"] == "TB"
    config["database.use_tls"] = None
    assert config["database.use_tls"] is None


def test_loglevel_sets_logger(project):
    config = Config()
    config.loglevel = "debug"
    assert config.loglevel == "DEBUG" and logging.getLogger("djframe").level == logging.DEBUG


def test_repr_masks_secrets(project):
    config = Config()
    config["database.password"] = "hunter2"
    config["database.url"] = "postgresql://me:hunter2@db/x"
    config["stores.s"] = {"protocol": "s3", "secret_key": "hunter2"}
    text = repr(config)
    assert "hunter2" not in text and "database.password = '***'" in text and "me:***@db" in text


# ---- loading and precedence ---------------------------------------------------------------


def test_nested_and_flat_json(project):
    write_config(project, {"database": {"host": "nested"}, "display.limit": 3,
                           "stores.main.protocol": "file", "stores": {"other": {"location": "/x"}}})
    config = Config()
    assert config["database.host"] == "nested" and config["display.limit"] == 3
    assert config.stores == {"main": {"protocol": "file"}, "other": {"location": "/x"}}


def test_mapped_env_beats_file(project, monkeypatch):
    write_config(project, {"database": {"host": "file", "port": 1}, "loglevel": "ERROR"})
    monkeypatch.setenv("DJ_HOST", "env")
    monkeypatch.setenv("DJ_LOG_LEVEL", "WARNING")
    config = Config()
    assert config["database.host"] == "env" and config["loglevel"] == "WARNING"
    assert config["database.port"] == 1


def test_unmapped_env_loses_to_file(project, monkeypatch):
    monkeypatch.setenv("DJ_SAFEMODE", "true")
    monkeypatch.setenv("DJ_JOBS_KEEP_COMPLETED", "true")
    write_config(project, {"safemode": False})
    config = Config()
    assert config["safemode"] is False  # the file wins over DJ_SAFEMODE
    assert config["jobs.keep_completed"] is True  # env still beats the default


def test_runtime_beats_all(project, monkeypatch):
    write_config(project, {"database": {"host": "file"}})
    monkeypatch.setenv("DJ_HOST", "env")
    config = Config()
    config["database.host"] = "runtime"
    assert config["database.host"] == "runtime"
    config.reload()
    assert config["database.host"] == "env"


def test_unprefixed_env_quirk_not_reproduced(project, monkeypatch):
    monkeypatch.setenv("LIMIT", "99")
    monkeypatch.setenv("WIDTH", "99")
    monkeypatch.setenv("CHARSET", "latin1")
    config = Config()
    assert (config["display.limit"], config["display.width"], config["connection.charset"]) == (12, 14, "")


def test_djframe_env_vars(project, monkeypatch):
    write_config(project, {"database": {"path": "file.db"}})
    monkeypatch.setenv("DJ_DATABASE_PATH", "/tmp/env.db")
    monkeypatch.setenv("DJ_URL", "mysql://u@h:1")
    config = Config()
    assert config["database.path"] == "/tmp/env.db" and config["database.url"] == "mysql://u@h:1"


def test_bad_values_warn_not_raise(project, monkeypatch):
    monkeypatch.setenv("DJ_PORT", "notaport")
    write_config(project, {"database": {"bogus": 1, "host": "ok"}})
    with pytest.warns(UserWarning) as record:
        config = Config()
    messages = " ".join(str(w.message) for w in record)
    assert "DJ_PORT" in messages and "database.bogus" in messages
    assert config["database.host"] == "ok" and config["database.port"] is None


def test_unreadable_file_warns(project):
    (project / "datajoint.json").write_text("{not json")
    with pytest.warns(UserWarning, match="Could not read"):
        config = Config()
    assert config["database.host"] == "localhost"


def test_missing_file_is_silent(project, recwarn):
    Config()
    assert not [w for w in recwarn if "datajoint" in str(w.message)]


def test_dj_stores_replaces_file_stores(project, monkeypatch):
    write_config(project, {"stores": {"a": {"protocol": "file"}, "default": "a"}})
    monkeypatch.setenv("DJ_STORES", json.dumps({"b": {"protocol": "s3"}}))
    assert Config().stores == {"b": {"protocol": "s3"}}


def test_ignore_config_file(project, monkeypatch):
    write_config(project, {"database": {"host": "file"}})
    (project / ".secrets").mkdir()
    (project / ".secrets" / "database.user").write_text("secret-user")
    monkeypatch.setenv("DJ_IGNORE_CONFIG_FILE", "true")
    config = Config()
    assert config["database.host"] == "localhost" and config["database.user"] is None
    assert config["ignore_config_file"] is True and config.config_file is None


def test_secrets_fill_only_unset(project, monkeypatch):
    write_config(project, {"database": {"user": "file-user"},
                           "stores": {"s": {"protocol": "s3", "access_key": "file-key"}}})
    secrets = project / ".secrets"
    secrets.mkdir()
    (secrets / "database.user").write_text("secret-user\n")
    (secrets / "database.password").write_text("  pw  \n")
    (secrets / "stores.s.access_key").write_text("secret-key")
    (secrets / "stores.s.secret_key").write_text("secret-secret\n")
    (secrets / "stores.t.location").write_text("loc")
    (secrets / ".gitignore").write_text("*")
    config = Config()
    assert config["database.user"] == "file-user" and config["database.password"] == "pw"
    assert config.stores["s"] == {"protocol": "s3", "access_key": "file-key", "secret_key": "secret-secret"}
    assert config.stores["t"] == {"location": "loc"}
    monkeypatch.setenv("DJ_PASS", "env-pw")
    assert Config()["database.password"] == "env-pw"


def test_secrets_fill_dj_stores(project, monkeypatch):
    write_config(project, {})
    (project / ".secrets").mkdir()
    (project / ".secrets" / "stores.b.secret_key").write_text("s")
    monkeypatch.setenv("DJ_STORES", json.dumps({"b": {"protocol": "s3"}}))
    assert Config().stores == {"b": {"protocol": "s3", "secret_key": "s"}}


def test_system_secrets_dir_without_file(project, monkeypatch, tmp_path):
    system = tmp_path / "system-secrets"
    system.mkdir()
    (system / "database.password").write_text("sys")
    monkeypatch.setattr(settings, "SYSTEM_SECRETS_DIR", system)
    assert Config()["database.password"] == "sys"


def test_load(project, tmp_path, monkeypatch):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"database": {"host": "loaded", "user": "u"}}))
    monkeypatch.setenv("DJ_USER", "env-user")
    config = Config()
    config.load(other)
    assert config["database.host"] == "loaded" and config["database.user"] == "env-user"
    with pytest.raises(DataJointError, match="does not exist"):
        config.load(tmp_path / "missing.json")


# ---- override -----------------------------------------------------------------------------


def test_override_restores(project):
    config = Config()
    config["stores.a"] = {"protocol": "file"}
    with config.override(database__host="x", safemode=False, **{"display.limit": 3},
                         stores__b={"protocol": "s3"}):
        assert config["database.host"] == "x" and config.safemode is False
        assert config["display.limit"] == 3 and set(config.stores) == {"a", "b"}
    assert config["database.host"] == "localhost" and config.safemode is True
    assert config["display.limit"] == 12 and config.stores == {"a": {"protocol": "file"}}


def test_override_restores_on_exception(project):
    config = Config()
    with pytest.raises(RuntimeError):
        with config.override(database__host="x", loglevel="DEBUG"):
            raise RuntimeError
    assert config["database.host"] == "localhost" and config.loglevel == "INFO"
    assert logging.getLogger("djframe").level == logging.INFO


def test_override_rejects_bad_input_and_restores(project):
    config = Config()
    with pytest.raises(DataJointError):
        with config.override(database__host="x", database__nope=1):
            pass
    with pytest.raises(DataJointError):
        with config.override(database__host="x", database__port="bad"):
            pass
    assert config["database.host"] == "localhost"


def test_charset_other_than_utf8_is_refused(project):
    config = Config()
    with pytest.raises(DataJointError, match="connection.charset.*utf8mb4"):
        config["connection.charset"] = "latin1"  # LOAD DATA and connectorx read UTF-8: it would mangle text
    config["connection.charset"] = "UTF8MB4"
    assert config["connection.charset"] == "utf8mb4"


# ---- connection settings ------------------------------------------------------------------


def test_postgres_url(project):
    config = Config()
    config["database.url"] = "postgresql://ann:p%40ss@db.example:6543/lab"
    assert config.connection_settings() == {
        "backend": "postgresql", "host": "db.example", "port": 6543, "user": "ann",
        "password": "p@ss", "database_name": "lab", "path": None, "use_tls": None}


def test_postgres_alias_url_defaults(project):
    config = Config()
    config["database.password"] = "from-secrets"
    config["database.url"] = "postgres://bob@pg"
    settings_ = config.connection_settings()
    assert settings_["backend"] == "postgresql" and settings_["port"] == 5432
    assert settings_["database_name"] == "postgres" and settings_["password"] == "from-secrets"


def test_mysql_url(project):
    config = Config()
    config["database.host"] = "ignored"
    config["database.url"] = "mysql://root@mysql.local:3307"
    s = config.connection_settings()
    assert (s["backend"], s["host"], s["port"], s["user"], s["database_name"]) == (
        "mysql", "mysql.local", 3307, "root", None)


def test_sqlite_urls(project):
    config = Config()
    config["database.url"] = "sqlite:////tmp/abs/path.db"
    assert config.connection_settings()["path"] == "/tmp/abs/path.db"
    config["database.url"] = "sqlite:///relative.db"
    assert config.connection_settings()["path"] == str(project.resolve() / "relative.db")
    assert config.sqlite_path() == str(project.resolve() / "relative.db")


def test_env_url_overrides_keys(project, monkeypatch):
    monkeypatch.setenv("DJ_URL", "postgresql://u:p@h/db")
    monkeypatch.setenv("DJ_HOST", "other")
    s = Config().connection_settings()
    assert (s["backend"], s["host"], s["user"], s["password"], s["database_name"]) == (
        "postgresql", "h", "u", "p", "db")


def test_bad_url(project):
    config = Config()
    config["database.url"] = "oracle://x"
    with pytest.raises(DataJointError, match="Cannot parse database.url"):
        config.connection_settings()


def test_host_port_and_default_ports(project):
    config = Config()
    config["database.backend"] = "mysql"
    assert config.connection_settings()["port"] == 3306
    config["database.host"] = "db:3310"
    s = config.connection_settings()
    assert (s["host"], s["port"]) == ("db", 3310)
    config["database.host"] = "db"
    config["database.port"] = 3999
    config["database.name"] = "lab"
    assert config.connection_settings()["port"] == 3999
    config["database.backend"] = "postgresql"
    assert config.connection_settings()["database_name"] == "lab"
    config["database.host"] = "[::1]:6000"
    s = config.connection_settings()
    assert (s["host"], s["port"]) == ("::1", 6000)


def test_postgres_env_alias(project, monkeypatch):
    monkeypatch.setenv("DJ_BACKEND", "postgres")
    s = Config().connection_settings()
    assert (s["backend"], s["host"], s["port"], s["database_name"]) == (
        "postgresql", "localhost", 5432, "postgres")


# ---- stores -------------------------------------------------------------------------------


def test_store_spec_defaults(project, tmp_path):
    config = Config()
    config["stores"] = {"default": "main", "main": {"protocol": "file", "location": str(tmp_path)}}
    spec = config.get_store_spec()
    assert spec == {"protocol": "file", "location": str(tmp_path), "subfolding": None,
                    "partition_pattern": None, "token_length": 8, "hash_prefix": "_hash",
                    "schema_prefix": "_schema", "filepath_prefix": None, "name": "main"}
    assert config.get_store_spec("") == spec  # "" resolves to the default store
    assert config.get_store_spec("main") == spec


def test_store_spec_s3_and_clamping(project):
    config = Config()
    config["stores.s"] = {"protocol": "S3", "location": "p", "endpoint": "e", "bucket": "b",
                          "access_key": "a", "secret_key": "k", "token_length": 40,
                          "secure": "false", "subfolding": [2, 2]}
    spec = config.get_store_spec("s")
    assert spec["protocol"] == "s3" and spec["token_length"] == 16 and spec["secure"] is False
    assert spec["subfolding"] == [2, 2]
    config["stores.s.token_length"] = 1
    assert config.get_store_spec("s")["token_length"] == 4
    del config["stores.s.secure"]
    assert config.get_store_spec("s")["secure"] is True


def test_filepath_default(project, tmp_path):
    config = Config()
    config["stores"] = {"default": "a", "filepath_default": "f",
                        "f": {"protocol": "file", "location": str(tmp_path)}}
    assert config.get_store_spec(use_filepath_default=True)["name"] == "f"


@pytest.mark.parametrize("stores, store, message", [
    ({}, None, "stores.default is not set"),
    ({}, "", "stores.default is not set"),
    ({"default": "x"}, None, "'x' is requested but not configured"),
    ({"a": {"protocol": "file"}}, "b", r"configured stores: a[\s\S]*datajoint.json"),
    ({"a": {"location": "/"}}, "a", "no \"protocol\""),
    ({"a": {"protocol": "ftp", "location": "/"}}, "a", "unknown protocol 'ftp'"),
    ({"a": {"protocol": "file"}}, "a", "missing required setting.*location"),
    ({"a": {"protocol": "file", "location": "/no/such/dir"}}, "a", "not an existing directory"),
    ({"a": {"protocol": "file", "location": "/", "colour": 1}}, "a", "unknown setting.*colour"),
    ({"a": {"protocol": "s3", "location": "p", "bucket": "b"}}, "a", "missing.*endpoint"),
    ({"a": {"protocol": "s3", "location": "p", "bucket": "b", "endpoint": "e", "access_key": "k"}},
     "a", "both access_key and secret_key"),
    ({"a": {"protocol": "gcs", "location": "p"}}, "a", "missing.*bucket"),
    ({"a": {"protocol": "azure", "location": "p"}}, "a", "missing.*container"),
    ({"a": {"protocol": "file", "location": "/", "hash_prefix": "x", "schema_prefix": "x"}},
     "a", "overlap"),
    ({"a": {"protocol": "file", "location": "/", "filepath_prefix": "_hash/files"}}, "a", "overlap"),
    ({"a": {"protocol": "file", "location": "/", "token_length": "long"}}, "a", "token_length"),
])
def test_store_spec_errors(project, stores, store, message):
    config = Config()
    config["stores"] = stores
    with pytest.raises(DataJointError, match=message):
        config.get_store_spec(store)


def test_filepath_default_missing(project):
    config = Config()
    config["stores"] = {"default": "a"}
    with pytest.raises(DataJointError, match="stores.filepath_default is not set"):
        config.get_store_spec(use_filepath_default=True)


# ---- save_template ------------------------------------------------------------------------


def test_save_template(project):
    config = Config()
    path = config.save_template()
    data = json.loads(path.read_text())
    assert data["database"]["backend"] == "sqlite" and data["stores"] == {}
    assert sorted(p.name for p in (project / ".secrets").iterdir()) == [
        ".gitignore", "database.password", "database.user"]
    with pytest.raises(DataJointError, match="already exists"):
        config.save_template()
    assert Config()["database.user"] is None  # empty placeholder secrets are not values


def test_save_template_full(project):
    path = Config().save_template("full.json", minimal=False, create_secrets_dir=False)
    data = json.loads(path.read_text())
    assert data["jobs"]["stale_timeout"] == 3600 and data["safemode"] is True
    assert "password" not in data["database"] and not (project / ".secrets").exists()


# ---- a file written for the reference client: a server, not the embedded default ---------------
@pytest.mark.parametrize("database, backend", [
    ({"host": "db.lab.org", "user": "alice"}, "mysql"),
    ({"host": "db.lab.org:5432"}, "postgresql"),
    ({"host": "db.lab.org", "port": 5432}, "postgresql"),
    ({"port": 3307}, "mysql"),
    ({"host": "db.lab.org", "backend": "postgresql"}, "postgresql"),
    ({"path": "local.sqlite"}, "sqlite"),
])
def test_connection_settings_without_backend_choose_a_server(project, database, backend, caplog):
    write_config(project, {"database": database})
    config = Config()
    with caplog.at_level(logging.INFO, logger="djframe"):
        assert config.connection_settings()["backend"] == backend
    inferred = "backend" not in database and backend != "sqlite"
    assert ("database.backend is not" in caplog.text) == inferred


def test_explicit_sqlite_keeps_the_embedded_database(project):
    write_config(project, {"database": {"backend": "sqlite", "user": "alice"}})
    assert Config().connection_settings()["backend"] == "sqlite"


def test_host_from_the_environment_chooses_a_server(project, monkeypatch):
    monkeypatch.setenv("DJ_HOST", "127.0.0.1:5432")
    assert Config().connection_settings()["backend"] == "postgresql"


def test_reset_key_forgets_that_it_was_set(project):
    config = Config()
    config["database.host"] = "db.lab.org"
    assert config.connection_settings()["backend"] == "mysql"
    del config["database.host"]
    assert config.connection_settings()["backend"] == "sqlite"
    with config.override(database__host="db.lab.org"):
        assert config.connection_settings()["backend"] == "mysql"
    assert config.connection_settings()["backend"] == "sqlite"
