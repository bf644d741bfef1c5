"""Row provenance (`provenance.capture`): the hidden _prov column of Manual tables."""

import json

import pytest

import djframe as dj


def stored_prov(table):
    """{key: the _prov JSON as stored} (read with SQL: the column is hidden from fetches)."""
    backend = table.connection.backend
    q = backend.quote
    out = backend.fetch_arrow(f"SELECT {q('mid')}, {q('_prov')} FROM {table.full_table_name}").to_pylist()
    return {r["mid"]: None if r["_prov"] is None else json.loads(r["_prov"]) if isinstance(r["_prov"], str)
            else r["_prov"] for r in out}


def test_manual_tables_record_where_rows_came_from(schema, conn):
    with dj.config.override(**{"provenance.capture": True, "provenance.source": {"rig": "A2"}}):
        @schema
        class Mouse(dj.Manual):
            definition = """
            mid : int32
            ---
            weight : float64
            """

        @schema
        class Session(dj.Manual):
            definition = """
            sid : int32
            """

        @schema
        class Weighed(dj.Computed):
            definition = """
            -> Session
            """

            def make(self, key):
                self.insert1(key)
                Mouse.insert1({"mid": 100 + key["sid"], "weight": 1.0})

        assert "_prov" not in Mouse.heading.names and "_prov" not in Weighed.heading.names
        assert any(a.name == "_prov" and a.hidden for a in Mouse.heading.all_attributes)
        assert not any(a.name == "_prov" for a in Weighed.heading.all_attributes)  # Manual tables only
        Mouse.insert1({"mid": 1, "weight": 20.5})
        Mouse.insert([{"mid": 2, "weight": 21.0}, {"mid": 3, "weight": 22.0}])
        Session.insert1({"sid": 7})
        Weighed.populate()
        assert Mouse.to_dicts()[0].keys() == {"mid", "weight"}
    with dj.config.override(**{"provenance.capture": False}):
        Mouse.insert1({"mid": 4, "weight": 1.0})
    prov = stored_prov(Mouse)
    assert prov[4] is None  # capture off at insert time: nothing recorded
    for mid in (1, 2, 3, 107):
        assert prov[mid]["source"] == {"rig": "A2"} and prov[mid]["time"].endswith("+00:00")
        assert "context" not in prov[mid] or mid == 107
    assert prov[107]["context"] == {"key": {"sid": 7}, "table": Weighed.full_table_name}
    if conn.backend.name == "sqlite":
        assert prov[1]["agent"] == {"database_name": conn.settings["path"]}
    else:
        assert prov[1]["agent"]["user"] == conn.settings["user"] and prov[1]["agent"]["host"] == conn.settings["host"]


def test_tables_declared_without_capture_have_no_column(schema):
    @schema
    class Plain(dj.Manual):
        definition = """
        mid : int32
        """
    with dj.config.override(**{"provenance.capture": True}):
        Plain.insert1({"mid": 1})
    assert [a.name for a in Plain.heading.all_attributes] == ["mid"]


@pytest.mark.oracle
def test_reference_and_djframe_fill_each_others_provenance_columns(schema, conn, tmp_path):
    if conn.backend.name == "sqlite":
        pytest.skip("the reference client has no SQLite backend")
    import warnings
    from tests.conftest import server_settings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = __import__("datajoint")  # a test dependency: never skipped
        settings = server_settings(conn.backend.name, str(tmp_path))
        other = ref.Connection(f"{settings['host']}:{settings['port']}", settings["user"], settings["password"],
                               use_tls=False, backend=conn.backend.name, database_name=settings.get("database_name"))
    saved = ref.config["provenance.capture"]
    ref.config["provenance.capture"] = True
    try:
        with dj.config.override(**{"provenance.capture": True}):
            @schema
            class Mouse(dj.Manual):
                definition = """
                mid : int32
                """
            Mouse.insert1({"mid": 1})
            ref_schema = ref.Schema(schema.database, connection=other, create_tables=False)
            RefMouse = type("Mouse", (ref.Manual,), {"definition": "mid : int32"})
            RefMouse = ref_schema(RefMouse)
            RefMouse.insert1({"mid": 2})
            assert sorted(r["mid"] for r in RefMouse.to_dicts()) == [1, 2] and "_prov" not in RefMouse.heading.names
        prov = stored_prov(Mouse)
        assert prov[1].keys() == prov[2].keys() == {"time", "agent"}
        assert prov[1]["agent"] == prov[2]["agent"]
    finally:
        ref.config["provenance.capture"] = saved
        other.close()


def test_insert_from_a_query_keeps_the_rows_provenance(schema, conn):
    with dj.config.override(**{"provenance.capture": True, "provenance.source": {"rig": "B"}}):
        @schema
        class Mouse(dj.Manual):
            definition = """
            mid : int32
            """

        @schema
        class Archive(dj.Manual):
            definition = """
            mid : int32
            """
        Mouse.insert1({"mid": 1})
    Archive.insert(Mouse)  # capture off now: the copy keeps the original record
    assert stored_prov(Archive)[1] == stored_prov(Mouse)[1] and stored_prov(Archive)[1]["source"] == {"rig": "B"}
    Archive.insert(Mouse.proj(mid="mid") & "mid > 5")  # a derived query without _prov still inserts
