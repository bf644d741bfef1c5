"""The query algebra without a database: headings, primary keys, errors, and the SQL of each dialect."""

import pytest

import djframe as dj
from djframe.backends.mysql.dialect import MySQLDialect
from djframe.backends.postgres.dialect import PostgresDialect
from djframe.backends.sqlite.dialect import SQLiteDialect
from djframe.errors import DataJointError, QuerySyntaxError, UnknownAttributeError
from djframe.define.heading import Attribute, Heading
from djframe.query import nodes as n
from djframe.query.compile import Compiler
from djframe.query.expression import QueryExpression
from djframe.define.types import parse_type

CONNECTION = object()  # operators only compare connections by identity


def dialect_of(name):
    """Compiling needs a dialect only: no connection, no server."""
    return {"sqlite": SQLiteDialect, "postgresql": PostgresDialect, "mysql": MySQLDialect}[name]()


DIALECTS = ("sqlite", "postgresql", "mysql")


def table(name, key, secondary=(), fk=None, blobs=()):
    """A base table; ``fk`` maps inherited attribute names to the table they come from."""
    fk = fk or {}
    attrs = []
    for a in key:
        origin = fk.get(a, name)
        attrs.append(Attribute(a, parse_type("int32"), in_key=True, lineage=f"s.{origin}.{a}"))
    for a in secondary:
        lineage = f"s.{fk[a]}.{a}" if a in fk else None
        attrs.append(Attribute(a, parse_type("varchar(20)"), nullable=True, lineage=lineage))
    for a in blobs:
        attrs.append(Attribute(a, parse_type("<blob>"), nullable=True))
    return QueryExpression(n.TableNode(Heading(tuple(attrs), name), "s", name), CONNECTION)


@pytest.fixture
def university():
    dept = table("dept", ["dept_id"], ["name", "building"])
    student = table("student", ["student_id"], ["name", "dept_id", "photo"], fk={"dept_id": "dept"})
    course = table("course", ["dept_id", "course_id"], ["title"], fk={"dept_id": "dept"})
    enroll = table("enroll", ["student_id", "dept_id", "course_id"], ["grade"],
                   fk={"student_id": "student", "dept_id": "dept", "course_id": "course"})
    return dept, student, course, enroll


def sql(expr, name="sqlite", **kwargs):
    return Compiler(dialect_of(name)).sql(expr._node, **kwargs)


# ----- headings and primary keys --------------------------------------------------------------
def test_join_primary_key_follows_dependencies(university):
    dept, student, course, enroll = university
    assert (student.proj() * enroll).primary_key == ["student_id", "dept_id", "course_id"]
    assert (enroll * course).primary_key == ["student_id", "dept_id", "course_id"]
    assert (course * enroll).heading.names == ["student_id", "dept_id", "course_id", "grade", "title"]
    neither = student.proj() * course.proj()
    assert neither.primary_key == ["student_id", "dept_id", "course_id"]
    with pytest.raises(DataJointError, match="`name`.*no lineage.*semantic_check=False"):
        student * dept  # `name` is a secondary attribute of both, without lineage
    assert (student.join(dept, semantic_check=False)).primary_key == ["student_id"]


def test_projection_rules(university):
    dept, student, _, _ = university
    assert student.proj().heading.names == ["student_id"]
    assert student.proj(...).heading.names == ["student_id", "name", "dept_id", "photo"]
    assert student.proj(..., "-photo").heading.names == ["student_id", "name", "dept_id"]
    renamed = student.proj(sid="student_id")
    assert renamed.primary_key == ["sid"] and renamed.heading["sid"].lineage == "s.student.student_id"
    dup = student.proj(copy="(student_id)")
    assert dup.primary_key == ["student_id", "copy"]  # as in the reference
    both = student.proj("name", alias="name")
    assert both.heading.names == ["student_id", "name", "alias"]
    computed = student.proj(n2="student_id * 2")
    assert computed.heading["n2"].lineage is None and computed.heading.secondary_attributes == ["n2"]
    with pytest.raises(DataJointError, match="primary-key"):
        student.proj("-student_id")
    with pytest.raises(UnknownAttributeError, match="available attributes: student_id, name"):
        student.proj("nope")
    with pytest.raises(UnknownAttributeError, match="available attributes"):
        student.proj(x="nope + 1")
    with pytest.raises(DataJointError, match="already exists"):
        student.proj("name", name="dept_id")


def test_aggregation_union_and_universal_headings(university):
    dept, student, course, enroll = university
    counts = dept.aggr(course, ..., n="count(*)")
    assert counts.primary_key == ["dept_id"] and counts.heading.names == ["dept_id", "name", "building", "n"]
    with pytest.raises(DataJointError, match="primary key"):
        course.aggr(dept, n="count(*)")
    assert (dj.U("grade") & enroll).primary_key == ["grade"]
    grouped = dj.U("dept_id").aggr(enroll, n="count(*)")
    assert grouped.heading.names == ["dept_id", "n"] and grouped.primary_key == ["dept_id"]
    total = dj.U().aggr(enroll, n="count(*)")
    assert total.primary_key == [] and total.heading.names == ["n"]
    union = dept.proj("name") + dept.proj("building")
    assert union.heading.names == ["dept_id", "name", "building"]
    with pytest.raises(DataJointError, match="same primary key"):
        dept + student
    with pytest.raises(DataJointError, match="secondary"):
        dept + dept
    with pytest.raises(DataJointError, match="infinite"):
        dj.U("dept_id") - dept
    with pytest.raises(DataJointError, match="removed"):
        dept * dj.U("dept_id")
    with pytest.raises(DataJointError, match="exclude_nonmatching"):
        dj.U("dept_id").aggr(enroll, n="count(*)", exclude_nonmatching=False)
    with pytest.raises(DataJointError, match="determine"):
        dept.extend(enroll)
    with pytest.raises(DataJointError, match="removed"):
        dept ^ course
    with pytest.raises(DataJointError, match="removed"):
        dept @ course


def test_restriction_forms_simplify(university):
    dept, student, _, enroll = university
    assert (dept & True) is dept and (dept & {}) is dept and (dept & dj.AndList([])) is dept
    assert (dept & {"unknown": 1}) is dept and (dept & dj.U("dept_id")) is dept
    assert "1 = 0" in sql(dept & []) and "1 = 0" in sql(dept & False) and "1 = 0" in sql(dept - {})
    assert "1 = 0" in sql(dept - dj.U())
    text = sql(student & {"name": None, "dept_id": 3})
    assert '"name" IS NULL' in text and '"dept_id" = 3' in text
    assert "NOT EXISTS" in sql(student - enroll) and " IN " not in sql(student - enroll)
    assert "NOT (" in sql(student - {"dept_id": 1})
    with pytest.raises(UnknownAttributeError, match="available attributes: student_id, name, dept_id"):
        student & "age > 3"
    with pytest.raises(DataJointError, match="Top"):
        student & [dj.Top(2), "name = 'x'"]
    with pytest.raises(DataJointError, match="Invalid restriction"):
        student & 3.5


# ----- the SQL ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
def test_restricting_by_a_secondary_attribute_does_not_wrap_the_table(university, dialect):
    _, student, _, _ = university
    text = sql(student & "name = 'x'" & {"dept_id": 2}, dialect)
    assert text.count("SELECT") == 1 and "photo" in text  # one SELECT, the blob read once


@pytest.mark.parametrize("dialect", DIALECTS)
def test_restrictions_projections_and_joins_merge_into_one_select(university, dialect):
    dept, student, course, enroll = university
    expr = ((student.proj("name", d="dept_id") & "d > 1") * enroll & {"grade": "A"}).proj("grade")
    assert sql(expr, dialect).count("SELECT") == 1
    assert sql(expr & (course & "title = 'x'"), dialect).count("SELECT") == 2  # the EXISTS


@pytest.mark.parametrize("dialect", DIALECTS)
def test_only_top_distinct_and_groups_are_wrapped(university, dialect):
    dept, student, course, enroll = university
    top = student & dj.Top(3, "name DESC")
    assert sql(top, dialect).count("SELECT") == 1
    assert sql(top & "dept_id = 1", dialect).count("SELECT") == 2
    assert sql(top & dj.Top(2, None), dialect).count("SELECT") == 1  # same order: one slice
    assert sql((dj.U("dept_id") & student) & "dept_id > 1", dialect).count("SELECT") == 2
    grouped = dept.aggr(course, n="count(*)") & "n > 2"
    assert sql(grouped, dialect).count("SELECT") == 2


def test_dialect_quoting_and_limits(university):
    _, student, _, _ = university
    q = student & dj.Top(2, "KEY", offset=3)
    assert "`s`.`student` AS t0" in sql(q, "mysql") and "LIMIT 2 OFFSET 3" in sql(q, "mysql")
    assert '"s"."student" AS t0' in sql(q, "postgresql")
    assert '"s.student" AS t0' in sql(q, "sqlite")
    assert "LIMIT ALL OFFSET 1" in sql(student, "postgresql", offset=1)


def test_nulls_sort_first_ascending_on_every_backend(university):
    _, student, _, _ = university
    for dialect in DIALECTS:
        text = sql(student, dialect, order_by=["name", "student_id DESC"])
        assert "CASE WHEN" in text and text.count("CASE WHEN") == 1  # the key is never NULL


@pytest.mark.parametrize("text, dialect, expected", [
    ('name = "abc"', "postgresql", "= 'abc'"),
    ('name = "abc"', "sqlite", "= 'abc'"),
    ("group_concat(name)", "postgresql", "STRING_AGG"),
    ("sum(name = 'a')", "postgresql", "SUM(CAST("),
    ("timestampdiff(day, a, b)", "postgresql", "EXTRACT(EPOCH"),
    ("timestampdiff(hour, a, b)", "sqlite", "JULIANDAY"),
    ("now()", "sqlite", "CURRENT_TIMESTAMP"),
    ("cast(a as char)", "postgresql", "AS TEXT"),
    ("`a` + 1", "mysql", "+ 1"),
])
def test_user_sql_is_rendered_per_dialect(text, dialect, expected):
    from djframe.query.usersql import template
    rendered, names = template(text, dialect_of(dialect))
    assert expected in rendered


def test_user_sql_errors():
    from djframe.query.usersql import attributes_in
    assert attributes_in("a > 1 and b like 'x%' or count(*) > c") == ("a", "b", "c")
    with pytest.raises(QuerySyntaxError):
        attributes_in("a > (1")
    with pytest.raises(DataJointError, match="Qualified"):
        attributes_in("t.a > 1")


def test_compiling_is_pure_and_conditions_name_attributes_once(university):
    dept, student, course, enroll = university
    expr = dept.aggr(course * enroll, n="count(*)", g="max(grade)")
    assert sql(expr) == sql(expr)
    assert "COUNT(*) > 0" not in sql(expr)
    assert "HAVING COUNT(*) > 0" in sql(dj.U().aggr(enroll, n="count(*)").aggr(enroll, m="count(*)"))
    assert dept.restriction == [] and (dept & "name = 'x'").restriction_attributes == {"name"}


def test_where_sql_for_delete(university):
    _, student, _, enroll = university
    name, where = Compiler(dialect_of("mysql")).where_sql(((student & {"dept_id": 1}) - enroll)._node)
    assert name == "`s`.`student`" and "`s`.`student`.`dept_id` = '1'" in where and "NOT EXISTS" in where


def test_order_terms_split_on_commas(university):
    _, student, _, _ = university
    from djframe.query.compile import order_spec
    assert order_spec("name DESC, concat(name, ',') ,student_id") == ("name DESC", "concat(name, ',')", "student_id")
    text = sql(student & dj.Top(2, "dept_id DESC, student_id"), "mysql")
    assert text.endswith("`dept_id` DESC, t0.`student_id` LIMIT 2")
    assert sql(student, "sqlite", order_by="KEY DESC").endswith('ORDER BY t0."student_id" DESC')


def test_order_by_expressions_with_a_direction(university):
    _, student, _, _ = university
    text = sql(student & dj.Top(1, "length(name) DESC"), "postgresql")
    assert "LENGTH(t0.\"name\")) DESC" in text and " AS DESC" not in text
    with pytest.raises(UnknownAttributeError):
        student & dj.Top(1, "abs(age) desc")


def test_negations_nest(university):
    _, student, _, enroll = university
    assert sql(student & -enroll) == sql(student - enroll)
    assert sql(student & dj.Not(dj.Not(enroll))) == sql(student & enroll)
    assert sql(student - dj.Not({"name": "x"})) == sql(student & {"name": "x"})
    conds = dj.AndList(["name = 'a'"])
    conds.append(dj.AndList(["dept_id = 1", {"student_id": 2}]))
    assert len(conds) == 3 and sql(student & conds).count(" AND ") == 2


def test_outer_join_right_sides_are_computed_first(university):
    dept, student, course, enroll = university
    plain = sql(student.extend(dept.proj("building")), "postgresql")
    assert plain.count("SELECT") == 1  # nothing to compute: the table joins as is
    computed = student.extend(dept.proj(b="coalesce(building, '?')"))
    assert sql(computed, "postgresql").count("SELECT") == 2 and "LIMIT" not in sql(computed, "postgresql")
    assert "LIMIT 18446744073709551615) AS" in sql(computed, "mysql")  # MariaDB would merge it back
    counted = dept.aggr(course.proj(c="coalesce(title, '')"), n="count(c)")
    assert sql(counted, "sqlite").count("SELECT") == 2


def test_split_sql_takes_its_slices_from_the_caller(university):
    _, student, _, _ = university
    assert Compiler(dialect_of("postgresql")).split_sql(student._node) is None  # a dialect alone asks no server
    asked = []

    def slices(schema, table, alias):
        asked.append((schema, table))
        return [f"{alias}.x < 1", f"{alias}.x >= 1"]

    sqls = Compiler(dialect_of("postgresql")).split_sql((student & "name = 'a'")._node, slices=slices)
    assert asked == [("s", "student")] and len(sqls) == 2
    assert sqls[0].endswith("t0.x < 1") and sqls[1].endswith("t0.x >= 1") and all("'a'" in s for s in sqls)
    top = student & dj.Top(2, "name")  # rows of a slice are not rows of the whole: never split
    assert Compiler(dialect_of("postgresql")).split_sql(top._node, slices=slices) is None
