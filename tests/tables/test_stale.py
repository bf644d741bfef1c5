"""Stale results: version records at make time, T.stale(), dj.plan and populate(stale=True).

One small pipeline on every backend: Parent (manual) and Param (lookup) feed Result
(computed, with a part table), Summary depends on Result, Tri is a tripartite make
with a declared ``version``, Load is Imported.
"""

import warnings

import pytest

import djframe as dj
from tests.conftest import server_settings


def define_result(schema, factor):
    """Result (and its part) with a make that multiplies by `factor`: redefining it changes the code."""
    namespace = {}
    source = f'''
class Result(dj.Computed):
    definition = """
    -> Parent
    -> Param
    ---
    value : int32
    """

    class Item(dj.Part):
        definition = """
        -> master
        item : int16
        ---
        x : int32
        """

    def make(self, key):
        v = (Parent & key).fetch1("v")
        scale = (Param & key).fetch1("scale")
        self.insert1(dict(key, value=v * scale * {factor}))
        self.Item.insert([dict(key, item=i, x=v + i) for i in range(2)])
'''
    exec(compile(source, f"<result x{factor}>", "exec"), {"dj": dj, **schema.context_objects}, namespace)
    return schema(namespace["Result"], context={**schema.context_objects})


def build(schema, tri_version="1"):
    @schema
    class Parent(dj.Manual):
        definition = """
        pid : int32
        ---
        v : int32
        note = null : varchar(20)
        """

    @schema
    class Param(dj.Lookup):
        definition = """
        param : int16
        ---
        scale : int32
        """
        contents = [dict(param=1, scale=1), dict(param=2, scale=10)]

    schema.context_objects = {"Parent": Parent, "Param": Param}
    Result = define_result(schema, 2)
    schema.context_objects["Result"] = Result

    @schema
    class Summary(dj.Computed):
        definition = """
        -> Result
        ---
        total : int64
        """

        def make(self, key):
            items = int(sum((Result.Item & key).to_polars()["x"]))
            self.insert1(dict(key, total=items + (Result & key).fetch1("value")))

    Tri = define_tri(schema, Parent, tri_version)

    @schema
    class Load(dj.Imported):
        definition = """
        -> Parent
        ---
        loaded : int32
        """

        def make(self, key):
            self.insert1(dict(key, loaded=(Parent & key).fetch1("v") + 1))

    Parent.insert([dict(pid=1, v=10, note=None), dict(pid=2, v=20, note="b"), dict(pid=3, v=30, note=None)])
    return dict(Parent=Parent, Param=Param, Result=Result, Summary=Summary, Tri=Tri, Load=Load)


def define_tri(schema, Parent, version):
    @schema
    class Tri(dj.Computed):
        definition = """
        -> Parent
        ---
        doubled : int32
        """

        def make_fetch(self, key):
            return ((Parent & key).fetch1("v"),)

        def make_compute(self, key, v):
            return (v * 2,)

        def make_insert(self, key, doubled):
            self.insert1(dict(key, doubled=doubled))

    Tri.version = version
    return Tri


def populate_all(t):
    for name in ("Result", "Summary", "Tri", "Load"):
        t[name].populate()


def reasons(table, **kw):
    return {tuple(v for k, v in row.items() if k != "reason"): row["reason"]
            for row in table.stale(**kw).to_dicts()}


def plan_row(plan, name):
    return {k: v for k, v in plan[name].items() if k not in ("table", "tier")}


CLEAN = dict(missing=0, stale_code=0, stale_upstream=0, unknown=0, delete=0, make=0)


def test_unchanged_pipeline_is_not_stale(schema):
    t = build(schema)
    populate_all(t)
    for name in ("Result", "Summary", "Tri", "Load"):
        assert len(t[name].stale()) == 0
        assert len(t[name].stale(include_unknown=True)) == 0
    plan = dj.plan(schema)
    assert [r["table"] for r in plan.rows] == ["Result", "Tri", "Load", "Summary"] or \
        set(r["table"] for r in plan.rows) == {"Result", "Summary", "Tri", "Load"}
    for name in ("Result", "Summary", "Tri", "Load"):
        assert plan_row(plan, name) == CLEAN
    before = t["Result"].to_dicts()
    assert t["Result"].populate(stale=True) == {"success_count": 0, "error_list": []}
    assert t["Result"].to_dicts() == before
    assert "Result" in repr(plan) and plan.to_polars().height == 4
    assert dj.plan(dj.Diagram(schema)).to_polars().equals(plan.to_polars())
    assert dj.plan([t["Tri"], t["Load"]]).to_polars()["table"].to_list() == ["Tri", "Load"]


def test_upstream_update_makes_exactly_its_rows_stale(schema):
    t = build(schema)
    populate_all(t)
    t["Parent"].update1(dict(pid=2, v=21, note="b"))
    stale = t["Result"].stale()
    assert reasons(t["Result"]) == {(2, 1): "upstream:Parent", (2, 2): "upstream:Parent"}
    assert len(stale) == 2 and len(stale & {"param": 1}) == 1
    assert stale.to_polars().columns == ["pid", "param", "reason"]
    assert reasons(t["Tri"]) == {(2,): "upstream:Parent"}
    assert reasons(t["Load"]) == {(2,): "upstream:Parent"}
    assert len(t["Summary"].stale()) == 0  # its parent Result has not changed (yet)

    plan = dj.plan(schema)
    assert plan_row(plan, "Result") == dict(CLEAN, stale_upstream=2, delete=2, make=2)
    assert plan_row(plan, "Summary") == dict(CLEAN, delete=2, make=2)  # by cascade from Result
    assert plan_row(plan, "Tri") == dict(CLEAN, stale_upstream=1, delete=1, make=1)
    assert plan["Item"]["delete"] == 4  # the part rows go with their masters
    assert len(t["Result"].Item()) == 12  # a plan changes nothing

    assert t["Result"].populate(stale=True)["success_count"] == 2
    assert (t["Result"] & {"pid": 2, "param": 2}).fetch1("value") == 21 * 10 * 2
    assert len(t["Result"].Item & {"pid": 2}) == 4
    assert len(t["Summary"]) == 4 and len(t["Summary"] & {"pid": 2}) == 0  # deleted by the cascade
    assert len(t["Result"].stale()) == 0
    assert t["Summary"].populate(stale=True)["success_count"] == 2  # now missing, made as usual
    t["Tri"].populate(stale=True)
    t["Load"].populate(stale=True)
    assert (t["Tri"] & {"pid": 2}).fetch1("doubled") == 42
    for name in ("Result", "Summary", "Tri", "Load"):
        assert plan_row(dj.plan(schema), name) == CLEAN


def test_code_change_and_version_bump(schema):
    t = build(schema, tri_version="1")
    populate_all(t)
    Result = define_result(schema, 3)  # the same table, a different make
    assert set(reasons(Result).values()) == {"code"} and len(Result.stale()) == 6
    plan = dj.plan(schema)
    assert plan_row(plan, "Result") == dict(CLEAN, stale_code=6, delete=6, make=6)
    assert plan_row(plan, "Summary") == dict(CLEAN, delete=6, make=6)
    assert plan_row(plan, "Tri") == CLEAN

    Tri = define_tri(schema, t["Parent"], "1")  # redefined, same declared version: not stale
    assert len(Tri.stale()) == 0
    Tri = define_tri(schema, t["Parent"], "2")
    assert reasons(Tri) == {(1,): "code", (2,): "code", (3,): "code"}

    Result.populate(stale=True)
    assert (Result & {"pid": 1, "param": 2}).fetch1("value") == 10 * 10 * 3
    assert len(Result.stale()) == 0 and len(t["Summary"]) == 0
    t["Parent"].update1(dict(pid=1, v=11, note=None))
    assert reasons(Result) == {(1, 1): "upstream:Parent", (1, 2): "upstream:Parent"}


def test_delete_and_reinsert_upstream(schema):
    t = build(schema)
    populate_all(t)
    (t["Parent"] & {"pid": 3}).delete(prompt=False)  # cascades: the results of pid 3 go too
    for name in ("Result", "Summary", "Tri", "Load"):
        assert len(t[name].stale(include_unknown=True)) == 0
    t["Parent"].insert1(dict(pid=3, v=33, note=None))  # re-inserted with other values
    plan = dj.plan(schema)
    assert plan_row(plan, "Result") == dict(CLEAN, missing=2, make=2)
    assert plan_row(plan, "Tri") == dict(CLEAN, missing=1, make=1)
    assert len(t["Result"].stale()) == 0  # the old records of pid 3 match no row
    populate_all(t)
    assert (t["Tri"] & {"pid": 3}).fetch1("doubled") == 66
    for name in ("Result", "Summary", "Tri", "Load"):
        assert plan_row(dj.plan(schema), name) == CLEAN


def test_rows_changed_outside_populate_are_unknown(schema):
    t = build(schema)
    t["Load"].populate()
    t["Load"].update1(dict(pid=1, loaded=-1))  # no longer the row its record describes
    assert len(t["Load"].stale()) == 0
    assert reasons(t["Load"], include_unknown=True) == {(1,): "unknown"}
    assert plan_row(dj.plan(t["Load"]), "Load") == dict(CLEAN, unknown=1)
    t["Load"].populate(stale=True)  # unknown rows are never recomputed
    assert (t["Load"] & {"pid": 1}).fetch1("loaded") == -1


def test_safemode_asks_and_end_of_input_refuses(schema, monkeypatch, capsys):
    t = build(schema)
    t["Tri"].populate()
    t["Parent"].update1(dict(pid=1, v=12, note=None))

    def no_answer(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", no_answer)
    with dj.config.override(safemode=True):
        assert t["Tri"].populate(stale=True) == {"success_count": 0, "error_list": []}
    assert "1 stale key(s)" in capsys.readouterr().out
    assert (t["Tri"] & {"pid": 1}).fetch1("doubled") == 20 and len(t["Tri"].stale()) == 1
    monkeypatch.setattr("builtins.input", lambda prompt="": "yes")
    with dj.config.override(safemode=True):
        assert t["Tri"].populate(stale=True)["success_count"] == 1
    assert (t["Tri"] & {"pid": 1}).fetch1("doubled") == 24 and len(t["Tri"].stale()) == 0


def test_recording_is_in_the_make_transaction(schema):
    Parent = build(schema)["Parent"]  # noqa: F841 (the definition refers to it)

    @schema
    class Failing(dj.Computed):
        definition = """
        -> Parent
        ---
        y : int32
        """

        def make(self, key):
            self.insert1(dict(key, y=1))
            if key["pid"] == 2:
                raise ValueError("no")

    result = Failing.populate(suppress_errors=True)
    assert result["success_count"] == 2 and len(result["error_list"]) == 1
    versions = dj.FreeTable(schema.connection, schema.database, "~version__failing")
    assert sorted(r["pid"] for r in versions.to_dicts()) == [1, 3]
    assert "~version__failing" not in schema.list_tables()


def test_forked_workers_record_versions(schema):
    t = build(schema)
    t["Load"].populate(processes=2)
    assert len(t["Load"]) == 3 and len(t["Load"].stale(include_unknown=True)) == 0
    t["Parent"].update1(dict(pid=3, v=31, note=None))
    assert reasons(t["Load"]) == {(3,): "upstream:Parent"}


def test_a_failed_recompute_keeps_the_old_result(schema):
    t = build(schema)
    t["Load"].populate()
    Parent = t["Parent"]  # noqa: F841 (the definition refers to it)

    @schema
    class Load(dj.Imported):
        definition = """
        -> Parent
        ---
        loaded : int32
        """

        def make(self, key):
            if key["pid"] == 2:
                raise ValueError("cannot load 2 now")
            self.insert1(dict(key, loaded=100))

    assert len(Load.stale()) == 3
    result = Load.populate(stale=True, suppress_errors=True)
    assert result["success_count"] == 2 and len(result["error_list"]) == 1
    assert sorted(Load.to_polars()["loaded"].to_list()) == [21, 100, 100]  # pid 2: delete rolled back
    assert reasons(Load) == {(2,): "code"}
    with pytest.raises(ValueError):
        Load.populate(stale=True)


@pytest.mark.oracle
def test_reference_client_ignores_records_and_its_rows_are_unknown(schema, backend_name, tmp_path):
    if backend_name == "sqlite":
        pytest.skip("the reference client has no SQLite backend")
    ref = __import__("datajoint")
    settings = server_settings(backend_name, str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rconn = ref.Connection(f"{settings['host']}:{settings['port']}", settings["user"], settings["password"],
                               use_tls=False, backend=backend_name, database_name=settings.get("database_name"))
    saved = ref.config["safemode"]
    ref.config["safemode"] = False
    try:
        t = build(schema)
        rschema = ref.Schema(schema.database, connection=rconn)
        vm = ref.VirtualModule("vm", schema.database, connection=rconn)

        class Load(vm.Load):
            def make(self, key):
                self.insert1(dict(key, loaded=0))

        Load = rschema(Load)
        Load.populate()  # made by the reference: no version records
        assert reasons(t["Load"], include_unknown=True) == {(1,): "unknown", (2,): "unknown", (3,): "unknown"}
        assert len(t["Load"].stale()) == 0
        t["Tri"].populate()  # djframe records versions in ~version__tri
        assert "~version__tri" in schema.connection.backend.list_tables(schema.database)
        assert "~version__tri" not in rschema.list_tables()
        assert all("~" not in node for node in ref.Diagram(rschema).nodes())
        assert not [k for k in vars(ref.VirtualModule("vm2", schema.database, connection=rconn)) if "ersion" in k]
        (vm.Parent & {"pid": 1}).delete(prompt=False)  # the reference's cascade
        assert len(t["Tri"]) == 2 and len(t["Tri"].stale(include_unknown=True)) == 0
        vm.Tri.drop(prompt=False)
        assert "__tri" not in rschema.list_tables()
    finally:
        ref.config["safemode"] = saved
        rconn.close()


def test_the_diagram_previews_the_plan_and_outlines_stale_tables(schema):
    t = build(schema)
    populate_all(t)
    diagram = dj.Diagram(schema)
    assert "(2 stale)" not in diagram.make_dot() and "#D62728" not in diagram.show_stale().make_dot()
    t["Parent"].update1(dict(pid=2, v=21, note="b"))
    assert plan_row(diagram.plan(), "Result") == dict(CLEAN, stale_upstream=2, delete=2, make=2)
    marked = diagram.show_stale()
    dot, mermaid = marked.make_dot(), marked.make_mermaid()
    assert "Result (2 stale)" in dot and "Tri (1 stale)" in dot and "Summary (" not in dot
    assert dot.count("#D62728") == 3 and mermaid.count("stroke:#D62728") == 3  # Result, Tri, Load
    assert "(2 stale)" not in diagram.make_dot()  # the original diagram is unchanged
    assert len(t["Result"].Item()) == 12  # previews change nothing
