"""The job queue (``~~<name>``) and populate(reserve_jobs=True / processes>1), on every backend;
and a queue shared with the reference client on PostgreSQL and MariaDB."""

import datetime as dt
import os
import warnings

import pytest

import djframe as dj
from djframe.errors import DataJointError


@pytest.fixture
def pipeline(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        weight : float64
        """

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Subject
        ---
        doubled : float64
        """

        def make(self, key):
            weight = (Subject & key).fetch1("weight")
            if weight < 0:
                raise ValueError(f"negative weight {weight}")
            self.insert1({**key, "doubled": 2 * weight})

    Subject.insert([{"subject_id": i, "weight": float(i)} for i in range(1, 7)])
    return Subject, Analysis


@pytest.fixture
def keep_completed():
    with dj.config.override(jobs__keep_completed=True):
        yield


def test_queue_is_declared_with_the_reference_layout(pipeline, schema):
    _, Analysis = pipeline
    jobs = Analysis.jobs
    assert jobs.table_name == "~~analysis" and "~~analysis" in schema.connection.backend.list_tables(schema.database)
    assert jobs.primary_key == ["subject_id"]
    assert jobs.heading.names == ["subject_id", "status", "priority", "created_time", "scheduled_time",
                                  "reserved_time", "completed_time", "duration", "error_message", "error_stack",
                                  "user", "host", "pid", "connection_id", "version",  # the reference's, then
                                  "heartbeat_time", "executor_task"]  # djframe's two, nullable / defaulted
    assert jobs.heading["heartbeat_time"].nullable and jobs.heading["executor_task"].has_default
    assert jobs.heading["status"].type.enum_values == ("pending", "reserved", "success", "error", "ignore")
    assert jobs.heading["error_stack"].type.text == "<blob>"
    assert "~~analysis" not in schema.list_tables()  # hidden, like ~lineage
    assert len(jobs) == 0 and Analysis.jobs.progress()["total"] == 0


def test_schema_lists_the_queues_that_exist(pipeline, schema):
    _, Analysis = pipeline
    assert schema.jobs == []  # no queue declared yet: listing declares none
    Analysis.jobs.refresh()
    queues = schema.jobs
    assert [q.table_name for q in queues] == ["~~analysis"] and isinstance(queues[0], dj.Job)
    assert queues[0].progress()["pending"] == 6 and queues[0].refresh()["added"] == 0


def test_refresh_then_populate_with_reservations(pipeline):
    _, Analysis = pipeline
    assert Analysis.jobs.refresh() == {"added": 6, "removed": 0, "orphaned": 0, "re_pended": 0}
    assert Analysis.jobs.refresh()["added"] == 0  # already queued
    assert Analysis.jobs.progress() == {"pending": 6, "reserved": 0, "success": 0, "error": 0, "ignore": 0,
                                        "total": 6}
    result = Analysis.populate(reserve_jobs=True)
    assert result == {"success_count": 6, "error_list": []}
    assert len(Analysis()) == 6 and len(Analysis.jobs) == 0  # finished jobs are deleted by default


def test_completed_jobs_are_kept_and_re_pended(pipeline, keep_completed):
    _, Analysis = pipeline
    Analysis.populate(reserve_jobs=True)
    done = Analysis.jobs.completed.to_dicts()
    assert len(done) == 6 and all(j["duration"] is not None and j["completed_time"] is not None for j in done)
    assert {j["host"] for j in done} and all(j["pid"] == os.getpid() for j in done)
    (Analysis & {"subject_id": 2}).delete()
    assert Analysis.jobs.refresh()["re_pended"] == 1
    assert Analysis.jobs.pending.keys() == [{"subject_id": 2}]
    assert Analysis.populate(reserve_jobs=True)["success_count"] == 1


def test_errors_are_recorded_and_not_retried(pipeline):
    Subject, Analysis = pipeline
    Subject.update1({"subject_id": 3, "weight": -1.0})
    result = Analysis.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 5 and result["error_list"][0][0] == {"subject_id": 3}
    error = Analysis.jobs.errors.fetch1()
    assert error["status"] == "error" and "negative weight -1.0" in error["error_message"]
    assert "ValueError" in error["error_stack"] and "Traceback" in error["error_stack"]
    assert Analysis.populate(reserve_jobs=True)["success_count"] == 0  # an error job is not retried
    Subject.update1({"subject_id": 3, "weight": 3.0})
    Analysis.jobs.errors.delete()
    assert Analysis.populate(reserve_jobs=True)["success_count"] == 1 and len(Analysis()) == 6


def test_a_made_key_and_the_end_of_its_job_are_one_transaction(pipeline, monkeypatch):
    """No window in which a key is made but its job still reserved (and one commit less per key);
    a failed make ends its job after the rollback, in its own statement."""
    from djframe.tables.jobs import Job
    Subject, Analysis = pipeline
    Subject.update1({"subject_id": 3, "weight": -1.0})
    seen = []
    finish = Job.finish

    def spy(self, key, holder, duration=None, error=None, error_stack=None):
        seen.append((key["subject_id"], error is None, self.connection.in_transaction))
        return finish(self, key, holder, duration, error=error, error_stack=error_stack)

    monkeypatch.setattr(Job, "finish", spy)
    result = Analysis.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 5
    assert sorted(seen) == [(1, True, True), (2, True, True), (3, False, False), (4, True, True),
                            (5, True, True), (6, True, True)]
    assert len(Analysis.jobs.reserved) == 0 and len(Analysis.jobs.errors) == 1


def test_an_unsuppressed_error_is_raised_and_recorded(pipeline):
    Subject, Analysis = pipeline
    Subject.update1({"subject_id": 1, "weight": -5.0})
    with pytest.raises(ValueError, match="negative weight"):
        Analysis.populate(reserve_jobs=True)
    assert Analysis.jobs.errors.keys() == [{"subject_id": 1}]


def test_long_error_messages_are_truncated(pipeline):
    _, Analysis = pipeline
    Analysis.jobs.error({"subject_id": 4}, "x" * 5000, "stack")
    message = Analysis.jobs.fetch1("error_message")
    assert len(message) == 2047 and message.endswith("...truncated")


def test_ignored_keys_are_skipped(pipeline):
    _, Analysis = pipeline
    Analysis.jobs.ignore({"subject_id": 5})
    assert Analysis.populate(reserve_jobs=True)["success_count"] == 5
    assert not (Analysis & {"subject_id": 5}) and Analysis.jobs.ignored.keys() == [{"subject_id": 5}]


def test_a_job_is_reserved_once(pipeline):
    _, Analysis = pipeline
    Analysis.jobs.refresh()
    assert Analysis.jobs.reserve({"subject_id": 1}) is True
    assert Analysis.jobs.reserve({"subject_id": 1}) is False  # taken: another worker skips it
    reserved = Analysis.jobs.reserved.fetch1()
    assert reserved["subject_id"] == 1 and reserved["reserved_time"] is not None
    assert reserved["connection_id"] == Analysis.connection.backend.connection_id()
    assert Analysis.populate(reserve_jobs=True, refresh=False)["success_count"] == 5


def test_scheduling_priority_and_restrictions(pipeline):
    _, Analysis = pipeline
    Analysis.jobs.refresh({"subject_id": 1}, priority=9)
    Analysis.jobs.refresh("subject_id > 4", priority=1)
    Analysis.jobs.refresh(delay=3600)  # the rest are due only in an hour
    assert Analysis.jobs.pending_keys() == [{"subject_id": 5}, {"subject_id": 6}, {"subject_id": 1}]
    assert Analysis.populate(reserve_jobs=True, refresh=False, priority=5)["success_count"] == 2
    assert Analysis.populate(reserve_jobs=True, refresh=False, max_calls=1)["success_count"] == 1
    assert Analysis.populate(reserve_jobs=True, refresh=False)["success_count"] == 0  # not due yet
    assert len(Analysis()) == 3 and len(Analysis.jobs.pending) == 3


def test_stale_and_orphaned_jobs(pipeline):
    Subject, Analysis = pipeline
    Analysis.jobs.refresh()
    Analysis.jobs.reserve({"subject_id": 2})
    (Subject & {"subject_id": 6}).delete()  # its key leaves the key source
    result = Analysis.jobs.refresh(stale_timeout=0, orphan_timeout=0)
    assert result["removed"] == 1 and result["orphaned"] == 1
    assert sorted(k["subject_id"] for k in Analysis.jobs.pending.keys()) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("reserve_jobs", [True, False])
def test_worker_processes(pipeline, reserve_jobs):
    _, Analysis = pipeline
    result = Analysis.populate(reserve_jobs=reserve_jobs, processes=2)
    assert result == {"success_count": 6, "error_list": []}
    assert sorted(Analysis.to_polars()["doubled"].to_list()) == [2.0 * i for i in range(1, 7)]
    assert Analysis.connection.ping() is None  # the parent's own connection still works


def test_worker_processes_report_errors(pipeline):
    Subject, Analysis = pipeline
    Subject.update1({"subject_id": 2, "weight": -1.0})
    result = Analysis.populate(reserve_jobs=True, processes=2, suppress_errors=True)
    assert result["success_count"] == 5 and [k for k, _ in result["error_list"]] == [{"subject_id": 2}]
    assert "negative weight" in result["error_list"][0][1]
    assert Analysis.jobs.errors.keys() == [{"subject_id": 2}]


def test_job_metadata_columns_are_filled(schema):
    with dj.config.override(jobs__add_job_metadata=True):
        @schema
        class Source(dj.Manual):
            definition = """
            sid : int16
            """

        @schema
        class Timed(dj.Computed):
            definition = """
            -> Source
            ---
            value : int32
            """

            def make(self, key):
                self.insert1({**key, "value": key["sid"] * 10})

    Source.insert([{"sid": 1}, {"sid": 2}])
    before = dt.datetime.now() - dt.timedelta(seconds=1)
    Timed.populate(reserve_jobs=True)
    backend = schema.connection.backend
    columns = ", ".join(backend.quote(c) for c in ("_job_start_time", "_job_duration", "_job_version"))
    rows = backend.fetch_arrow(f"SELECT {columns} FROM {Timed.full_table_name}").to_pylist()
    assert len(rows) == 2 and all(r["_job_duration"] is not None and r["_job_duration"] >= 0 for r in rows)
    starts = [r["_job_start_time"] for r in rows]
    starts = [dt.datetime.fromisoformat(s) if isinstance(s, str) else s for s in starts]  # SQLite keeps text
    assert all(s >= before for s in starts) and all(r["_job_version"] == "" for r in rows)
    assert "_job_start_time" not in Timed.heading.names  # hidden


def test_key_without_its_attributes_is_refused(pipeline):
    _, Analysis = pipeline
    with pytest.raises(DataJointError, match="needs"):
        Analysis.jobs.reserve({"other": 1})


# ----- interoperability ---------------------------------------------------------------------------
@pytest.mark.oracle
def test_reference_client_works_the_same_queue(pipeline, schema, backend_name, tmp_path):
    """The reference reads djframe's queue and reserves from it, and djframe reads the reference's."""
    if backend_name == "sqlite":
        pytest.skip("the reference client has no SQLite backend")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = __import__("datajoint")  # a test dependency: never skipped
        from tests.conftest import server_settings
        s = server_settings(backend_name, str(tmp_path))
        connection = ref.Connection(f"{s['host']}:{s['port']}", s["user"], s["password"], use_tls=False,
                                    backend=backend_name, database_name=s.get("database_name"))
    try:
        _, Analysis = pipeline
        Analysis.jobs.refresh()
        queue = ref.FreeTable(connection, f"{schema.database}.~~analysis")
        assert len(queue & {"status": "pending"}) == 6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = ref.VirtualModule("ref_pipeline", schema.database, connection=connection)
        assert module.Analysis().jobs.reserve({"subject_id": 3})  # the reference reserves from our queue
        assert Analysis.jobs.reserved.keys() == [{"subject_id": 3}]
        assert Analysis.jobs.recover_orphans(heartbeat_timeout=0.001) == 0  # it does not beat: never silent
        [mine] = Analysis.jobs.claim()  # and it leaves djframe's reservations alone
        assert not module.Analysis().jobs.reserve({"subject_id": mine["subject_id"]})
        assert Analysis.populate(reserve_jobs=True, refresh=False)["success_count"] == 4
        assert [w["state"] for w in Analysis.jobs.workers().to_dicts()] == ["alive", "alive"]
        module.Analysis().jobs.error({"subject_id": 3}, "failed in the reference")
        assert Analysis.jobs.errors.fetch1("error_message") == "failed in the reference"
    finally:
        connection.close()


@pytest.mark.oracle
def test_a_queue_the_reference_declared_works_without_heartbeats(pipeline, schema, backend_name, tmp_path):
    """No heartbeat columns: djframe claims, completes, recovers and shows workers by the session alone."""
    if backend_name == "sqlite":
        pytest.skip("the reference client has no SQLite backend")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = __import__("datajoint")
        from tests.conftest import server_settings
        s = server_settings(backend_name, str(tmp_path))
        connection = ref.Connection(f"{s['host']}:{s['port']}", s["user"], s["password"], use_tls=False,
                                    backend=backend_name, database_name=s.get("database_name"))
    try:
        _, Analysis = pipeline
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = ref.VirtualModule("ref_queue", schema.database, connection=connection).Analysis()
            theirs.jobs.refresh()  # declared by the reference, in its layout
        jobs = Analysis.jobs
        assert not jobs.has_heartbeat and not jobs.beats and "heartbeat_time" not in jobs.heading.names
        assert theirs.jobs.reserve({"subject_id": 2})
        [held] = jobs.claim()
        assert (jobs & held).fetch1("host") and jobs.heartbeat().interval is None
        workers = jobs.workers().to_dicts()
        assert [w["state"] for w in workers] == ["alive", "alive"] and {w["heartbeat_time"] for w in workers} == {None}
        assert jobs.recover_orphans(heartbeat_timeout=0.001) == 0
        assert Analysis.populate(reserve_jobs=True)["success_count"] == 4  # key 1 (held above) and 2 stay
        assert jobs.progress() == {"pending": 0, "reserved": 2, "success": 0, "error": 0, "ignore": 0, "total": 2}
        theirs.jobs.complete({"subject_id": 2})
        jobs.update1({**held, "connection_id": 2 ** 40})  # its session ended
        assert jobs.refresh()["orphaned"] == 1 and Analysis.populate(reserve_jobs=True)["success_count"] == 2
    finally:
        connection.close()


def test_tables_that_would_share_a_queue_are_refused(schema):
    @schema
    class Source(dj.Manual):
        definition = """
        sid : int32
        """

    @schema
    class Trace(dj.Imported):
        definition = """
        -> Source
        """

        def make(self, key):
            self.insert1(key)

    Computed = type("Trace", (dj.Computed,), {"definition": "-> Source", "make": lambda self, key: self.insert1(key)})
    TraceComputed = schema(Computed)  # `__trace` next to `_trace`: both queues would be `~~trace`
    with pytest.raises(DataJointError, match="would share the job queue `~~trace`"):
        TraceComputed.populate(reserve_jobs=True)
    with pytest.raises(DataJointError, match="would share"):
        Trace.jobs
    Source.insert1({"sid": 1})
    assert Trace.populate()["success_count"] == 1  # without queues both work


# ----- make-time API and populate's arguments -----------------------------------------------------
def test_upstream_is_the_key_s_ancestry_inside_make_only(schema):
    @schema
    class Animal(dj.Manual):
        definition = """
        animal : int32
        ---
        name : varchar(16)
        """

    @schema
    class Other(dj.Manual):
        definition = """
        other : int32
        """

    seen = []

    @schema
    class Greeting(dj.Computed):
        definition = """
        -> Animal
        ---
        text : varchar(32)
        """

        def make_fetch(self, key):
            seen.append(id(self.upstream))
            return (self.upstream[Animal].fetch1("name"),)

        def make_compute(self, key, name):
            seen.append(id(self.upstream))
            return (f"hi {name}",)

        def make_insert(self, key, text):
            seen.append(id(self.upstream))
            with pytest.raises(DataJointError, match="not in this trace"):
                self.upstream[Other]
            self.insert1({**key, "text": text})

    Animal.insert([{"animal": 1, "name": "ada"}, {"animal": 2, "name": "bo"}])
    assert Greeting.populate()["success_count"] == 2
    assert sorted(Greeting.to_arrays("text")) == ["hi ada", "hi bo"]
    # one trace per key, seen by every phase (make_fetch runs twice: outside and inside the transaction)
    assert len(seen) == 8 and len(set(seen[:4])) == 1 and len(set(seen[4:])) == 1
    with pytest.raises(DataJointError, match="only available inside make"):
        Greeting().upstream


def test_legacy_make_tuples_and_tables_without_make(schema, pipeline):
    Subject, _ = pipeline

    @schema
    class Legacy(dj.Computed):
        definition = """
        -> Subject
        """

        def _make_tuples(self, key):
            self.insert1(key)

    assert Legacy.populate()["success_count"] == 6
    module = dj.VirtualModule("jobs_virtual", schema.database, connection=schema.connection)
    with pytest.raises(DataJointError, match="has no make"):  # one error before any key is tried
        module.Analysis().populate(suppress_errors=True)
    with pytest.raises(DataJointError, match="has no make"):
        module.Analysis().populate(reserve_jobs=True)
    assert len(module.Analysis()) == 0


def test_processes_none_means_one_per_cpu(pipeline):
    _, Analysis = pipeline
    assert Analysis.populate(processes=None) == {"success_count": 6, "error_list": []}
    with pytest.raises(DataJointError, match="positive number"):
        Analysis.populate(processes=0)


def test_order_and_the_queue_definition(pipeline):
    from djframe.tables.jobs import ERROR_MESSAGE_LENGTH, TRUNCATION_APPENDIX
    _, Analysis = pipeline
    assert ERROR_MESSAGE_LENGTH == 2047 and TRUNCATION_APPENDIX == "...truncated"
    assert "subject_id : int32" in Analysis.jobs.definition and "status" in Analysis.jobs.definition
    made = []
    Analysis.make = lambda self, key: (made.append(key["subject_id"]), self.insert1({**key, "doubled": 0.0}))
    try:
        Analysis.populate(order="reverse", max_calls=2)
        assert made == [6, 5]
        Analysis.populate(reserve_jobs=True, order="reverse", max_calls=2)
        assert made == [6, 5, 4, 3]
        Analysis.populate(max_calls=1)  # the first missing key in key order (only it is fetched)
        assert made == [6, 5, 4, 3, 1]
        assert Analysis.populate(max_calls=0)["success_count"] == 0
        Analysis.populate(order="original", max_calls=5)
        assert made == [6, 5, 4, 3, 1, 2]
        with pytest.raises(DataJointError, match="order"):
            Analysis.populate(order="sideways")
    finally:
        del Analysis.make
