"""Parquet export and restore: round trips of a small pipeline on every backend, Parquet types,
restricted exports with their ancestors, store objects, checksums and all-or-nothing restores."""

import datetime
import decimal
import hashlib
import json
import uuid

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import djframe as dj
from djframe.errors import DataJointError, DuplicateError
from djframe.publish.export import export, read_manifest, restore, verify_export, write_parquet
from djframe.storage.stores import get_store


# ----- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def target(conn):
    """A second, empty schema to restore into; dropped after the test."""
    other = dj.Schema(f"djf_{uuid.uuid4().hex[:10]}", connection=conn)
    try:
        yield other
    finally:
        if conn.in_transaction:
            conn.cancel_transaction()
        other.drop(prompt=False)


@pytest.fixture
def stores(tmp_path):
    """stores.main (the default) and stores.copy: two local folders."""
    (tmp_path / "main").mkdir()
    (tmp_path / "copy").mkdir()
    with dj.config.override(stores={"default": "main",
                                    "main": {"protocol": "file", "location": str(tmp_path / "main")},
                                    "copy": {"protocol": "file", "location": str(tmp_path / "copy")}},
                            download_path=str(tmp_path / "downloads")):
        yield get_store("main"), get_store("copy")


UUIDS = [uuid.UUID(int=1000 + i) for i in range(4)]


def declare_pipeline(schema):
    """Lookup -> Manual (many core types) -> Manual with a renamed FK -> Computed with a Part."""

    @schema
    class Species(dj.Lookup):
        definition = """
        species : varchar(24)
        ---
        latin = null : varchar(64)
        """
        contents = [("mouse", "Mus musculus"), ("rat", None), ("fish", "Danio rerio")]

    @schema
    class Subject(dj.Manual):
        definition = """
        # experimental animals
        subject_id : int32
        ---
        -> Species
        subject_uuid : uuid
        sex = 'U' : enum('M', 'F', 'U')
        weight = null : decimal(6,2)
        born = null : date
        code : char(4)
        tiny = 0 : int8
        small = null : int16
        big = null : int64
        ratio = null : float32
        alive = null : bool
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        -> [nullable] Subject.proj(buddy_id='subject_id')
        started : datetime
        score = null : float64
        notes = null : json
        raw = null : bytes
        signal = null : <blob>
        """

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Session
        ---
        total : float64
        """

        class Bin(dj.Part):
            definition = """
            -> master
            bin : int8
            ---
            count : int64
            """

        def make(self, key):
            signal = (Session & key).fetch1("signal")
            values = np.zeros(2) if signal is None else np.asarray(signal, dtype=float)
            self.insert1({**key, "total": float(values.sum())})
            self.Bin.insert({**key, "bin": i, "count": int(v)} for i, v in enumerate(values[:2]))

    return Species, Subject, Session, Analysis


def complete(rows):
    """Rows with the same fields (None: NULL or the default)."""
    names = {k for r in rows for k in r}
    return [{n: r.get(n) for n in names} for r in rows]


def fill_pipeline(Species, Subject, Session, Analysis):
    Subject.insert(complete([
        {"subject_id": 1, "species": "mouse", "subject_uuid": UUIDS[0], "sex": "M", "weight": decimal.Decimal("21.50"),
         "born": datetime.date(2024, 1, 2), "code": "ab12", "tiny": -3, "small": 300, "big": 2**40, "ratio": 0.5,
         "alive": True},
        {"subject_id": 2, "species": "mouse", "subject_uuid": UUIDS[1], "code": "cd34"},
        {"subject_id": 3, "species": "rat", "subject_uuid": UUIDS[2], "sex": "F", "weight": decimal.Decimal("300.25"),
         "born": datetime.date(2023, 12, 31), "code": "ef56", "alive": False},
        {"subject_id": 4, "species": "fish", "subject_uuid": UUIDS[3], "code": "gh78"},
    ]))
    t = datetime.datetime(2024, 5, 6, 7, 8, 9)
    Session.insert(complete([
        {"subject_id": 1, "session": 1, "buddy_id": 2, "started": t, "score": 1.5, "notes": {"k": [1, 2]},
         "raw": b"\x00\x01raw", "signal": np.arange(4, dtype=np.int32)},
        {"subject_id": 1, "session": 2, "buddy_id": None, "started": t, "signal": np.arange(4, dtype=np.int32) * 2},
        {"subject_id": 3, "session": 1, "buddy_id": 4, "started": t, "notes": "plain text", "signal": None},
        {"subject_id": 4, "session": 7, "started": t, "signal": np.ones(4, dtype=np.int32)},
    ]))
    Analysis.populate()


@pytest.fixture
def pipeline(schema):
    tables = declare_pipeline(schema)
    fill_pipeline(*tables)
    return tables


def sorted_arrow(table):
    """A table's stored rows in key order (codec columns as stored)."""
    data = table.to_arrow()
    return data.sort_by([(k, "ascending") for k in table.primary_key])


def free(schema, name):
    return dj.FreeTable(schema.connection, schema.database, name)


def keys(table, *names):
    return sorted(tuple(r[n] for n in names) for r in table.to_dicts())


# ----- tests -------------------------------------------------------------------------------------
def test_round_trip_of_whole_schema(pipeline, schema, target, tmp_path):
    Species, Subject, Session, Analysis = pipeline
    manifest = export(schema, tmp_path / "out")
    names = [e["table"] for e in manifest["tables"]]
    assert set(names) == set(schema.list_tables()) == {"#species", "subject", "session", "__analysis",
                                                      "__analysis__bin"}
    assert names.index("#species") < names.index("subject") < names.index("session") < names.index("__analysis")
    assert manifest["standalone"] and manifest["format_version"] == 1 and manifest["uuid_encoding"] == "string"

    loaded = restore(tmp_path / "out", target)
    assert sorted(target.list_tables()) == sorted(schema.list_tables())
    for name in schema.list_tables():
        source, copy = free(schema, name), free(target, name)
        assert copy.tier == source.tier
        assert [(a.name, a.type.text, a.in_key, a.nullable) for a in copy.heading.attributes.values()] == \
               [(a.name, a.type.text, a.in_key, a.nullable) for a in source.heading.attributes.values()]
        assert sorted_arrow(copy).equals(sorted_arrow(source)), name
        assert loaded[copy.full_table_name] == len(source)
    # foreign keys were re-declared (renamed one included) and decoded values survive
    copy_session = free(target, "session")
    assert {(p, fk["attr_map"].get("buddy_id")) for p, fk in copy_session.parents(foreign_key_info=True)} == \
           {(free(target, "subject").full_table_name, None), (free(target, "subject").full_table_name, "subject_id")}
    row = (copy_session & {"subject_id": 1, "session": 1}).fetch1()
    assert row["notes"] == {"k": [1, 2]} and row["raw"] == b"\x00\x01raw" and row["buddy_id"] == 2
    np.testing.assert_array_equal(row["signal"], np.arange(4, dtype=np.int32))
    assert (free(target, "subject") & {"subject_id": 1}).fetch1("subject_uuid") == UUIDS[0]
    assert (free(target, "subject") & {"subject_id": 1}).fetch1("weight") == decimal.Decimal("21.50")
    # the restored tables join on lineage like the originals
    assert len(free(target, "session") * free(target, "subject")) == len(Session * Subject) == 4


def test_parquet_files_are_typed_by_the_heading(pipeline, schema, tmp_path):
    manifest = export(schema, tmp_path / "out")
    entry = {e["table"]: e for e in manifest["tables"]}
    subject = pq.read_table(tmp_path / "out" / entry["subject"]["file"])
    types = {f.name: f.type for f in subject.schema}
    assert types["subject_id"] == pa.int32() and types["tiny"] == pa.int8() and types["small"] == pa.int16()
    assert types["big"] == pa.int64() and types["ratio"] == pa.float32() and types["alive"] == pa.bool_()
    assert types["weight"] == pa.decimal128(6, 2) and types["born"] == pa.date32()
    assert pa.types.is_string(types["subject_uuid"]) or pa.types.is_large_string(types["subject_uuid"])
    assert subject.column("subject_uuid").to_pylist() == [str(u) for u in UUIDS]  # sorted by key
    assert subject.column("weight").to_pylist()[0] == decimal.Decimal("21.50")
    assert not subject.schema.field("subject_id").nullable and subject.schema.field("weight").nullable
    session = pq.read_table(tmp_path / "out" / entry["session"]["file"])
    assert session.schema.field("started").type == pa.timestamp("us")
    assert pa.types.is_large_binary(session.schema.field("signal").type)
    assert session.schema.field("signal").metadata[b"datajoint.type"] == b"<blob>"
    assert json.loads(session.column("notes")[0].as_py()) == {"k": [1, 2]}
    assert session.schema.metadata[b"datajoint.table"].decode() == f"{schema.database}.session"
    frame = pl.read_parquet(tmp_path / "out" / entry["subject"]["file"])
    assert frame.schema["subject_id"] == pl.Int32 and frame.schema["born"] == pl.Date
    assert frame.schema["weight"] == pl.Decimal(6, 2)
    # the manifest describes each file well enough to check and re-declare it
    e = entry["session"]
    data = (tmp_path / "out" / e["file"]).read_bytes()
    assert e["sha256"] == hashlib.sha256(data).hexdigest() and e["bytes"] == len(data) and e["rows"] == 4
    assert e["primary_key"] == ["subject_id", "session"] and e["tier"] == "manual"
    assert "-> [nullable] Subject.proj(buddy_id=\"subject_id\")" in e["definition"]
    assert {tuple(fk["parent"]) for fk in e["foreign_keys"]} == {(schema.database, "subject")}
    assert entry["__analysis__bin"]["class_name"] == "Analysis.Bin"


def test_restricted_export_brings_referenced_ancestors(pipeline, schema, target, tmp_path):
    Species, Subject, Session, Analysis = pipeline
    manifest = export(Analysis & {"subject_id": 1, "session": 1}, tmp_path / "out")
    rows = {e["table"]: e["rows"] for e in manifest["tables"]}
    # the Analysis row, its parts, its Session, the subject and its renamed buddy, their species
    assert rows == {"__analysis": 1, "__analysis__bin": 2, "session": 1, "subject": 2, "#species": 1}
    assert manifest["standalone"] and not any(e["complete"] for e in manifest["tables"])
    restore(tmp_path / "out", target)
    assert keys(free(target, "subject"), "subject_id") == [(1,), (2,)]
    assert keys(free(target, "#species"), "species") == [("mouse",)]
    assert keys(free(target, "__analysis__bin"), "subject_id", "session", "bin") == [(1, 1, 0), (1, 1, 1)]

    # exactly what was asked: the manifest says which parents are missing
    exact = export(Session & {"subject_id": 3}, tmp_path / "exact", ancestors=False, parts=False)
    assert [e["table"] for e in exact["tables"]] == ["session"]
    assert not exact["standalone"] and exact["external_parents"] == [f"{schema.database}.subject"]


def test_store_objects_are_copied_and_readable_after_restore(schema, target, stores, tmp_path):
    main, copy = stores

    @schema
    class Rec(dj.Manual):
        definition = """
        rec_id : int32
        ---
        blob = null : <blob@main>
        arr = null : <npy@>
        obj = null : <object@main>
        att = null : <attach@main>
        """
    note = tmp_path / "note.txt"
    note.write_text("attached notes")
    Rec.insert([{"rec_id": i, "blob": {"k": i}, "arr": np.eye(3) * i, "obj": (".bin", b"payload %d" % i),
                 "att": note} for i in range(2)])
    Rec.insert1({"rec_id": 9})
    manifest = export(Rec & "rec_id < 5", tmp_path / "out")
    paths = {o["path"] for o in manifest["objects"]}
    stored = {p for p in main.list_files("")}
    assert paths and paths <= stored
    assert all(o["store"] == "main" for o in manifest["objects"])
    for o in manifest["objects"]:
        data = (tmp_path / "out" / "objects" / "main" / o["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == o["sha256"]

    restore(tmp_path / "out", target, objects_store="copy")
    moved = {p.replace(f"/{schema.database}/", f"/{target.database}/", 1) for p in paths}
    assert moved != paths and moved <= set(copy.list_files(""))  # in the target schema's sections
    restored = free(target, "rec")
    rows = {r["rec_id"]: r for r in restored.to_dicts()}
    assert sorted(rows) == [0, 1]
    assert rows[1]["blob"] == {"k": 1} and rows[1]["obj"].read() == b"payload 1"
    np.testing.assert_array_equal(np.asarray(rows[1]["arr"]), np.eye(3))
    assert open(rows[0]["att"]).read() == "attached notes"
    stored_json = [json.loads(v) for v in restored.to_arrow().column("obj").to_pylist()]
    assert {m["store"] for m in stored_json} == {"copy"}  # rows point at the store restored into
    for path in paths:  # reads really come from the copy: the originals can go
        main.remove(path)
    assert free(target, "rec").to_dicts(order_by="KEY")[1]["obj"].read() == b"payload 1"


def test_restore_into_the_same_store_owns_its_objects(schema, target, stores, tmp_path):
    main, _ = stores

    @schema
    class Rec(dj.Manual):
        definition = """
        rec_id : int32
        ---
        blob : <blob@main>
        obj : <object@main>
        """
    Rec.insert([{"rec_id": i, "blob": np.arange(3) + i, "obj": np.arange(4) * i} for i in range(2)])
    export(Rec, tmp_path / "out")
    restore(tmp_path / "out", target)  # same store, another schema
    restored = free(target, "rec")
    metas = [json.loads(v) for v in restored.to_arrow().column("blob").to_pylist()]
    assert all(m["schema"] == target.database and f"/{target.database}/" in m["path"] for m in metas)
    Rec.delete()
    swept = dj.gc.GarbageCollector(schema, store="main").collect(dry_run=False)
    assert swept["hash_paths_orphaned"] == 2 and swept["schema_paths_orphaned"] == 4  # 2 Zarr arrays: 2 files each
    rows = {r["rec_id"]: r for r in restored.to_dicts()}  # the restored copy lost nothing
    assert np.array_equal(rows[1]["blob"], [1, 2, 3]) and np.array_equal(np.asarray(rows[1]["obj"]), [0, 1, 2, 3])
    assert dj.gc.GarbageCollector(target, store="main").collect()["hash_paths_orphaned"] == 0


def test_tampered_file_is_refused_and_changes_nothing(pipeline, schema, target, tmp_path):
    manifest = export(schema, tmp_path / "out")
    session_file = tmp_path / "out" / {e["table"]: e for e in manifest["tables"]}["session"]["file"]
    table = pq.read_table(session_file)
    scores = table.column("score").to_pylist()
    scores[0] = 99.0  # a plausible, well-formed edit
    pq.write_table(table.set_column(table.schema.get_field_index("score"),
                                    table.schema.field("score"), pa.array(scores, pa.float64())), session_file)
    with pytest.raises(DataJointError, match="session.parquet.*checksum"):
        verify_export(tmp_path / "out")
    with pytest.raises(DataJointError, match="session.parquet.*checksum"):
        restore(tmp_path / "out", target)
    assert target.list_tables() == []


def test_failed_load_removes_the_tables_it_declared(pipeline, schema, target, tmp_path):
    """A file that passes its checksum but breaks a foreign key: nothing stays behind."""
    manifest = export(schema, tmp_path / "out")
    entry = {e["table"]: e for e in manifest["tables"]}["subject"]
    path = tmp_path / "out" / entry["file"]
    table = pq.read_table(path)
    species = ["dodo"] + table.column("species").to_pylist()[1:]
    pq.write_table(table.set_column(table.schema.get_field_index("species"), table.schema.field("species"),
                                    pa.array(species, pa.large_string())), path)
    data = path.read_bytes()
    entry["sha256"], entry["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    (tmp_path / "out" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataJointError, match="nothing was restored"):
        restore(tmp_path / "out", target)
    assert target.list_tables() == []


def test_conflicting_rows_fail_atomically(pipeline, schema, target, tmp_path):
    export(schema, tmp_path / "out")
    restore(tmp_path / "out", target)
    free(target, "#species").delete()  # cascades: the target's tables are now empty
    assert all(len(free(target, t)) == 0 for t in target.list_tables())
    free(target, "#species").insert1({"species": "eel"})
    free(target, "subject").insert1({"subject_id": 1, "species": "eel", "subject_uuid": uuid.uuid4(),
                                     "code": "zz99"})
    # species load fine, then subject 1 clashes: the species rows must be rolled back too
    with pytest.raises(DuplicateError, match="nothing was restored"):
        restore(tmp_path / "out", target)
    assert keys(free(target, "#species"), "species") == [("eel",)]
    assert keys(free(target, "subject"), "subject_id", "species") == [(1, "eel")]
    assert len(free(target, "session")) == 0
    assert sorted(target.list_tables()) == sorted(schema.list_tables())  # existing tables are kept
    # skip_duplicates keeps what the target has and adds the rest
    restore(tmp_path / "out", target, skip_duplicates=True)
    assert keys(free(target, "subject"), "subject_id", "species") == [(1, "eel"), (2, "mouse"), (3, "rat"),
                                                                      (4, "fish")]
    assert len(free(target, "session")) == 4 and len(free(target, "__analysis__bin")) == 8


def test_write_parquet_stored_and_decoded(pipeline, schema, tmp_path):
    Species, Subject, Session, Analysis = pipeline
    query = Session & "signal IS NOT NULL"
    write_parquet(query, tmp_path / "stored.parquet")
    stored = pq.read_table(tmp_path / "stored.parquet")
    assert pa.types.is_large_binary(stored.schema.field("signal").type)
    assert stored.equals(sorted_arrow(query).cast(stored.schema))

    write_parquet(query, tmp_path / "decoded.parquet", decode=True)
    decoded = pl.read_parquet(tmp_path / "decoded.parquet")
    assert decoded.schema["signal"] == pl.Array(pl.Int32, 4)
    assert decoded.sort("subject_id", "session")["signal"].to_list() == [[0, 1, 2, 3], [0, 2, 4, 6], [1, 1, 1, 1]]
    assert decoded.schema["started"] == pl.Datetime("us")

    Session.insert1({"subject_id": 2, "session": 1, "started": datetime.datetime(2024, 1, 1), "signal": [1, "x"]})
    with pytest.raises(DataJointError, match="signal.*decode=False"):
        write_parquet(Session, tmp_path / "ragged.parquet", decode=True)
    write_parquet(Session.proj("signal"), tmp_path / "proj.parquet")  # any query, not only tables
    assert pq.read_table(tmp_path / "proj.parquet").num_rows == 5


def test_public_names_and_methods(pipeline, schema, target, tmp_path):
    import djframe as dj
    Species, Subject, Session, Analysis = pipeline
    path = (Session & {"subject_id": 1}).to_parquet(tmp_path / "one.parquet", decode=True)
    assert pl.read_parquet(path)["subject_id"].unique().to_list() == [1]
    assert pq.read_table(Species.to_parquet(tmp_path / "species.parquet")).num_rows == len(Species())
    manifest = Session.export(tmp_path / "sessions")  # a class-level method, like the rest of the table API
    assert {t["full_name"] for t in manifest["tables"]} >= {Session.full_table_name, Subject.full_table_name}
    dj.restore(tmp_path / "sessions", target)
    assert len(free(target, "session")) == len(Session())
    assert dj.export is export and dj.read_manifest(tmp_path / "sessions")["format_version"] == manifest["format_version"]


def test_export_reads_one_snapshot(pipeline, schema, tmp_path, monkeypatch):
    """Rows committed by another client while an export runs are in none of its tables."""
    import djframe.publish.export as export_module
    from djframe.connection import Connection, make_backend
    Species, Subject, Session, Analysis = pipeline
    settings = schema.connection.settings
    other = Connection.over(make_backend(settings), settings)
    exported = export_module._export_table
    calls = []

    def export_then_write(connection, node, *args, **kwargs):
        result = exported(connection, node, *args, **kwargs)
        if not calls:  # after the first table: another client adds a subject and its session
            free_other = dj.FreeTable(other, schema.database, "subject")
            free_other.insert1({"subject_id": 9, "species": "rat", "subject_uuid": uuid.uuid4(), "code": "zz00"})
            dj.FreeTable(other, schema.database, "session").insert1(
                {"subject_id": 9, "session": 1, "started": datetime.datetime(2024, 1, 1)})
        calls.append(node)
        return result
    monkeypatch.setattr(export_module, "_export_table", export_then_write)
    try:
        manifest = export(schema, tmp_path / "out")
    finally:
        other.close()
    assert len(calls) == len(manifest["tables"]) > 2 and len(Subject()) == 5  # the writes did land
    subjects = pq.read_table(tmp_path / "out" / "tables" / "subject.parquet").column("subject_id").to_pylist()
    sessions = pq.read_table(tmp_path / "out" / "tables" / "session.parquet").column("subject_id").to_pylist()
    assert 9 not in subjects and 9 not in sessions and sorted(subjects) == [1, 2, 3, 4]
    assert not schema.connection.in_transaction
    monkeypatch.setattr(export_module, "_export_table", exported)
    export(schema, tmp_path / "fast", snapshot=False)  # no snapshot: a plain read of each table
    assert 9 in pq.read_table(tmp_path / "fast" / "tables" / "session.parquet").column("subject_id").to_pylist()


def test_destination_and_source_checks(pipeline, schema, tmp_path):
    Species, Subject, Session, Analysis = pipeline
    export(Species, tmp_path / "out")
    with pytest.raises(DataJointError, match="overwrite=True"):
        export(Species, tmp_path / "out")
    manifest = export(Subject & {"subject_id": 3}, tmp_path / "out", overwrite=True)
    assert read_manifest(tmp_path / "out")["tables"] == manifest["tables"]
    assert not (tmp_path / "out" / "tables" / "session.parquet").exists()
    with pytest.raises(DataJointError, match="write_parquet"):
        export(Session * Subject, tmp_path / "joined")
    with pytest.raises(DataJointError, match="not a djframe export|no manifest"):
        read_manifest(tmp_path / "nowhere")


def test_cross_schema_ancestors_restore_into_mapped_schemas(conn, schema, target, tmp_path):
    upstream = dj.Schema(f"djf_{uuid.uuid4().hex[:10]}", connection=conn)
    second = dj.Schema(f"djf_{uuid.uuid4().hex[:10]}", connection=conn)
    try:
        @upstream
        class Animal(dj.Manual):
            definition = """
            animal_id : int32
            ---
            name : varchar(16)
            """

        @schema
        class Visit(dj.Manual):
            definition = """
            -> Animal
            visit : int16
            """
        Animal.insert([(1, "ann"), (2, "bob"), (3, "cy")])
        Visit.insert([(1, 1), (3, 1), (3, 2)])
        manifest = export(Visit & "visit = 2", tmp_path / "out")
        files = {e["table"]: e["file"] for e in manifest["tables"]}
        assert files == {"visit": "tables/visit.parquet", "animal": f"tables/{upstream.database}/animal.parquet"}
        assert f"{upstream.database}.Animal" in manifest["tables"][1]["definition"]
        with pytest.raises(DataJointError, match="several schemas|No target schema"):
            restore(tmp_path / "out", {schema.database: target})
        restore(tmp_path / "out", {schema.database: target, upstream.database: second})
        assert keys(free(second, "animal"), "animal_id", "name") == [(3, "cy")]
        assert keys(free(target, "visit"), "animal_id", "visit") == [(3, 2)]
        assert [p for p in free(target, "visit").parents()] == [free(second, "animal").full_table_name]
    finally:
        target.drop(prompt=False)  # the children first: they reference `second`
        second.drop(prompt=False)
        schema.drop(prompt=False)
        upstream.drop(prompt=False)
