"""dj.deploy: idempotent deploy steps (replica identity on PostgreSQL, the _prov column)."""

import json

import pytest

import djframe as dj
from djframe.errors import DataJointError


@pytest.fixture
def tables(schema):
    @schema
    class Animal(dj.Manual):
        definition = """
        animal_id : int32
        ---
        name : varchar(20)
        """

    @schema
    class Strain(dj.Lookup):
        definition = """
        strain : varchar(12)
        """
        contents = [("C57",), ("BALB",)]

    Animal.insert1({"animal_id": 1, "name": "before"})
    return Animal, Strain


def test_add_prov_column_dry_run_then_real_then_idempotent(schema, tables, conn):
    Animal, Strain = tables
    planned = dj.deploy.add_prov_column(schema)
    assert planned["tables_analyzed"] == 1 and planned["tables_modified"] == 0  # Manual tables only
    assert planned["details"] == [{"table": f"{schema.database}.animal", "status": "pending"}]
    assert any("_prov" in statement for statement in planned["ddl"])
    assert not any(a.name == "_prov" for a in Animal.heading.all_attributes)  # the dry run changed nothing
    done = dj.deploy.add_prov_column(schema, dry_run=False)
    assert done["columns_added"] == 1 and done["details"][0]["status"] == "added"
    assert any(a.name == "_prov" and a.hidden for a in Animal().heading.all_attributes)
    again = dj.deploy.add_prov_column(Animal, dry_run=False)
    assert again["details"][0]["status"] == "already_present" and again["ddl"] == []
    with dj.config.override(**{"provenance.capture": True, "provenance.source": {"step": "deploy"}}):
        Animal.insert1({"animal_id": 2, "name": "after"})
    backend = conn.backend
    rows = backend.fetch_rows(f"SELECT {backend.quote('animal_id')}, {backend.quote('_prov')} FROM "
                              f"{Animal.full_table_name} ORDER BY {backend.quote('animal_id')}")
    prov = {k: v if v is None or isinstance(v, dict) else json.loads(v) for k, v in rows}
    assert prov[1] is None and prov[2]["source"] == {"step": "deploy"}
    assert sorted(r["name"] for r in Animal.to_dicts()) == ["after", "before"]  # existing rows kept


def test_replica_identity(schema, tables, conn):
    Animal, Strain = tables
    if conn.backend.name != "postgresql":
        with pytest.raises(DataJointError, match="PostgreSQL"):
            dj.deploy.set_replica_identity(schema)
        return
    planned = dj.deploy.set_replica_identity(schema)
    assert planned["tables_analyzed"] == 2 and planned["tables_modified"] == 0
    assert all(s.endswith("REPLICA IDENTITY FULL") for s in planned["ddl"])

    def identity():
        return dict(conn.backend.fetch_rows(
            "SELECT relname, relreplident::text FROM pg_class WHERE relnamespace = %s::regnamespace AND relkind = 'r'"
            .replace("%s", conn.backend.string_literal(schema.database))))
    assert identity()["animal"] == "d"
    dj.deploy.set_replica_identity(schema, dry_run=False)
    assert identity()["animal"] == identity()["#strain"] == "f" and identity()["~lineage"] == "d"
    dj.deploy.set_replica_identity(Animal, mode="default", dry_run=False)
    assert identity()["animal"] == "d" and identity()["#strain"] == "f"
    with pytest.raises(DataJointError, match="'full' or 'default'"):
        dj.deploy.set_replica_identity(schema, mode="nothing")
