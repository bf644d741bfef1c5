"""Cascading delete and drop along the foreign-key graph, on every backend: what they remove and what
they keep (renamed and cross-schema foreign keys, one transaction, counts and prompts under safemode,
parts with their masters, part integrity, the legacy keywords), and what drop lists before it drops."""

import uuid

import pytest

import djframe as dj
from djframe.errors import DataJointError, IntegrityError
from djframe.graph.dependencies import Dependencies
from support.checks import assert_clean_error, counts, declare_lab

pytestmark = pytest.mark.filterwarnings("ignore:Positional inserts:DeprecationWarning")


@pytest.fixture
def ext_master(schema):
    """An external table, a master and two parts that each reference both."""

    @schema
    class Ext(dj.Manual):
        definition = """
        ext_id : int32
        """

    @schema
    class Master(dj.Manual):
        definition = """
        master_id : int32
        """

        class PartA(dj.Part):
            definition = """
            -> master
            -> Ext
            """

        class PartB(dj.Part):
            definition = """
            -> master
            -> Ext
            """

    Ext.insert([(1,), (2,), (3,)])
    Master.insert([(1,), (2,), (3,)])
    Master.PartA.insert([(1, 1), (3, 2)])
    Master.PartB.insert([(2, 1), (3, 2)])
    return Ext, Master


# ----- issue 11: the 0.14 keyword spellings and end of input at the prompt ------------------------
def test_delete_accepts_legacy_safemode_keyword(ext_master):
    Ext, Master = ext_master
    with pytest.warns(DeprecationWarning, match="prompt"):
        assert (Master & {"master_id": 3}).delete(safemode=False) == 1
    assert sorted(Master.to_arrays("master_id").tolist()) == [1, 2]


def test_delete_rejects_legacy_keyword_with_its_new_spelling(ext_master):
    _, Master = ext_master
    with pytest.raises(DataJointError, match="safemode.*prompt"):
        Master.delete(safemode=False, prompt=False)
    assert len(Master()) == 3


def test_delete_legacy_force_masters_means_cascade(ext_master):
    Ext, Master = ext_master
    with pytest.warns(DeprecationWarning, match="part_integrity"):
        (Master.PartA & {"master_id": 1}).delete(prompt=False, force_masters=True)
    assert sorted(Master.to_arrays("master_id").tolist()) == [2, 3]


def test_end_of_input_at_the_prompt_deletes_nothing(ext_master, monkeypatch, capsys):
    Ext, Master = ext_master

    def no_input(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", no_input)
    assert (Master & {"master_id": 3}).delete(prompt=True) == 0
    assert len(Master()) == 3 and len(Master.PartA()) == 2
    assert "no answer" in capsys.readouterr().out.lower()
    Master.drop(prompt=True)  # the drop prompt refuses the same way
    assert Master.is_declared


def test_drop_quick_refuses_a_parent_of_an_empty_child(schema):
    @schema
    class Parent(dj.Manual):
        definition = """
        parent_id : int32
        """

    @schema
    class Child(dj.Manual):
        definition = """
        -> Parent
        child_id : int32
        """

    with pytest.raises(DataJointError, match="child"):
        Parent.drop_quick()
    assert Parent.is_declared
    Parent.insert1((1,))
    Child.insert1((1, 1))  # the child is still usable
    assert len(Child()) == 1


# ----- part integrity -----------------------------------------------------------------------------
def test_cascade_restricts_every_master_of_every_part(ext_master):
    Ext, Master = ext_master
    counts = dj.Diagram.cascade(Ext & {"ext_id": 1}, part_integrity="cascade").counts()
    assert counts[Master.full_table_name] == 2
    (Ext & {"ext_id": 1}).delete(prompt=False, part_integrity="cascade")
    assert Master.to_arrays("master_id").tolist() == [3]
    assert len(Master.PartA()) == 1 and len(Master.PartB()) == 1


def test_cascade_matching_no_part_row_shows_the_master_with_zero(ext_master):
    Ext, Master = ext_master
    counts = dj.Diagram.cascade(Ext & {"ext_id": 3}, part_integrity="cascade").counts()
    assert counts[Master.full_table_name] == 0
    (Ext & {"ext_id": 3}).delete(prompt=False, part_integrity="cascade")
    assert len(Master()) == 3 and len(Ext()) == 2


def test_enforce_names_the_master_and_rolls_back(ext_master):
    Ext, Master = ext_master
    with pytest.raises(DataJointError, match="before its master"):
        (Ext & {"ext_id": 1}).delete(prompt=False)
    assert len(Ext()) == 3 and len(Master.PartA()) == 2


def test_master_through_a_secondary_foreign_key(schema):
    @schema
    class Ext(dj.Manual):
        definition = """
        ext_id : int32
        """

    @schema
    class Master(dj.Manual):
        definition = """
        master_id : int32
        """

        class P(dj.Part):
            definition = """
            -> Ext
            part_id : int32
            ---
            -> master
            """

    Ext.insert([(1,), (2,)])
    Master.insert([(1,), (2,)])
    Master.P.insert([(1, 10, 1), (2, 20, 2)])
    counts = dj.Diagram.cascade(Ext & {"ext_id": 1}, part_integrity="cascade").counts()
    assert counts[Master.full_table_name] == 1


def test_part_of_part_chain_reaches_the_master(schema):
    @schema
    class Master(dj.Manual):
        definition = """
        master_id : int32
        """

        class PartA(dj.Part):
            definition = """
            -> master
            part_a_id : int32
            """

        class PartB(dj.Part):
            definition = """
            -> Master.PartA.proj(src_master='master_id', src_part='part_a_id')
            part_b_id : int32
            """

    Master.insert([(1,), (2,)])
    Master.PartA.insert([(1, 10), (1, 11), (2, 20)])
    Master.PartB.insert([(1, 10, 100), (1, 11, 110), (2, 20, 200)])
    counts = dj.Diagram.cascade(Master.PartB & {"src_master": 1, "part_b_id": 100},
                                part_integrity="cascade").counts()
    assert counts[Master.full_table_name] == 1
    assert counts[Master.PartA.full_table_name] == 2 and counts[Master.PartB.full_table_name] == 2
    (Master.PartB & {"src_master": 1}).delete(prompt=False, part_integrity="cascade")
    assert Master.to_arrays("master_id").tolist() == [2]
    assert len(Master.PartB()) == 1


def test_a_part_must_still_reach_its_master(schema):
    @schema
    class Other(dj.Manual):
        definition = """
        other_id : int32
        """

    with pytest.raises(DataJointError, match="must reference its master"):
        @schema
        class Master(dj.Manual):
            definition = """
            master_id : int32
            """

            class Stray(dj.Part):
                definition = """
                -> Other
                stray_id : int32
                """


def test_part_integrity_is_checked_first(schema):
    @schema
    class Keeper(dj.Manual):
        definition = """
        kid : int32
        """

    Keeper.insert1((1,))
    for bad in ("cascade", "enforcee"):
        with pytest.raises(ValueError, match="part_integrity must be"):
            Keeper.drop(part_integrity=bad)
    with pytest.raises(ValueError, match="part_integrity must be"):
        dj.Diagram.cascade(Keeper & {"kid": 1}, part_integrity="casade")
    assert len(Keeper()) == 1


def test_part_master_on_the_class(ext_master):
    _, Master = ext_master
    assert Master.PartA.master is Master and Master.PartA().master is Master


# ----- the graph ----------------------------------------------------------------------------------
def test_dependencies_load_reads_the_active_connection(ext_master, conn):
    Ext, Master = ext_master
    deps = Dependencies(conn)
    deps.load()
    assert Master.PartA.full_table_name in deps.children(Master.full_table_name)
    assert set(deps.parents(Master.PartA.full_table_name)) == {Master.full_table_name, Ext.full_table_name}
    assert Master.PartA.full_table_name in deps and deps.number_of_edges(Ext.full_table_name,
                                                                         Master.PartA.full_table_name) == 1
    assert deps.descendants(Ext.full_table_name)[0] == Ext.full_table_name


def test_parents_and_children_by_primary(ext_master, schema):
    Ext, Master = ext_master

    @schema
    class Note(dj.Manual):
        definition = """
        note_id : int32
        ---
        -> Ext
        """

    assert Note.full_table_name in Ext.children(primary=False)
    assert Note.full_table_name not in Ext.children(primary=True)
    assert Master.PartA.full_table_name in Ext.children(primary=True)
    assert Note.parents(primary=False) == [Ext.full_table_name] and Note.parents(primary=True) == []


# ----- declaration context (the schema side of the same graph) -------------------------------------
def test_help_on_a_table_class(schema):
    import pydoc

    @schema
    class Shelf(dj.Lookup):
        """Shelves."""
        definition = """
        shelf : int32
        """

    assert Shelf.definition in Shelf.__doc__ and Shelf.definition in Shelf().__doc__
    assert "class Shelf" in pydoc.plain(pydoc.render_doc(Shelf))  # inspects the tier base classes too
    assert "Lookup" in pydoc.plain(pydoc.render_doc(dj.Lookup))


def test_table_of_a_schema_never_activated_says_so():
    deferred = dj.Schema()

    @deferred
    class Waiting(dj.Manual):
        definition = """
        id : int32
        """

    with pytest.raises(DataJointError, match="not properly configured"):
        Waiting().heading


def test_make_classes_defines_them_where_called(ext_master, schema):
    def caller():
        schema.make_classes()
        return dict(locals())

    schema.context = None
    made = caller()
    assert issubclass(made["Ext"], dj.Manual) and made["Master"].PartA.__base__ is dj.Part
    assert made["Master"].PartA.master is made["Master"]


# ----- what delete and drop remove and keep, on a small lab pipeline --------------------------------
@pytest.fixture
def lab(schema):
    return declare_lab(schema)


def test_delete_cascades_along_renamed_foreign_keys(lab):
    Subject, Session, Analysis = lab
    assert (Subject & {"subject_id": 3}).delete() == 1
    # subject 3's own session, and session (2, 1) whose buddy was 3, are gone with their analyses
    assert Session.keys(order_by="KEY") == [{"subject_id": 1, "session": 1}, {"subject_id": 1, "session": 2}]
    assert counts(Subject, Analysis, Analysis.Detail) == [2, 2, 4]


def test_delete_quick_and_counts(lab):
    Subject, Session, Analysis = lab
    assert (Analysis.Detail & {"step": 1}).delete_quick(get_count=True) == 4
    assert (Subject & {"subject_id": 99}).delete() == 0
    with pytest.raises(IntegrityError):
        Subject.delete_quick()
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [3, 4, 4, 4]


def test_cascade_is_one_transaction(lab, conn, monkeypatch):
    Subject, Session, Analysis = lab
    backend_class = type(conn.backend)
    original, seen = backend_class.execute, []

    def failing(self, sql, params=None):
        if sql.startswith("DELETE"):
            seen.append(sql)
            if len(seen) == 3:
                raise DataJointError("the server went away (simulated)")
        return original(self, sql, params)

    monkeypatch.setattr(backend_class, "execute", failing)
    with pytest.raises(DataJointError):
        Subject.delete()
    monkeypatch.undo()
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [3, 4, 4, 8]


def test_safemode_shows_counts_and_asks(lab, monkeypatch, capsys):
    Subject, Session, Analysis = lab
    answers = iter(["no"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert (Subject & {"subject_id": 1}).delete(prompt=True) == 0
    shown = capsys.readouterr().out
    for name, count in (("subject", 1), ("session", 2), ("__analysis", 2), ("__analysis__detail", 4)):
        assert f'{name}' in shown and f"{count} row(s)" in shown
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [3, 4, 4, 8]
    answers = iter(["yes"])
    dj.config["safemode"] = True
    try:
        assert (Subject & {"subject_id": 1}).delete() == 1
    finally:
        dj.config["safemode"] = False
    assert counts(Subject, Session, Analysis, Analysis.Detail) == [2, 2, 2, 4]


def test_part_tables_follow_their_master(lab):
    Subject, Session, Analysis = lab
    with pytest.raises(DataJointError):
        Analysis.Detail.delete()
    assert (Analysis.Detail & {"step": 0}).delete(part_integrity="ignore") == 4
    assert (Analysis.Detail & {"subject_id": 2}).delete(part_integrity="cascade") == 1
    assert counts(Analysis, Analysis.Detail) == [3, 3]
    with pytest.raises(ValueError):
        Analysis.delete(part_integrity="bogus")
    assert Analysis.delete() == 3
    assert counts(Analysis, Analysis.Detail) == [0, 0]


def test_delete_reaching_a_part_without_its_master_is_refused(schema):
    @schema
    class Tool(dj.Manual):
        definition = """
        tool : int16
        """

    @schema
    class Job(dj.Manual):
        definition = """
        job : int16
        """

        class Use(dj.Part):
            definition = """
            -> master
            -> Tool
            """

    Tool.insert([(1,), (2,)])
    Job.insert([(1,)])
    Job.Use.insert([(1, 1), (1, 2)])
    with pytest.raises(DataJointError) as e:
        (Tool & {"tool": 1}).delete()
    assert_clean_error(e.value, DataJointError, "job__use", "part_integrity")
    assert counts(Tool, Job, Job.Use) == [2, 1, 2]
    assert (Tool & {"tool": 1}).delete(part_integrity="cascade") == 1
    assert counts(Tool, Job, Job.Use) == [1, 0, 0]


def test_delete_cascades_across_schemas(lab, schema, conn):
    Subject, Session, _ = lab
    other = dj.Schema(f"{schema.database}_x", connection=conn)
    try:
        @other
        class Surgery(dj.Manual):
            definition = """
            -> Session
            surgery : int16
            """

        Surgery.insert([(1, 1, 1), (1, 2, 1), (2, 1, 1)])
        with pytest.raises(DataJointError):
            schema.drop(prompt=False)  # another schema depends on it
        assert (Subject & {"subject_id": 1}).delete() == 1
        assert Surgery.keys() == [{"subject_id": 2, "session": 1, "surgery": 1}]
    finally:
        other.drop(prompt=False)


def test_uuid_keys_and_hostile_keys_in_cascades(schema):
    @schema
    class Thing(dj.Manual):
        definition = """
        thing : uuid
        ---
        label : varchar(30)
        """

    @schema
    class Tag(dj.Manual):
        definition = """
        -> Thing
        tag : varchar(30)
        """

    ids = [uuid.uuid4() for _ in range(3)]
    Thing.insert([{"thing": i, "label": "it's"} for i in ids])
    Tag.insert([{"thing": ids[0], "tag": "a'; DROP TABLE x; --"}, {"thing": ids[1], "tag": "b"}])
    assert (Thing & {"thing": ids[0]}).delete() == 1
    assert Tag.to_arrays("tag").tolist() == ["b"]


def test_drop_lists_what_it_drops(lab, schema, monkeypatch, capsys):
    Subject, Session, Analysis = lab
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    Session.drop(prompt=True)
    shown = capsys.readouterr().out
    assert "session" in shown and "__analysis__detail" in shown and "(8 rows)" in shown
    assert set(schema.list_tables()) == {"subject", "session", "__analysis", "__analysis__detail"}
    with pytest.raises(ValueError):
        Session.drop(part_integrity="cascade")
    with pytest.raises(DataJointError):
        (Session & {"session": 1}).drop()
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    Session.drop(prompt=True)
    assert schema.list_tables() == ["subject"]
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    schema.drop(prompt=True)
    assert "subject (3 rows)" in capsys.readouterr().out and schema.exists
