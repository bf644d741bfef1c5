"""The job queue of an auto-populated table: ``~~<name>`` in its schema (storage reference §9.2).

``populate(reserve_jobs=True)`` lets many workers share one table's work: each key is
*reserved* with a single conditional UPDATE (only one worker can turn a pending job into
a reserved one), made, and then completed (deleted, or kept as ``success``) or marked
``error`` with its message and traceback. ``refresh()`` adds the keys still to do and
cleans up what went stale. The layout is the reference client's, so either client's
workers can share one queue.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import platform
import subprocess

from djframe.errors import DataJointError
from djframe.query.compile import Compiler
from djframe.query.conditions import AndList, Not
from djframe.query.fetch import normalize, to_dicts
from djframe.tables.table import FreeTable

logger = logging.getLogger("djframe")

STATUSES = ("pending", "reserved", "success", "error", "ignore")
ORDERS = ("original", "reverse", "random")
ERROR_MESSAGE_LENGTH = 2047  # the error_message column's width
TRUNCATION_APPENDIX = "...truncated"  # ends a message cut to fit
MESSAGE_LIMIT = ERROR_MESSAGE_LENGTH
_QUEUE_COLUMNS = f"""
status : enum({", ".join(f"'{s}'" for s in STATUSES)})
priority = 5 : int8
created_time = CURRENT_TIMESTAMP(3) : datetime(3)
scheduled_time = CURRENT_TIMESTAMP(3) : datetime(3)
reserved_time = null : datetime(3)
completed_time = null : datetime(3)
duration = null : float64
error_message = '' : varchar({MESSAGE_LIMIT})
error_stack = null : <blob>
user = '' : varchar(255)
host = '' : varchar(255)
pid = 0 : int32
connection_id = 0 : int64
version = '' : varchar(64)
index(status, priority, scheduled_time)
"""


def jobs_table_name(target_table: str) -> str:
    """``~~`` and the target's name without its tier underscores (``__analysis`` -> ``~~analysis``)."""
    return "~~" + target_table.lstrip("_")


class Job(FreeTable):
    """The job queue of one Imported or Computed table, declared on first use."""

    def __init__(self, target):
        super().__init__(target.connection, target.database, jobs_table_name(target.table_name))
        self._target = target
        self._check_unshared()
        if not self.is_declared:
            self._declare()

    def _check_unshared(self):
        """``_x`` (Imported) and ``__x`` (Computed) would share the queue ``~~x`` (the reference's naming)."""
        tables = self.connection.backend.list_tables(self.database)
        others = [t for t in tables if t != self._target.table_name and t.startswith("_") and "__" not in t.lstrip("_")
                  and jobs_table_name(t) == self.table_name]
        if others:
            raise DataJointError(f"Tables `{self._target.table_name}` and `{others[0]}` of schema `{self.database}` "
                                 f"would share the job queue `{self.table_name}` (queues are named without the tier "
                                 "underscores). Rename one of the classes to use reserve_jobs with either.")

    @property
    def target(self):
        return self._target

    # ----- declaration ---------------------------------------------------------------------
    def _declare(self):
        from djframe.define.declare import parse_definition
        connection = self.connection
        config = connection.config
        spec = parse_definition(self._definition(), schema=self.database, table_name=self.table_name, tier="manual",
                                resolve=_no_parents, max_name_length=connection.backend.max_name_length)
        connection.backend.declare(spec)
        connection.forget()
        logger.debug("Declared the job queue %s (default priority %s)", self.full_table_name,
                     config["jobs.default_priority"])

    @property
    def definition(self) -> str:
        """The queue's definition text: the target's key attributes (in DataJoint types), then its columns."""
        return self._definition()

    def _definition(self) -> str:
        """The target's primary-key attributes that come from its parents, then the queue's columns."""
        target = self._target
        from_parents = {c for fk in target.spec.foreign_keys if fk.in_key for c in fk.child_attributes}
        heading = target.heading
        lines = [f"# Job queue for {target.full_table_name}"]
        for name in heading.primary_key:
            if name in from_parents:
                lines.append(f"{name} : {heading[name].type.text}")
            else:
                logger.warning("The job queue of %s leaves out its own key attribute `%s`: a job then covers "
                               "every row of the table that shares the other key values.", target.class_name, name)
        return "\n".join(lines) + "\n---" + _QUEUE_COLUMNS

    # ----- views -----------------------------------------------------------------------------
    def _status(self, status):
        return self & {"status": status}

    @property
    def pending(self):
        return self._status("pending")

    @property
    def reserved(self):
        return self._status("reserved")

    @property
    def errors(self):
        return self._status("error")

    @property
    def ignored(self):
        return self._status("ignore")

    @property
    def completed(self):
        return self._status("success")

    def progress(self) -> dict:
        """Jobs per status, and their total."""
        counts = {s: 0 for s in STATUSES}
        from djframe.query.expression import U
        for row in U("status").aggr(self, n="count(*)").to_dicts():
            counts[row["status"]] = int(row["n"])
        return {**counts, "total": sum(counts.values())}

    # ----- the queue -------------------------------------------------------------------------
    def refresh(self, *restrictions, delay=0, priority=None, stale_timeout=None, orphan_timeout=None) -> dict:
        """Add a pending job for every key still to do; re-pend finished jobs whose result was deleted
        (with ``jobs.keep_completed``); drop jobs whose key left the key source (older than
        ``stale_timeout`` s); re-pend reservations older than ``orphan_timeout`` s (their worker died)."""
        config = self.connection.config
        now = self._now()
        target = self._target
        priority = config["jobs.default_priority"] if priority is None else priority
        todo = target._jobs_to_do(restrictions).restrict(Not(self.proj()), semantic_check=False)
        keys = [self._key(key) for key in todo.keys()]
        if keys:
            scheduled = now + dt.timedelta(seconds=delay)
            self.insert([{**key, "status": "pending", "priority": priority, "scheduled_time": scheduled,
                          "created_time": now} for key in keys], skip_duplicates=True)
            added = len(keys) - self._drop_pending_done(keys)
        else:
            added = 0
        re_pended = 0
        if config["jobs.keep_completed"]:
            back = self.completed.restrict(target.key_source.proj(), semantic_check=False) \
                .restrict(Not(target.proj()), semantic_check=False)
            re_pended = self._set(back, status="pending", scheduled_time=now, completed_time=None)
        cutoff = now - dt.timedelta(seconds=config["jobs.stale_timeout"] if stale_timeout is None else stale_timeout)
        stale = (self - {"status": "ignore"}) & f"created_time < '{_text(cutoff)}'"
        stale = stale.restrict(Not(target.key_source.proj()), semantic_check=False)
        removed = stale.delete_quick(get_count=True) or 0
        orphaned = self.recover_orphans()
        if orphan_timeout is not None:
            lost = self.reserved & f"reserved_time < '{_text(now - dt.timedelta(seconds=orphan_timeout))}'"
            orphaned += self._set(lost, status="pending", scheduled_time=now, reserved_time=None)
        return {"added": added, "removed": removed, "orphaned": orphaned, "re_pended": re_pended}

    def _drop_pending_done(self, added) -> int:
        """Between listing the keys to do and inserting their jobs, a worker may have made one of
        them and deleted its job: remove those pending jobs again, so no finished key stays queued.
        Returns how many of the `added` keys were removed so."""
        done = self.pending.restrict(self._target.proj(), semantic_check=False)
        gone = done.keys()
        if not gone:
            return 0
        done.delete_quick()
        added = {tuple(k.values()) for k in added}
        return sum(tuple(self._key(k).values()) in added for k in gone)

    def recover_orphans(self) -> int:
        """Re-pend the reservations whose worker is gone: its database session no longer exists
        (the server's session list), or, on an embedded database, its process on this host ended.
        A worker killed mid-make thus loses no key, without any timeout to choose."""
        reserved = self.reserved.proj("connection_id", "host", "pid", "user", "reserved_time").to_dicts()
        if not reserved:
            return 0
        sessions = self.connection.backend.live_sessions()
        dead = [job for job in reserved if not _worker_alive(job, sessions)]
        if not dead:
            return 0
        taken = [{**self._key(job), "connection_id": job["connection_id"]} for job in dead]
        count = self._set(self.reserved & taken, status="pending", scheduled_time=self._now(), reserved_time=None)
        if count:
            logger.warning("Re-pended %d job(s) of %s whose worker is gone: %s", count, self._target.class_name,
                           [self._key(job) for job in dead][:5])
        return count


    def pending_keys(self, restrictions=(), priority=None, limit=None) -> list[dict]:
        """Keys of the jobs due now, most urgent first (lower priority values first, then oldest)."""
        return self._due(restrictions, priority).keys(order_by=["priority", "scheduled_time"], limit=limit)

    def _due(self, restrictions=(), priority=None, clock=None):
        """Pending jobs scheduled by now, within populate's restrictions and priority."""
        due = self.pending if clock is False else self.pending & f"scheduled_time <= '{_text(clock or self._now())}'"
        if restrictions:
            due = due.restrict((self._target.key_source & AndList(restrictions)).proj(), semantic_check=False)
        if priority is not None:
            due = due & f"priority <= {int(priority)}"
        return due

    def reserve(self, key) -> bool:
        """Take a pending, due job for this worker; False if another worker took it first."""
        now = self._now()
        job = (self & self._key(key) & {"status": "pending"}) & f"scheduled_time <= '{_text(now)}'"
        return self._set(job, status="reserved", reserved_time=now, **self._worker()) == 1

    def claim(self, restrictions=(), priority=None, order="original", limit=1) -> list[dict]:
        """Reserve the next `limit` due jobs for this worker in one statement and return their keys
        (each with the ``connection_id`` that holds it). Concurrent workers pass over each other's
        rows instead of racing for the same one; keys already in the target are left alone."""
        if order not in ORDERS:
            raise DataJointError(f"populate(order={order!r}) of {self._target.class_name}: use one of {ORDERS}.")
        backend = self.connection.backend
        where = self._claim_where(tuple(restrictions), priority, backend)
        worker = {k: v for k, v in self._worker().items() if k != "connection_id"}
        raw = backend.claim_jobs(self.database, self.table_name, self.primary_key, where,
                                 backend.job_order_sql(order, self.primary_key), limit,
                                 {"status": "reserved", **worker}, self.heading)
        names = [*self.primary_key, "connection_id", "priority", "scheduled_time"]
        claimed = to_dicts(normalize(raw.rename_columns(names), self.heading, names, backend), self.heading,
                           self.connection)
        return [{k: job[k] for k in names[:-2]} for job in _in_claim_order(claimed, order, self.primary_key)]

    def _claim_where(self, restrictions, priority, backend) -> str:
        """WHERE of a claim, compiled once per populate call (the server's clock is added by the backend)."""
        cached = getattr(self, "_claim_cache", None)
        if cached is not None and cached[0] == (restrictions, priority, id(backend)):
            return cached[1]
        due = self._due(restrictions, priority, clock=False).restrict(Not(self._target.proj()), semantic_check=False)
        _, where = Compiler(backend).where_sql(due.node)
        self._claim_cache = ((restrictions, priority, id(backend)), where)
        return where

    def finish(self, key, holder: int, duration=None, error=None, error_stack=None) -> bool:
        """Complete (or, with `error`, fail) a job this worker still holds: reserved by session
        `holder`. False if it was taken away meanwhile (re-pended as orphaned, made by another)."""
        held = self.reserved & {**self._key(key), "connection_id": holder}
        if error is not None:
            return self._set(held, status="error", completed_time=self._now(),
                             error_message=_truncated(error)) == 1 and self._stack(key, error_stack)
        if self.connection.config["jobs.keep_completed"]:
            return self._set(held, status="success", completed_time=self._now(), duration=duration) == 1
        backend = self.connection.backend
        _, where = Compiler(backend).where_sql(held.node)
        return backend.delete_where(self.database, self.table_name, where) == 1

    def _stack(self, key, error_stack) -> bool:
        if error_stack is not None:
            self.update1({**self._key(key), "error_stack": error_stack})
        return True

    def complete(self, key, duration=None):
        if self.connection.config["jobs.keep_completed"]:
            self._set(self & self._key(key), status="success", completed_time=self._now(), duration=duration)
        else:
            (self & self._key(key)).delete_quick()

    def error(self, key, error_message, error_stack=None):
        """Record a failed make: its message (cut to fit) and traceback."""
        self._record(key, status="error", completed_time=self._now(), error_message=_truncated(error_message),
                     error_stack=error_stack)

    def ignore(self, key):
        """Mark a key to be skipped by populate (the job is created if needed)."""
        self._record(key, status="ignore")

    def delete(self, **kwargs):
        """Delete jobs (no prompt: the queue holds no results)."""
        return self.delete_quick(get_count=True)

    def drop(self, **kwargs):
        self.drop_quick()

    # ----- helpers ---------------------------------------------------------------------------
    def _key(self, key) -> dict:
        missing = [k for k in self.primary_key if k not in key]
        if missing:
            raise DataJointError(f"A job key of {self._target.class_name} needs {missing}; got {dict(key)}.")
        return {k: key[k] for k in self.primary_key}

    def _record(self, key, **values):
        """Update the job of this key, or insert it."""
        key = self._key(key)
        if self & key:
            self.update1({**key, **values})
        else:
            self.insert1({**key, **values, **self._worker()})

    def _set(self, jobs, **values) -> int:
        """One UPDATE of plain (non-codec) columns over the restricted jobs; the number changed."""
        backend = self.connection.backend
        _, where = Compiler(backend).where_sql(jobs.node)
        return backend.update(self.database, self.table_name, values, where, heading=self.heading)  # one statement

    def _now(self) -> dt.datetime:
        """The server's clock, in whole milliseconds (the columns' precision)."""
        now = self.connection.backend.server_time()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def _worker(self) -> dict:
        """Who reserves: asked of the server once per connection (a forked worker has its own)."""
        backend = self.connection.backend
        session = (id(backend), getattr(backend, "reconnects", 0))  # a reconnected session has a new id
        if self._worker_of != session:
            self._worker_of, self._worker_cache = session, {
                "host": platform.node()[:255], "pid": os.getpid(), "connection_id": backend.connection_id(),
                "user": backend.current_user()[:255]}
        return {**self._worker_cache, "version": code_version()}

    _worker_of = None


def code_version() -> str:
    """What `jobs.version_method` names: the short git hash of the working directory, or ''."""
    from djframe.settings import config
    return _git_version(os.getcwd()) if config["jobs.version_method"] == "git" else ""


@functools.lru_cache(maxsize=8)
def _git_version(directory: str) -> str:
    """The short HEAD hash, read once per directory (populate asks for every key)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=directory)
        return out.stdout.strip()[:64] if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _in_claim_order(jobs: list[dict], order: str, key: list) -> list[dict]:
    """The claimed jobs in the order they were picked (a RETURNING clause keeps none)."""
    if order != "random":
        jobs = sorted(jobs, key=lambda j: (j["scheduled_time"], *(j[k] for k in key)), reverse=order == "reverse")
    return sorted(jobs, key=lambda j: j["priority"])


def _truncated(message) -> str:
    """The message cut to the column's width, marked as cut."""
    message = str(message)
    if len(message) > ERROR_MESSAGE_LENGTH:
        message = message[:ERROR_MESSAGE_LENGTH - len(TRUNCATION_APPENDIX)] + TRUNCATION_APPENDIX
    return message


def _worker_alive(job: dict, sessions: dict | None) -> bool:
    """Is the session (or, without a session list, the local process) that reserved `job` still there?"""
    if sessions is not None:
        if job["connection_id"] not in sessions:
            return False
        started = sessions[job["connection_id"]]  # a later start: the id was reused by a new session
        return started is None or job["reserved_time"] is None or started <= job["reserved_time"] + _SLACK
    return job["host"] != platform.node()[:255] or _process_alive(job["pid"])


_SLACK = dt.timedelta(seconds=1)


def _process_alive(pid) -> bool:
    """A process of this host with that pid exists (and is not a zombie)."""
    if not pid or pid <= 0:
        return True  # not recorded: cannot judge, so never take the job away
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _text(moment: dt.datetime) -> str:
    """A datetime as comparable text (every backend reads it; SQLite compares its stored text)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _no_parents(name):
    raise DataJointError(f"A job queue has no foreign keys (asked for `{name}`).")
