"""dj.migrate: job-metadata columns for tables declared without them; ~lineage rebuilt."""

import pytest

import djframe as dj


@pytest.fixture
def pipeline(schema):
    @schema
    class Source(dj.Manual):
        definition = """
        sid : int32
        """

    @schema
    class Result(dj.Computed):
        definition = """
        -> Source
        ---
        value : int32
        """

        class Detail(dj.Part):
            definition = """
            -> master
            """

        def make(self, key):
            self.insert1({**key, "value": key["sid"] * 10})
            self.Detail.insert1(key)

    Source.insert([{"sid": 1}, {"sid": 2}])
    return Source, Result


def test_job_metadata_columns_added_then_filled(schema, pipeline):
    Source, Result = pipeline
    planned = dj.migrate.add_job_metadata_columns(schema)
    assert planned["tables_analyzed"] == 1 and planned["columns_added"] == 0  # masters only, dry run
    detail = planned["details"][0]
    assert detail["status"] == "pending" and any("_job_version" in s for s in detail["sql_statements"])
    assert not any(a.name.startswith("_job") for a in Result().heading.all_attributes)
    done = dj.migrate.add_job_metadata_columns(schema, dry_run=False)
    assert done["tables_modified"] == 1 and done["columns_added"] == 3 and done["details"][0]["status"] == "migrated"
    hidden = [a for a in Result().heading.all_attributes if a.hidden]
    assert [(a.name, a.type.text) for a in hidden] == [("_job_start_time", "datetime(3)"),
                                                       ("_job_duration", "float32"), ("_job_version", "varchar(64)")]
    Result.populate()
    backend = schema.connection.backend
    rows = backend.fetch_arrow(f"SELECT {backend.quote('_job_duration')} FROM {Result.full_table_name}").to_pylist()
    assert len(rows) == 2 and all(r["_job_duration"] is not None for r in rows)
    assert dj.migrate.add_job_metadata_columns(Result, dry_run=False)["details"][0]["status"] == "already_migrated"


def test_rebuild_lineage(schema, pipeline):
    Source, Result = pipeline
    before = schema.lineage
    backend = schema.connection.backend
    for table in schema.list_tables():
        backend.write_lineage(schema.database, table, {})
    assert schema.lineage == {}
    planned = dj.migrate.rebuild_lineage(schema)
    assert planned == {"tables_analyzed": 3, "lineage_entries": 3, "status": "dry_run"} and schema.lineage == {}
    assert dj.migrate.rebuild_lineage(schema, dry_run=False)["status"] == "rebuilt"
    assert schema.lineage == before and before[f"{schema.database}.__result__detail.sid"] == \
        f"{schema.database}.source.sid"
