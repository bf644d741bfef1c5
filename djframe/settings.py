"""`dj.config`: settings from runtime assignment, environment, datajoint.json, secrets, defaults.

Precedence, highest first, as the reference implements it (API doc §3.1): runtime assignment >
`ENV_OVER_FILE` variables > datajoint.json (searched from the CWD upward, stopping at a .git/.hg
directory or /) > `ENV_UNDER_FILE` variables > secrets files (fill only unset values) > `KEYS`
defaults. `DJ_STORES` replaces the file's stores; `DJ_IGNORE_CONFIG_FILE=true` skips file and
secrets. Unlike the reference we do not read the unprefixed `LIMIT`, `WIDTH` and `CHARSET`
variables (a pydantic-settings side effect there): an unrelated shell `WIDTH` must not change
previews. Loading problems are warnings: djframe must start without any configuration.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import logging
import os
import warnings
from pathlib import Path
from urllib.parse import unquote, urlsplit

import abc

from djframe.errors import ConfigKeyError, DataJointError

logger = logging.getLogger("djframe")

CONFIG_FILENAME = "datajoint.json"
SECRETS_DIRNAME = ".secrets"
SYSTEM_SECRETS_DIR = Path("/run/secrets/datajoint")  # read at load time, so tests can patch it
SQLITE_FILENAME = "djframe.sqlite"
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
BACKENDS = ("sqlite", "postgresql", "mysql")
_ALIASES = {"postgres": "postgresql"}
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}

# key: (default, kind, constraint). kind: str | bool | int (range) | choice (values) | dict.
KEYS = {
    "database.host": ("localhost", "str", None),
    "database.user": (None, "str", None),
    "database.password": (None, "str", None),
    "database.backend": ("sqlite", "choice", BACKENDS),
    "database.port": (None, "int", (1, 65535)),
    "database.name": (None, "str", None),
    "database.path": (None, "str", None),
    "database.url": (None, "str", None),
    "database.reconnect": (True, "bool", None),
    "database.use_tls": (None, "bool", None),
    "database.database_prefix": ("", "str", None),
    "database.create_tables": (True, "bool", None),
    "connection.charset": ("", "choice", ("", "utf8mb4", "utf8", "utf8mb3")),  # the MySQL path is UTF-8 throughout
    "display.limit": (12, "int", (1, None)),
    "display.width": (14, "int", (1, None)),
    "display.show_tuple_count": (True, "bool", None),
    "display.diagram_direction": ("LR", "choice", ("LR", "TB")),
    "display.diagram_theme": ("auto", "choice", ("auto", "light", "dark")),
    "jobs.auto_refresh": (True, "bool", None),
    "jobs.keep_completed": (False, "bool", None),
    "jobs.stale_timeout": (3600, "int", (0, None)),
    "jobs.heartbeat_timeout": (300, "int", (0, None)),  # s without a heartbeat before a reservation is re-pended; 0: off
    "jobs.default_priority": (5, "int", (0, 127)),  # the queue's priority column is int8 (the reference's layout)
    "jobs.version_method": (None, "choice", ("git", "none")),
    "jobs.allow_new_pk_fields_in_computed_tables": (False, "bool", None),
    "jobs.add_job_metadata": (False, "bool", None),
    "provenance.capture": (False, "bool", None),
    "provenance.source": ({}, "dict", None),
    "loglevel": ("INFO", "choice", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    "safemode": (True, "bool", None),
    "ignore_config_file": (False, "bool", None),
    "query_cache": (None, "str", None),
    "download_path": (".", "str", None),
}
SECTIONS = ("database", "connection", "display", "jobs", "provenance", "stores")

ENV_OVER_FILE = {
    "DJ_HOST": "database.host", "DJ_USER": "database.user", "DJ_PASS": "database.password",
    "DJ_BACKEND": "database.backend", "DJ_PORT": "database.port",
    "DJ_DATABASE_NAME": "database.name", "DJ_DATABASE_PREFIX": "database.database_prefix",
    "DJ_CREATE_TABLES": "database.create_tables", "DJ_LOG_LEVEL": "loglevel",
    "DJ_DIAGRAM_DIRECTION": "display.diagram_direction", "DJ_DIAGRAM_THEME": "display.diagram_theme",
    "DJ_URL": "database.url", "DJ_DATABASE_PATH": "database.path",  # djframe additions
}
ENV_UNDER_FILE = {
    "DJ_RECONNECT": "database.reconnect", "DJ_USE_TLS": "database.use_tls",
    "DJ_SAFEMODE": "safemode", "DJ_IGNORE_CONFIG_FILE": "ignore_config_file",
    "DJ_QUERY_CACHE": "query_cache", "DJ_DOWNLOAD_PATH": "download_path",
    "DJ_PROVENANCE_CAPTURE": "provenance.capture", "DJ_PROVENANCE_SOURCE": "provenance.source",
    **{"DJ_JOBS_" + k[5:].upper(): k for k in KEYS if k.startswith("jobs.")},
}

STORE_COMMON_KEYS = {"protocol", "location", "subfolding", "partition_pattern", "token_length",
                 "hash_prefix", "schema_prefix", "filepath_prefix", "stage"}
_STORE_PROTOCOLS = {  # protocol: (required keys beyond location, optional keys)
    "file": ((), ()),
    "s3": (("endpoint", "bucket"), ("access_key", "secret_key", "secure", "proxy_server")),
    "gcs": (("bucket",), ("token", "project")),
    "azure": (("container",), ("account_name", "account_key", "connection_string")),
}
_STORE_DEFAULTS = {"subfolding": None, "partition_pattern": None, "token_length": 8,
                   "hash_prefix": "_hash", "schema_prefix": "_schema", "filepath_prefix": None}
_SECRET_ATTRS = {"password", "secret_key", "account_key", "connection_string", "token"}


# ----- store plugins ------------------------------------------------------------------------------
class StorageAdapter(abc.ABC):
    """A store protocol added by a package: register the class (or an instance) as an entry point
    in the group ``datajoint.storage``, named by its protocol. That is the reference client's group,
    so one plugin serves both clients. file, s3, gcs and azure are built in and need none."""

    protocol: str = ""
    required_keys: tuple = ()  # settings beyond "location" that a store of this protocol must have
    allowed_keys: tuple = ()   # the other settings it accepts (empty: accept any)

    @abc.abstractmethod
    def create_filesystem(self, spec: dict):
        """The fsspec filesystem for a store's settings."""

    def validate_spec(self, spec: dict) -> None:
        """Refuse settings the protocol does not know (when ``allowed_keys`` lists them) or lacks."""
        missing = [k for k in self.required_keys if spec.get(k) is None]
        if missing:
            raise DataJointError(f"missing required setting(s) {', '.join(missing)} for protocol {self.protocol!r}.")
        if self.allowed_keys:
            unknown = sorted(set(spec) - STORE_COMMON_KEYS - set(self.required_keys) - set(self.allowed_keys))
            if unknown:
                raise DataJointError(f"unknown setting(s) {', '.join(unknown)} for protocol {self.protocol!r}.")

    def full_path(self, spec: dict, relpath: str) -> str:
        """Where a store-relative path lives on the filesystem: under the store's location."""
        location = str(spec.get("location") or "").strip("/")
        return "/".join(p for p in (location, str(relpath).lstrip("/")) if p)

    def get_url(self, spec: dict, path: str) -> str:
        return f"{self.protocol}://{self.full_path(spec, path)}"


def get_storage_adapter(protocol: str) -> StorageAdapter | None:
    """The installed plugin for ``protocol`` (an instance), or None (built-in or unknown protocols)."""
    from importlib.metadata import entry_points
    for ep in entry_points(group="datajoint.storage"):
        if ep.name == protocol:
            adapter = ep.load()
            adapter = adapter() if isinstance(adapter, type) else adapter
            if not adapter.protocol:
                adapter.protocol = protocol
            return adapter
    return None



def _unknown_key(key):
    tops = [k for k in KEYS if "." not in k]
    hint = difflib.get_close_matches(key, list(KEYS), n=1)
    return ConfigKeyError(
        f"Unknown config key {key!r}." + (f" Did you mean {hint[0]!r}?" if hint else ""),
        f"Valid sections: {', '.join(SECTIONS)}; top-level keys: {', '.join(tops)}.")


def _to_bool(value):
    """Accept real booleans and the usual env-var spellings, nothing else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true/false (or 1/0, yes/no)")


def _coerce(key, value):
    """Validate `value` for `key`, converting env-var strings; raise DataJointError naming both."""
    (default, kind, arg), original = KEYS[key], value
    if kind != "str" and isinstance(value, str) and not value.strip() and default is None:
        value = None  # an empty DJ_PORT= means unset
    if value is None and default is None:
        return None
    try:
        if kind == "bool":
            return _to_bool(value)
        if kind == "int":
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("expected an integer")
            number, (lo, hi) = value, arg
            if number < lo or (hi is not None and number > hi):
                raise ValueError(f"expected an integer in {lo}..{hi if hi is not None else ''}")
            return number
        if kind == "choice":
            text = str(value).strip().lower() if isinstance(value, str) else None
            text = _ALIASES.get(text, text)
            for choice in arg:
                if choice.lower() == text:
                    return choice
            raise ValueError(f"expected one of {', '.join(repr(a) if a == '' else a for a in arg)}")
        if kind == "dict":
            value = json.loads(value) if isinstance(value, str) else value
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return copy.deepcopy(value)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    except ValueError as error:
        raise DataJointError(f"Invalid value {original!r} for config key {key!r}: {error}.") from None


def find_config_file(start=None):
    """The nearest datajoint.json from `start` (CWD) upward; stop at a repository root or /."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILENAME).is_file():
            return folder / CONFIG_FILENAME
        if (folder / ".git").exists() or (folder / ".hg").exists():
            return None
    return None


def _flatten(data):
    """Yield (dotted key, value) from nested or flat-dotted JSON; stores merge per store."""
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            for sub, item in value.items():
                yield f"{key}.{sub}", item
        else:
            yield key, value


def parse_url(url):
    """Split a database URL into the connection components it names (absent parts left out).

    `sqlite:///rel.db` is relative and `sqlite:////abs/path.db` absolute (SQLAlchemy's rule).
    """
    scheme, sep, rest = url.partition("://")
    backend = _ALIASES.get(scheme.lower(), scheme.lower()) if sep else None
    if backend not in BACKENDS:
        raise DataJointError(f"Cannot parse database.url {url!r}.", "Expected postgresql://user:pass"
                             "@host:port/dbname, mysql://user@host:port or sqlite:///path.db.")
    if backend == "sqlite":
        if rest and not rest.startswith("/"):
            raise DataJointError(f"SQLite URL {url!r} has a host part; use sqlite:///path.db.")
        return {"backend": "sqlite", "path": unquote(rest[1:]) or None}
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise DataJointError(f"Invalid port in database.url {url!r}.") from None
    out = {"backend": backend, "host": parts.hostname or "localhost", "port": port}
    if parts.username is not None:
        out["user"] = unquote(parts.username)
    if parts.password is not None:
        out["password"] = unquote(parts.password)
    if parts.path.strip("/"):
        out["database_name"] = unquote(parts.path.strip("/"))
    return out


def split_host(host):
    """'host:port' or '[v6]:port' -> (host, port or None)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, port = host.split(":")
    else:
        name, port = host, ""
    if port and not port.isdigit():
        raise DataJointError(f"Invalid port in database.host {host!r}.")
    return name, int(port) if port else None


class _Section:
    """Attribute view of one section: `config.database.host`, `config.jobs.default_priority = 3`."""

    __slots__ = ("_config", "_name")

    def __init__(self, config, name):
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        return self._config[f"{self._name}.{attr}"]

    def __setattr__(self, attr, value):
        self._config[f"{self._name}.{attr}"] = value

    __getitem__, __setitem__ = __getattr__, __setattr__

    def __repr__(self):
        return f"{self._name}: {self._config[self._name]!r}"


class Config:
    """The settings object behind `dj.config`; see the module docstring for load order."""

    def __init__(self):
        self._stores = {}
        self.reload()

    # ---- loading -------------------------------------------------------------------------
    def reload(self):
        """Forget runtime changes and re-read defaults, environment, file and secrets."""
        self._values = {key: copy.deepcopy(spec[0]) for key, spec in KEYS.items()}
        self._explicit = set()  # keys set by a file, the environment or the user (not defaults, not secrets)
        self._stores.clear()  # keep the dict's identity: callers may hold `config.stores`
        self._config_file = None
        self._apply_env(ENV_UNDER_FILE)
        if not self._values["ignore_config_file"]:
            path = find_config_file()
            if path is None:
                logger.debug("no %s found; using defaults and environment", CONFIG_FILENAME)
            else:
                self._load_file(path)
        self._apply_env(ENV_OVER_FILE)
        if "DJ_STORES" in os.environ:
            self._apply("DJ_STORES", "stores", os.environ["DJ_STORES"])
        if not self._values["ignore_config_file"]:
            self._load_secrets()
        self._apply_loglevel()

    def load(self, path):
        """Merge a JSON config file over the current values (mapped env vars still win)."""
        path = Path(path)
        if not path.is_file():
            raise DataJointError(f"Config file {str(path)!r} does not exist.")
        self._load_file(path)

    def _load_file(self, path):
        """Apply a JSON file, skipping keys whose mapped env var is set (those beat the file)."""
        skip = {key for var, key in ENV_OVER_FILE.items() if var in os.environ}
        try:
            data = json.loads(Path(path).read_text())
            if not isinstance(data, dict):
                raise ValueError("the top level must be a JSON object")
        except (OSError, ValueError) as error:
            warnings.warn(f"Could not read {path}: {error}; ignoring it.", stacklevel=3)
            return
        self._config_file = Path(path).resolve()
        for key, value in _flatten(data):
            if key not in skip:
                self._apply(str(path), key, value)

    def _apply_env(self, table):
        for var, key in table.items():
            if var in os.environ:
                self._apply(f"environment variable {var}", key, os.environ[var])

    def _apply(self, source, key, value):
        """Set a loaded value; a bad one is a warning naming its source, never an exception."""
        try:
            if key == "stores":
                value = json.loads(value) if isinstance(value, str) else value
            self[key] = value
        except (DataJointError, ValueError) as error:
            warnings.warn(f"Ignoring {key!r} from {source}: {error}", stacklevel=4)

    def _secrets_dir(self):
        candidates = [SYSTEM_SECRETS_DIR]
        if self._config_file is not None:
            candidates.insert(0, self._config_file.parent / SECRETS_DIRNAME)
        return next((path for path in candidates if path.is_dir()), None)

    def _load_secrets(self):
        """Fill unset database credentials and store attributes from one-value files."""
        folder = self._secrets_dir()
        for path in sorted(folder.iterdir()) if folder else ():
            try:
                text = path.read_text().strip() if path.is_file() else ""
            except OSError as error:
                warnings.warn(f"Could not read secret {path}: {error}", stacklevel=3)
                continue
            if not text:
                continue
            if path.name in ("database.user", "database.password"):
                if self._values[path.name] is None:
                    self._values[path.name] = text
            elif path.name.startswith("stores.") and path.name.count(".") == 2:
                _, store, attr = path.name.split(".")
                spec = self._stores.setdefault(store, {})
                if isinstance(spec, dict) and attr not in spec:
                    spec[attr] = text

    def _apply_loglevel(self):
        logger.setLevel(self._values["loglevel"])

    # ---- dict and attribute access -------------------------------------------------------
    def _check_key(self, key):
        if key not in KEYS and key not in SECTIONS and not key.startswith("stores."):
            raise _unknown_key(key)

    def _store_node(self, key, create=False):
        """(parent dict, last name) for a `stores.a.b` key."""
        *path, last = key.split(".")[1:]
        node = self._stores
        for name in path:
            if not isinstance(node.get(name), dict):
                if not create:
                    raise ConfigKeyError(f"{key!r} is not configured.")
                node[name] = {}
            node = node[name]
        return node, last

    def __getitem__(self, key):
        self._check_key(key)
        if key == "stores":
            return self._stores
        if key.startswith("stores."):
            node, last = self._store_node(key)
            if last not in node:
                raise ConfigKeyError(f"{key!r} is not configured.")
            return node[last]
        if key in SECTIONS:
            return {k[len(key) + 1:]: v for k, v in self._values.items() if k.startswith(key + ".")}
        return self._values[key]

    def __setitem__(self, key, value):
        self._check_key(key)
        if key == "stores":
            if not isinstance(value, dict):
                raise DataJointError(f"config['stores'] must be a dict, got {value!r}.")
            self._stores.clear()
            self._stores.update(copy.deepcopy(value))
        elif key.startswith("stores."):
            node, last = self._store_node(key, create=True)
            node[last] = copy.deepcopy(value)
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise DataJointError(f"config[{key!r}] must be a dict of {key}.* settings.")
            for sub, item in value.items():
                self[f"{key}.{sub}"] = item
        else:
            self._values[key] = _coerce(key, value)
            self._explicit.add(key)
            if key == "loglevel":
                self._apply_loglevel()

    def __delitem__(self, key):
        """Reset a key to its default (a store entry is removed)."""
        self._check_key(key)
        if key == "stores":
            self._stores.clear()
        elif key.startswith("stores."):
            node, last = self._store_node(key)
            node.pop(last, None)
        else:
            for name in [key] if key in KEYS else [k for k in KEYS if k.startswith(key + ".")]:
                self._values[name] = copy.deepcopy(KEYS[name][0])
                self._explicit.discard(name)
            self._apply_loglevel()

    def __contains__(self, key):
        try:
            self[key]
        except KeyError:
            return False
        return True

    def get(self, key, default=None):
        """`config[key]`, or `default` when the key is unknown or the store entry is unset."""
        try:
            return self[key]
        except KeyError:
            return default

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in SECTIONS and name != "stores":
            return _Section(self, name)
        return self[name]

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __repr__(self):
        lines = [f"Config(file={str(self._config_file) if self._config_file else None})"]
        lines += [f"  {key} = {_masked(key, value)!r}" for key, value in self._values.items()]
        lines += [f"  stores.{name} = {_masked(name, spec)!r}" for name, spec in self._stores.items()]
        return "\n".join(lines)

    # ---- helpers used by the rest of djframe ---------------------------------------------
    @property
    def config_file(self):
        """The datajoint.json that was loaded, or None."""
        return self._config_file

    @contextlib.contextmanager
    def override(self, **settings):
        """Temporarily set keys (`database__host="x"` or `**{"database.host": "x"}`)."""
        changes = {key.replace("__", "."): value for key, value in settings.items()}
        touched = set()
        for key in changes:
            self._check_key(key)
            if key == "stores" or key.startswith("stores."):
                touched.add("stores")
            else:
                touched.update([key] if key in KEYS else [k for k in KEYS if k.startswith(key + ".")])
        saved = {key: self._values[key] for key in touched if key != "stores"}
        saved_explicit = set(self._explicit)
        saved_stores = copy.deepcopy(self._stores)
        try:
            for key, value in changes.items():
                self[key] = value
            yield self
        finally:
            self._values.update(saved)
            self._explicit = saved_explicit
            if "stores" in touched:
                self._stores.clear()
                self._stores.update(saved_stores)
            self._apply_loglevel()

    def sqlite_path(self):
        """Absolute SQLite file: database.url (if sqlite) or database.path, else ./djframe.sqlite.

        Relative paths are taken from the directory of the loaded datajoint.json, else the CWD.
        """
        path = self._values["database.path"]
        if self._values["database.url"]:
            parsed = parse_url(self._values["database.url"])
            path = (parsed["path"] or path) if parsed["backend"] == "sqlite" else path
        if path == ":memory:":
            return path
        base = self._config_file.parent if self._config_file else Path.cwd()
        return str((base / Path(path or SQLITE_FILENAME).expanduser()).resolve())

    def connection_settings(self):
        """Plain dict for connecting: a database.url (or DJ_URL) overrides the individual keys."""
        v = self._values
        out = {"backend": self.backend(), "host": v["database.host"], "port": v["database.port"],
               "user": v["database.user"], "password": v["database.password"],
               "database_name": v["database.name"], "path": None, "use_tls": v["database.use_tls"]}
        if v["database.url"]:
            out.update(parse_url(v["database.url"]))
        if out["backend"] == "sqlite":
            return {**out, "host": None, "port": None, "path": self.sqlite_path()}
        host, port = split_host(out["host"])
        out["host"], out["port"] = host, port or out["port"] or DEFAULT_PORTS[out["backend"]]
        if out["backend"] == "postgresql" and not out["database_name"]:
            out["database_name"] = "postgres"
        return out

    def backend(self) -> str:
        """The backend to connect to: database.backend when it is set; else a server when connection
        settings name one (a datajoint.json written for the reference client has a host but no backend:
        PostgreSQL on port 5432, otherwise MySQL, the reference's default); else the embedded SQLite."""
        if "database.backend" in self._explicit or self._values["database.url"]:
            return self._values["database.backend"]
        if not self._explicit & {"database.host", "database.port", "database.user", "database.password"}:
            return self._values["database.backend"]
        port = split_host(self._values["database.host"] or "")[1] or self._values["database.port"]
        chosen = "postgresql" if port == DEFAULT_PORTS["postgresql"] else "mysql"
        logger.info("database.host is set but database.backend is not: connecting to %s "
                    "(set database.backend to choose sqlite, postgresql or mysql)", chosen)
        return chosen

    def get_store_spec(self, store=None, *, use_filepath_default=False):
        """The validated settings of a store with defaults filled; None or "" means the default."""
        name = store or self._default_store_name(use_filepath_default)
        spec = self._stores.get(name)
        if not isinstance(spec, dict):
            configured = sorted(k for k, s in self._stores.items() if isinstance(s, dict))
            raise DataJointError(
                f"Store {name!r} is requested but not configured "
                f"(configured stores: {', '.join(configured) or 'none'}).",
                f'Add it to datajoint.json: "stores": {{"{name}": {{"protocol": "file", '
                f'"location": "/path/to/dir"}}}}.')
        return _validate_store(name, spec)

    def _default_store_name(self, use_filepath_default):
        key = "filepath_default" if use_filepath_default else "default"
        name = self._stores.get(key)
        if not name or not isinstance(name, str):
            raise DataJointError(
                f"No store name was given and stores.{key} is not set.",
                f'Set "stores": {{"{key}": "<store name>", ...}} in datajoint.json '
                "or name the store in the type (e.g. <blob@name>).")
        return name

    def save_template(self, path=CONFIG_FILENAME, minimal=True, create_secrets_dir=True):
        """Write a starter datajoint.json (never overwriting) and an empty .secrets/ folder."""
        path = Path(path)
        if path.exists():
            raise DataJointError(f"{path} already exists; not overwriting it.",
                                 "Remove it or pass another path.")
        wanted = ("database.backend", "database.path", "database.host", "database.port") if minimal else [
            k for k in KEYS if k not in ("database.user", "database.password", "ignore_config_file")]
        data = {}
        for key in wanted:
            *section, leaf = key.split(".")
            (data.setdefault(section[0], {}) if section else data)[leaf] = KEYS[key][0]
        data["stores"] = {}
        path.write_text(json.dumps(data, indent=2) + "\n")
        if create_secrets_dir:
            folder = path.parent / SECRETS_DIRNAME
            folder.mkdir(exist_ok=True)
            for name, text in (("database.user", ""), ("database.password", ""), (".gitignore", "*\n")):
                if not (folder / name).exists():
                    (folder / name).write_text(text)
        return path


def _masked(key, value):
    if key == "database.url" and value and "@" in value:
        scheme, _, rest = value.partition("://")
        credentials, _, host = rest.rpartition("@")
        return f"{scheme}://{credentials.split(':')[0]}{':***' if ':' in credentials else ''}@{host}"
    if isinstance(value, dict):  # a store
        return {k: _masked(k, v) for k, v in value.items()}
    return "***" if value is not None and key.rsplit(".", 1)[-1] in _SECRET_ATTRS else value


def _validate_store(name, spec):
    """Check one store's settings (storage doc §13.1) and fill the defaults."""
    def fail(problem):
        return DataJointError(f"Store {name!r}: {problem}", f"Fix stores.{name} in datajoint.json.")

    spec = dict(spec)
    protocol = str(spec.get("protocol") or "").strip().lower()
    if not protocol:
        raise fail('no "protocol" is set; use one of file, s3, gcs, azure.')
    if protocol not in _STORE_PROTOCOLS:
        adapter = get_storage_adapter(protocol)
        if adapter is None:
            raise fail(f"unknown protocol {protocol!r}; use one of file, s3, gcs, azure, or install a "
                       "storage adapter for it (entry point group datajoint.storage).")
        try:
            adapter.validate_spec(spec)
        except DataJointError as error:
            raise fail(str(error.args[0]).rstrip(".") + ".") from None
    required, optional = _STORE_PROTOCOLS.get(protocol, ((), None))
    if optional is not None:  # built-in protocol: we know every allowed key
        unknown = sorted(set(spec) - STORE_COMMON_KEYS - set(required) - set(optional))
        if unknown:
            raise fail(f"unknown setting(s) {', '.join(unknown)} for protocol {protocol!r}.")
    missing = [key for key in ("location", *required) if spec.get(key) is None]
    if missing:
        raise fail(f"missing required setting(s) {', '.join(missing)} for protocol {protocol!r}.")
    if protocol == "file" and not (str(spec["location"]) and Path(spec["location"]).expanduser().is_dir()):
        raise fail(f"location {spec['location']!r} is not an existing directory; create it first.")
    if protocol == "s3":
        if bool(spec.get("access_key")) != bool(spec.get("secret_key")):
            raise fail("set both access_key and secret_key, or neither (ambient AWS credentials).")
        try:
            spec["secure"] = _to_bool(spec.get("secure", True))
        except ValueError as error:
            raise fail(f"secure: {error}.") from None
    spec["protocol"] = protocol
    for key, default in _STORE_DEFAULTS.items():
        spec[key] = default if spec.get(key) is None else spec[key]
    try:
        spec["token_length"] = max(4, min(16, int(spec["token_length"])))
        if spec["subfolding"] is not None:
            spec["subfolding"] = [int(n) for n in spec["subfolding"]]
    except (TypeError, ValueError):
        raise fail("token_length must be an integer and subfolding a list of integers.") from None
    _check_prefixes(spec, fail)
    spec["name"] = name  # the resolved name, for the JSON metadata `store` field
    return spec


def _check_prefixes(spec, fail):
    """hash_prefix, schema_prefix and filepath_prefix must be distinct and not nested."""
    prefixes = [(k, str(spec[k]).strip("/")) for k in ("hash_prefix", "schema_prefix", "filepath_prefix")
                if spec[k] is not None]
    for i, (key_a, a) in enumerate(prefixes):
        for key_b, b in prefixes[i + 1:]:
            if a == b or not a or not b or a.startswith(b + "/") or b.startswith(a + "/"):
                raise fail(f"{key_a}={a!r} and {key_b}={b!r} overlap; the prefixes must be "
                           "distinct and not nested.")


def thread_safe_mode() -> bool:
    """``DJ_THREAD_SAFE`` (read at every call): the global config and connection are off limits."""
    return os.environ.get("DJ_THREAD_SAFE", "").strip().lower() in ("true", "1", "yes")


def refuse_in_thread_safe_mode(what: str) -> None:
    if thread_safe_mode():
        from djframe.errors import ThreadSafetyError
        raise ThreadSafetyError(f"{what} uses the global configuration and connection, which DJ_THREAD_SAFE turns "
                                "off. Use dj.Instance(host, user, password, ...) and its .Schema / .FreeTable / "
                                ".config / .connection instead.")


class GlobalConfig:
    """``dj.config``: the process-wide `Config`, refused in thread-safe mode (an `Instance` has its own)."""

    __slots__ = ()

    @staticmethod
    def _config() -> Config:
        refuse_in_thread_safe_mode("dj.config")
        return config

    def __getattr__(self, name):
        return getattr(self._config(), name)

    def __setattr__(self, name, value):
        setattr(self._config(), name, value)

    def __getitem__(self, key):
        return self._config()[key]

    def __setitem__(self, key, value):
        self._config()[key] = value

    def __delitem__(self, key):
        del self._config()[key]

    def __contains__(self, key):
        return key in self._config()

    def __repr__(self):
        return repr(self._config())


config = Config()
