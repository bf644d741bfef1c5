"""The job queue of an auto-populated table: ``~~<name>`` in its schema (storage reference §9.2).

``populate(reserve_jobs=True)`` lets many workers share one table's work: each key is
*reserved* with a single conditional UPDATE (only one worker can turn a pending job into
a reserved one), made, and then completed (deleted, or kept as ``success``) or marked
``error`` with its message and traceback. ``refresh()`` adds the keys still to do and
cleans up what went stale. The layout is the reference client's plus two nullable columns
(``heartbeat_time``, ``executor_task``), so either client's workers can share one queue, and a
queue the reference declared (without them) works too, without heartbeats.

A worker on a database server renews its job's heartbeat while it makes the key (`Heartbeat`); a
reservation whose worker's session ended, or whose heartbeat is older than
``jobs.heartbeat_timeout``, goes back to pending in the next refresh (`Job.recover_orphans`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import pickle
import platform
import subprocess
import sys
import threading
import time

from djframe.errors import DataJointError
from djframe.query.expression import U
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
heartbeat_time = null : datetime(3)
executor_task = '' : varchar(255)
index(status, priority, scheduled_time)
"""
HEARTBEAT_TIMEOUT = 300  # s: the default of dj.config["jobs.heartbeat_timeout"]
HEARTBEAT_COLUMNS = {"heartbeat_time": None, "executor_task": ""}  # djframe's additions to the reference's
# layout, and what a queue without them (declared by the reference) reads as
WORKER_COLUMNS = ("host", "pid", "executor_task", "connection_id", "user", "reserved_time", "heartbeat_time")


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

    def progress(self) -> "Progress":
        """Jobs per status, and their total (a dict, as the reference's); shown, it also lists the
        reserved jobs' workers (`workers()`), so a stuck or dead one is visible."""
        counts = {s: 0 for s in STATUSES}
        for row in U("status").aggr(self, n="count(*)").to_dicts():
            counts[row["status"]] = int(row["n"])
        return Progress({**counts, "total": sum(counts.values())}, self.workers() if counts["reserved"] else None)

    def workers(self):
        """Who holds each reserved job (a polars DataFrame): its key, host, pid, executor task, database
        session, reservation and heartbeat times, and ``state``: 'alive'; 'gone' (its session or
        process ended) or 'silent' (no heartbeat within ``jobs.heartbeat_timeout``): the next refresh,
        or the next worker that finds nothing due, re-pends those."""
        import polars as pl
        present = [c for c in WORKER_COLUMNS if c in self.heading.names]
        rows = self.reserved.proj(*present).to_dicts(order_by=["reserved_time"])
        sessions = self.connection.backend.live_sessions() if rows else None
        timeout = self.heartbeat_timeout
        cutoff = self._now() - dt.timedelta(seconds=timeout) if rows and timeout else None
        for row in rows:
            row.update({c: v for c, v in HEARTBEAT_COLUMNS.items() if c not in row})
            row["state"] = worker_state(row, sessions, cutoff)
        names = [*self.primary_key, *WORKER_COLUMNS, "state"]
        return pl.DataFrame({name: [row[name] for row in rows] for name in names})

    # ----- the queue -------------------------------------------------------------------------
    def refresh(self, *restrictions, delay=0, priority=None, stale_timeout=None, orphan_timeout=None,
                heartbeat_timeout=None) -> dict:
        """Add a pending job for every key still to do; re-pend finished jobs whose result was deleted
        (with ``jobs.keep_completed``); drop jobs whose key left the key source (older than
        ``stale_timeout`` s); re-pend the reservations of gone workers (`recover_orphans`, with
        `heartbeat_timeout`) and those older than ``orphan_timeout`` s."""
        config = self.connection.config
        now = self._now()
        target = self._target
        priority = config["jobs.default_priority"] if priority is None else priority
        todo = keys_to_do(target, restrictions).restrict(Not(self.proj()), semantic_check=False)
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
            re_pended = self._repend(back, now, completed_time=None)
        cutoff = now - dt.timedelta(seconds=config["jobs.stale_timeout"] if stale_timeout is None else stale_timeout)
        stale = (self - {"status": "ignore"}) & f"created_time < '{_text(cutoff)}'"
        stale = stale.restrict(Not(target.key_source.proj()), semantic_check=False)
        removed = stale.delete_quick(get_count=True) or 0
        orphaned = self.recover_orphans(heartbeat_timeout)
        if orphan_timeout is not None:
            lost = self.reserved & f"reserved_time < '{_text(now - dt.timedelta(seconds=orphan_timeout))}'"
            orphaned += self._repend(lost, now)
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

    def recover_orphans(self, heartbeat_timeout=None) -> int:
        """Re-pend the reservations whose worker is gone: its database session no longer exists (the
        server's session list), or, on an embedded database, its process on this host ended; or its
        heartbeat is older than `heartbeat_timeout` s (default ``jobs.heartbeat_timeout``): a lost node
        whose session still looks open. A worker killed mid-make thus loses no key, without any call."""
        return self._recover_dead() + self._recover_silent(heartbeat_timeout)

    def _recover_dead(self) -> int:
        reserved = self.reserved.proj("connection_id", "host", "pid", "user", "reserved_time").to_dicts()
        if not reserved:
            return 0
        sessions = self.connection.backend.live_sessions()
        dead = [job for job in reserved if not worker_alive(job, sessions)]
        if not dead:
            return 0
        taken = [{**self._key(job), "connection_id": job["connection_id"]} for job in dead]
        count = self._repend(self.reserved & taken, self._now())
        if count:
            logger.warning("Re-pended %d job(s) of %s whose worker is gone: %s", count, self._target.class_name,
                           [self._key(job) for job in dead][:5])
        return count

    def _recover_silent(self, heartbeat_timeout) -> int:
        """One UPDATE: a heartbeat renewed meanwhile keeps its job (NULL, a worker that does not beat,
        never expires: the reference's workers, embedded databases)."""
        timeout = self.heartbeat_timeout if heartbeat_timeout is None else heartbeat_timeout
        if not self.has_heartbeat or not timeout:  # 0: heartbeats are off
            return 0
        now = self._now()
        silent = self.reserved & f"heartbeat_time < '{_text(now - dt.timedelta(seconds=timeout))}'"
        count = self._repend(silent, now)
        if count:
            logger.warning("Re-pended %d job(s) of %s whose worker sent no heartbeat for %s s (a lost node?)",
                           count, self._target.class_name, timeout)
        return count

    def _repend(self, jobs, now, **values) -> int:
        """Back to pending, due now, with no holder's heartbeat left on it."""
        heartbeat = {"heartbeat_time": None} if self.has_heartbeat else {}
        return self._set(jobs, status="pending", scheduled_time=now, reserved_time=None, **heartbeat, **values)

    def pending_keys(self, restrictions=(), priority=None, limit=None) -> list[dict]:
        """Keys of the jobs due now, most urgent first (lower priority values first, then oldest)."""
        return self.due(restrictions, priority).keys(order_by=["priority", "scheduled_time"], limit=limit)

    def due(self, restrictions=(), priority=None, clock=None):
        """Pending jobs scheduled by now (or by `clock`; False: any time), within populate's
        restrictions and priority."""
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
        beat = {"heartbeat_time": now} if self.beats else {}
        return self._set(job, status="reserved", reserved_time=now, **self.worker(), **beat) == 1

    def claim(self, restrictions=(), priority=None, order="original", limit=1) -> list[dict]:
        """Reserve the next `limit` due jobs for this worker in one statement and return their keys
        (each with the ``connection_id`` that holds it). Concurrent workers pass over each other's
        rows instead of racing for the same one; keys already in the target are left alone."""
        if order not in ORDERS:
            raise DataJointError(f"populate(order={order!r}) of {self._target.class_name}: use one of {ORDERS}.")
        backend = self.connection.backend
        where = self._claim_where(tuple(restrictions), priority, backend)
        worker = {k: v for k, v in self.worker().items() if k != "connection_id"}
        if self.beats:  # the claim's own heartbeat, on the server's clock as read at connect
            worker["heartbeat_time"] = self._server_clock()
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
        due = self.due(restrictions, priority, clock=False).restrict(Not(self._target.proj()), semantic_check=False)
        _, where = Compiler(backend).where_sql(due.node)
        self._claim_cache = ((restrictions, priority, id(backend)), where)
        return where

    def finish(self, key, holder: int, duration=None, error=None, error_stack=None) -> bool:
        """Complete (or, with `error`, fail) a job this worker still holds: reserved by session
        `holder`. False if it was taken away meanwhile (re-pended as orphaned, made by another)."""
        if error is None and not self.connection.config["jobs.keep_completed"]:
            return self._delete_held(key, holder) == 1
        held = self.reserved & {**self._key(key), "connection_id": holder}
        if error is not None:
            return self._set(held, status="error", completed_time=self._now(),
                             error_message=_truncated(error)) == 1 and self._stack(key, error_stack)
        return self._set(held, status="success", completed_time=self._now(), duration=duration) == 1

    def release(self, jobs: list[dict]) -> int:
        """Give claimed jobs back (each key with the ``connection_id`` holding it): pending and due now, as
        if never claimed. Jobs taken away meanwhile are left alone."""
        held = self.reserved & [{**self._key(job), "connection_id": job["connection_id"]} for job in jobs]
        return self._repend(held, self._now())

    def _delete_held(self, key, holder) -> int:
        """One DELETE of the job of `key` if session `holder` still reserves it; the statement text is the
        same for every key (values bound where the backend can), so a key costs no compilation."""
        backend = self.connection.backend
        held = {**self._key(key), "status": "reserved", "connection_id": holder}
        where, params = backend.key_condition(backend.full_name(self.database, self.table_name), held, self.heading)
        return backend.execute(backend.dialect.delete_where_sql(self.database, self.table_name, where), params or None)

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

    # ----- heartbeats ------------------------------------------------------------------------
    @functools.cached_property
    def has_heartbeat(self) -> bool:
        """The queue has djframe's heartbeat columns (one the reference declared has not)."""
        return "heartbeat_time" in self.heading.names

    @functools.cached_property
    def heartbeat_timeout(self) -> float:
        """Seconds without a heartbeat after which a reservation counts as lost (``jobs.heartbeat_timeout``;
        0 turns heartbeats off); read once per queue object (populate asks at every claim)."""
        return self.connection.config.get("jobs.heartbeat_timeout", HEARTBEAT_TIMEOUT)

    @property
    def beats(self) -> bool:
        """Do this worker's reservations carry a heartbeat? On a database server, with the columns and a
        timeout. An embedded database has no other nodes: its workers' processes are checked directly."""
        return self.has_heartbeat and self.heartbeat_timeout > 0 and self.worker()["connection_id"] != 0

    def heartbeat(self) -> "Heartbeat":
        """The heartbeat of this worker's populate loop: ``with jobs.heartbeat() as beat`` around the loop,
        ``with beat.holding(key, holder)`` around each make."""
        return Heartbeat(self)

    def _server_clock(self) -> dt.datetime:
        """The server's clock without a round trip: this host's clock plus the offset read once per session."""
        self.worker()
        now = dt.datetime.now() + self._clock_offset
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

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
            self.insert1({**key, **values, **self.worker()})

    def _set(self, jobs, **values) -> int:
        return set_columns(jobs, values)

    def _now(self) -> dt.datetime:
        """The server's clock, in whole milliseconds (the columns' precision)."""
        return server_now(self.connection.backend)

    def worker(self) -> dict:
        """Who reserves: host, pid, database session and user (asked of the server once per
        connection: a forked worker has its own), executor task (once per queue object: one per
        populate call or Dask task) and code version."""
        backend = self.connection.backend
        session = (id(backend), getattr(backend, "reconnects", 0))  # a reconnected session has a new id
        if self._worker_of != session:
            identity = {"host": platform.node()[:255], "pid": os.getpid(), "connection_id": backend.connection_id(),
                        "user": backend.current_user()[:255]}
            if self.has_heartbeat:
                identity["executor_task"] = executor_task()[:255]
            self._worker_of, self._worker_cache = session, identity
            self._clock_offset = backend.server_time() - dt.datetime.now()
        return {**self._worker_cache, "version": code_version()}

    _worker_of = None


class Progress(dict):
    """Jobs per status and their total, a plain dict to compare and index; its text adds the table of
    the reserved jobs' workers (`Job.workers`), also kept as ``.workers``."""

    def __init__(self, counts: dict, workers=None):
        super().__init__(counts)
        self.workers = workers

    def __repr__(self):
        text = super().__repr__()
        if self.workers is None or not len(self.workers):
            return text
        import polars as pl
        with pl.Config(tbl_cols=-1, tbl_width_chars=160, tbl_hide_dataframe_shape=True,
                       tbl_hide_column_data_types=True):
            return f"{text}\nreserved by:\n{self.workers}"

    __str__ = __repr__


class Heartbeat:
    """Renews ``heartbeat_time`` of the job this worker is making, every quarter of the timeout, from a
    daemon thread on a connection of its own: the worker's connection is busy inside make's transaction
    (and not thread-safe), and a beat between keys would stop during a long make. The thread starts with
    the first job held and connects only when a make outlasts an interval, so quick makes cost no more
    than their claim, which writes the first beat itself. A node that vanishes stops beating with it."""

    def __init__(self, jobs: Job):
        self.jobs = jobs
        self.interval = jobs.heartbeat_timeout / 4 if jobs.beats else None
        self.lock = threading.Lock()
        self.held = None  # (key, holder, monotonic time of the last beat)
        self.stopped = threading.Event()
        self.thread = None
        self.queue = None  # the job queue on the thread's own connection

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def holding(self, key, holder):
        """Beat for the job of `key`, reserved by session `holder`, while the block makes it."""
        if self.interval is None:
            yield
            return
        with self.lock:
            self.held = (self.jobs._key(key), holder, time.monotonic())
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="djframe-heartbeat", daemon=True)
            self.thread.start()
        try:
            yield
        finally:
            with self.lock:
                self.held = None

    def close(self):
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        if self.queue is not None:
            with contextlib.suppress(Exception):
                self.queue.connection.close()

    def _run(self):
        while not self.stopped.wait(self.interval / 2):
            with self.lock:
                held = self.held
            if held is None or time.monotonic() - held[2] < self.interval:
                continue
            if self.beat(held[0], held[1]):
                with self.lock:
                    if self.held is not None and self.held[:2] == held[:2]:
                        self.held = (*held[:2], time.monotonic())

    def beat(self, key, holder) -> bool:
        """One renewal (the server's clock); a failure is logged and the connection opened again next time."""
        try:
            queue = self._queue()
            held = queue & {**key, "status": "reserved", "connection_id": holder}
            return set_columns(held, {"heartbeat_time": server_now(queue.connection.backend)}) == 1
        except Exception as error:
            logger.warning("The heartbeat of the job %s of %s failed (%s); trying again.", key,
                           self.jobs.target.class_name, error)
            with contextlib.suppress(Exception):
                self.queue.connection.close()
            self.queue = None
            return False

    def _queue(self) -> FreeTable:
        if self.queue is None:
            jobs = self.jobs
            self.queue = FreeTable(jobs.connection.clone(), jobs.database, jobs.table_name)
        return self.queue


def keys_to_do(target, restrictions=()):
    """The keys of the target's key source (within `restrictions`) not yet in the target."""
    todo = target.key_source & AndList(restrictions)
    return (todo.proj() - target.proj()).proj()


def set_columns(jobs, values: dict) -> int:
    """One UPDATE of plain (non-codec) columns over the restricted jobs, on their connection; the number changed."""
    backend = jobs.connection.backend
    _, where = Compiler(backend).where_sql(jobs.node)
    return backend.update(jobs.database, jobs.table_name, values, where, heading=jobs.heading)  # one statement


def server_now(backend) -> dt.datetime:
    """The server's clock, in whole milliseconds (the columns' precision)."""
    now = backend.server_time()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def worker_state(job: dict, sessions: dict | None, cutoff: dt.datetime | None) -> str:
    """'gone' (session or process ended), 'silent' (heartbeat older than `cutoff`) or 'alive'."""
    if not worker_alive(job, sessions):
        return "gone"
    if cutoff is not None and job["heartbeat_time"] is not None and job["heartbeat_time"] < cutoff:
        return "silent"
    return "alive"


def executor_task() -> str:
    """Which scheduler task this process runs as, to find it in the scheduler: the Dask task on this
    thread, the SLURM array task (or job), the Kubernetes Job completion index (or pod), the AWS Batch
    job; '' when none."""
    task = _dask_task()
    if task:
        return f"dask:{task}"
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"slurm:{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    if env.get("SLURM_JOB_ID"):
        return f"slurm:{env['SLURM_JOB_ID']}"
    if env.get("JOB_COMPLETION_INDEX"):
        return f"k8s:{env.get('HOSTNAME') or platform.node()}/{env['JOB_COMPLETION_INDEX']}"
    if env.get("KUBERNETES_SERVICE_HOST"):
        return f"k8s:{env.get('HOSTNAME') or platform.node()}"
    if env.get("AWS_BATCH_JOB_ID"):
        return f"aws-batch:{env['AWS_BATCH_JOB_ID']}"
    return ""


def _dask_task() -> str:
    """The key of the Dask task running on this thread, if any (distributed is not imported for it)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return ""
    try:
        return str(distributed.get_worker().get_current_task() or "")
    except Exception:  # not on a Dask worker's task thread
        return ""


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


def order_keys(keys: list, order: str) -> list:
    """Keys listed in key order, as populate(order=...) makes them."""
    if order == "reverse":
        return keys[::-1]
    if order == "random":
        import random
        return random.sample(keys, len(keys))
    return keys


def picklable_error(error):
    """A make's error travels to the process that started the worker by pickling; one that does not
    pickle goes as its text."""
    try:
        pickle.dumps(error)
        return error
    except Exception:
        return DataJointError(f"{type(error).__name__}: {error}")


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


def worker_alive(job: dict, sessions: dict | None) -> bool:
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
