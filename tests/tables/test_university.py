"""The university example of the DataJoint docs, with hand-checked answers, on every backend.

Students, departments, majors, courses, terms, sections, enrollments and
grades (the reference's schema, in core types). The rows below are small
enough to check every answer by hand; each expected value was worked out
from the rows, not by running the code.
"""

import datetime as dt
import uuid
from decimal import Decimal

import pytest

import djframe as dj

STUDENTS = [  # id, first, last, sex, born, city, state
    (1, "Ann", "Lee", "F", "1995-03-01", "Austin", "TX"),
    (2, "Bob", "Kim", "M", "1980-07-15", "Dallas", "TX"),
    (3, "Cal", "Ortiz", "M", "1999-11-30", "Tulsa", "OK"),
    (4, "Dee", "Park", "F", "1985-05-05", "Santa Fe", "NM"),
    (5, "Eve", "Stone", "F", "2001-01-20", "Boston", "MA"),
    (6, "Fay", "Wu", "U", "1992-09-09", "Austin", "TX"),
    (7, "Gus", "Roy", "M", "1978-02-28", "Reno", "NV"),
    (8, "Hal", "Diaz", "M", "1996-12-31", "Tulsa", "OK"),
]
DEPARTMENTS = [("BIOL", "Biology"), ("MATH", "Mathematics"), ("CS", "Computer Science"), ("PHYS", "Physics")]
MAJORS = [(1, "BIOL", "2015-09-01"), (2, "MATH", "2000-01-10"), (3, "CS", "2018-02-01"),
          (5, "CS", "2020-09-01"), (6, "BIOL", "2012-05-05"), (8, "CS", "2016-01-15")]
COURSES = [("BIOL", 1010, "Biology I", "3.0"), ("BIOL", 2020, "Genetics", "4.0"),
           ("MATH", 1210, "Calculus I", "4.0"), ("MATH", 2270, "Linear Algebra", "3.0"),
           ("CS", 1410, "Programming", "3.0"), ("CS", 2420, "Data Structures", "4.0"),
           ("PHYS", 2210, "Mechanics", "4.0")]
TERMS = [(2023, "Fall"), (2024, "Spring"), (2024, "Fall")]
SECTIONS = {  # name: (dept, course, year, term, section, auditorium)
    "S1": ("BIOL", 1010, 2023, "Fall", "a", "A1"), "S2": ("MATH", 1210, 2023, "Fall", "a", "B1"),
    "S3": ("CS", 1410, 2024, "Spring", "a", "C1"), "S4": ("MATH", 2270, 2024, "Spring", "a", "B1"),
    "S5": ("BIOL", 2020, 2024, "Fall", "a", "A1"), "S6": ("MATH", 1210, 2024, "Fall", "b", "B2"),
    "S7": ("PHYS", 2210, 2024, "Fall", "a", "D1"),
}
ENROLLMENTS = {1: ["S1", "S5"], 2: ["S2", "S4"], 3: ["S3", "S6"], 5: ["S3", "S5", "S7"], 6: ["S1", "S2"],
               8: ["S2", "S4", "S6"]}
GRADES = [(1, "S1", "A"), (2, "S2", "B+"), (2, "S4", "A-"), (3, "S3", "A"), (5, "S3", "F"), (6, "S1", "B"),
          (6, "S2", "C"), (8, "S2", "A"), (8, "S4", "A")]
LETTERS = [("A", "4.00"), ("A-", "3.67"), ("B+", "3.33"), ("B", "3.00"), ("B-", "2.67"), ("C+", "2.33"),
           ("C", "2.00"), ("C-", "1.67"), ("D+", "1.33"), ("D", "1.00"), ("F", "0.00")]


def declare(schema):
    """The reference's university schema, in DataJoint 2.x core types."""

    @schema
    class Student(dj.Manual):
        definition = """
        student_id : uint32   # university-wide ID number
        ---
        first_name : varchar(40)
        last_name : varchar(40)
        sex : enum('F', 'M', 'U')
        date_of_birth : date
        home_city : varchar(60)
        home_state : char(2)   # US state acronym
        """

    @schema
    class Department(dj.Manual):
        definition = """
        dept : varchar(6)   # abbreviated department name, e.g. BIOL
        ---
        dept_name : varchar(200)
        """

    @schema
    class StudentMajor(dj.Manual):
        definition = """
        -> Student
        ---
        -> Department
        declare_date : date
        """

    @schema
    class Course(dj.Manual):
        definition = """
        -> Department
        course : uint32   # course number, e.g. 1010
        ---
        course_name : varchar(200)
        credits : decimal(3,1)
        """

    @schema
    class Term(dj.Manual):
        definition = """
        term_year : int16
        term : enum('Spring', 'Summer', 'Fall')
        """

    @schema
    class Section(dj.Manual):
        definition = """
        -> Course
        -> Term
        section : char(1)
        ---
        auditorium : varchar(12)
        """

    @schema
    class CurrentTerm(dj.Manual):
        definition = """
        -> Term
        """

    @schema
    class Enroll(dj.Manual):
        definition = """
        -> Student
        -> Section
        """

    @schema
    class LetterGrade(dj.Lookup):
        definition = """
        grade : char(2)
        ---
        points : decimal(3,2)
        """
        contents = LETTERS

    @schema
    class Grade(dj.Manual):
        definition = """
        -> Enroll
        ---
        -> LetterGrade
        """

    return dict(locals())


def section_key(name):
    dept, course, year, term, section, _ = SECTIONS[name]
    return {"dept": dept, "course": course, "term_year": year, "term": term, "section": section}


@pytest.fixture(scope="module")
def u(connection):
    """The university schema with its rows, once per backend."""
    schema = dj.Schema(f"djuniv_{uuid.uuid4().hex[:8]}", connection=connection)
    t = declare(schema)
    t["Student"].insert(STUDENTS)
    t["Department"].insert(DEPARTMENTS)
    t["StudentMajor"].insert(MAJORS)
    t["Course"].insert(COURSES)
    t["Term"].insert(TERMS)
    t["CurrentTerm"].insert1((2024, "Fall"))
    t["Section"].insert([{**section_key(s), "auditorium": v[5]} for s, v in SECTIONS.items()])
    t["Enroll"].insert([{"student_id": i, **section_key(s)} for i, secs in ENROLLMENTS.items() for s in secs])
    t["Grade"].insert([{"student_id": i, **section_key(s), "grade": g} for i, s, g in GRADES])
    yield type("University", (), {**t, "schema": schema})
    schema.drop(prompt=False)


def ids(expr):
    return sorted(expr.to_arrays("student_id").tolist())


def mapping(expr, attr):
    key = expr.primary_key
    return {tuple(r[k] for k in key) if len(key) > 1 else r[key[0]]: _plain(r[attr]) for r in expr.to_dicts()}


def _plain(v):
    if isinstance(v, str):
        return v.rstrip()  # the reference returns PostgreSQL char(n) values padded
    return round(float(v), 3) if isinstance(v, (Decimal, float)) else v


# ----- restrictions ------------------------------------------------------------------------------
def test_students_from_texas(u):
    assert ids(u.Student & {"home_state": "TX"}) == [1, 2, 6]


def test_male_students_outside_texas(u):
    assert ids((u.Student & 'sex = "M"') - {"home_state": "TX"}) == [3, 7, 8]


def test_students_from_three_states(u):
    assert ids(u.Student & [{"home_state": s} for s in ("OK", "NM", "TX")]) == [1, 2, 3, 4, 6, 8]


def test_millennials(u):
    assert ids(u.Student & 'date_of_birth between "1981-01-01" and "1996-12-31"') == [1, 4, 6, 8]


def test_declared_and_undeclared_majors(u):
    assert ids(u.Student & u.StudentMajor) == [1, 2, 3, 5, 6, 8]
    assert ids(u.Student - u.StudentMajor) == [4, 7]


def test_enrolled_in_the_current_term(u):
    assert ids(u.Student & (u.Enroll & u.CurrentTerm)) == [1, 3, 5, 8]


def test_never_took_math(u):
    assert ids(u.Student - (u.Enroll & {"dept": "MATH"})) == [1, 4, 5, 7]


def test_received_an_f_and_only_as(u):
    assert ids(u.Student & (u.Grade & {"grade": "F"})) == [5]
    assert ids((u.Student & u.Grade) - (u.Grade - {"grade": "A"})) == [1, 3, 8]


def test_courses_never_offered(u):
    assert (u.Course - u.Section).keys() == [{"dept": "CS", "course": 2420}]


def test_two_oldest_students(u):
    assert ids(u.Student & dj.Top(2, "date_of_birth")) == [2, 7]
    assert (u.Student & dj.Top(1, "date_of_birth DESC")).fetch1("first_name") == "Eve"


def test_and_list_not_and_empty_restrictions(u):
    assert ids(u.Student & dj.AndList(["home_state = 'TX'", {"sex": "F"}])) == [1]
    assert ids(u.Student & dj.Not([{"home_state": "TX"}, {"home_state": "OK"}])) == [4, 5, 7]
    assert ids(u.Student & []) == [] and len(u.Student & {}) == 8 and ids(u.Student - []) == list(range(1, 9))


# ----- joins, projections, unions ------------------------------------------------------------------
def test_students_with_their_department_names(u):
    majors = (u.Student * u.StudentMajor * u.Department).proj("first_name", "dept_name")
    assert majors.primary_key == ["student_id"]
    assert mapping(majors, "dept_name") == {1: "Biology", 2: "Mathematics", 3: "Computer Science",
                                            5: "Computer Science", 6: "Biology", 8: "Computer Science"}


def test_texans_or_computer_scientists(u):
    union = (u.Student & {"home_state": "TX"}).proj() + (u.StudentMajor & {"dept": "CS"}).proj()
    assert ids(union) == [1, 2, 3, 5, 6, 8]


def test_enrollments_extended_with_grades(u):
    graded = u.Enroll.extend(u.Grade)
    assert len(graded) == 14 and graded.primary_key == u.Enroll.primary_key
    assert sorted(r["student_id"] for r in (graded & "grade IS NULL").to_dicts()) == [1, 3, 5, 5, 8]


def test_age_computed_in_sql(u):
    ages = u.Student.proj(age="2024 - year(date_of_birth)")
    assert mapping(ages, "age") == {1: 29, 2: 44, 3: 25, 4: 39, 5: 23, 6: 32, 7: 46, 8: 28}


# ----- aggregation --------------------------------------------------------------------------------
def test_enrollment_counts_keep_students_without_enrollments(u):
    assert mapping(u.Student.aggr(u.Enroll, n="count(section)"), "n") == \
        {1: 2, 2: 2, 3: 2, 4: 0, 5: 3, 6: 2, 7: 0, 8: 3}
    # as in the reference, count(*) counts the row of a student without enrollments
    assert mapping(u.Student.aggr(u.Enroll, n="count(*)"), "n") == {1: 2, 2: 2, 3: 2, 4: 1, 5: 3, 6: 2, 7: 1, 8: 3}
    assert ids(u.Student.aggr(u.Enroll, n="count(*)", exclude_nonmatching=True)) == [1, 2, 3, 5, 6, 8]


def test_majors_per_department(u):
    assert mapping(u.Department.aggr(u.StudentMajor, n="count(student_id)"), "n") == \
        {"BIOL": 2, "MATH": 1, "CS": 3, "PHYS": 0}


def test_students_per_state(u):
    assert sorted(r["home_state"] for r in (dj.U("home_state") & u.Student).to_dicts()) == \
        ["MA", "NM", "NV", "OK", "TX"]
    assert mapping(dj.U("home_state").aggr(u.Student, n="count(*)"), "n") == \
        {"TX": 3, "OK": 2, "NM": 1, "MA": 1, "NV": 1}
    assert dj.U().aggr(u.Student, n="count(*)").fetch1("n") == 8


def test_credits_earned(u):
    passed = u.Course * (u.Grade - {"grade": "F"})
    credits = u.Student.aggr(passed, credits="sum(credits)", exclude_nonmatching=True)
    assert mapping(credits, "credits") == {1: 3.0, 2: 7.0, 3: 3.0, 6: 7.0, 8: 7.0}


def test_grade_point_average(u):
    gpa = u.Student.aggr(u.Course * u.Grade * u.LetterGrade, gpa="sum(points * credits) / sum(credits)",
                         exclude_nonmatching=True)
    assert mapping(gpa, "gpa") == {1: 4.0, 2: 3.476, 3: 4.0, 5: 0.0, 6: 2.429, 8: 4.0}


def test_current_sections_and_their_sizes(u):
    sizes = (u.Section & u.CurrentTerm).aggr(u.Enroll, n="count(student_id)")
    assert {(k[0], k[1]): v for k, v in mapping(sizes, "n").items()} == \
        {("BIOL", 2020): 2, ("MATH", 1210): 2, ("PHYS", 2210): 1}


def test_average_points_per_course(u):
    avg = u.Course.aggr(u.Grade * u.LetterGrade, p="avg(points)")
    assert mapping(avg, "p") == {("BIOL", 1010): 3.5, ("BIOL", 2020): None, ("MATH", 1210): 3.11,
                                 ("MATH", 2270): 3.835, ("CS", 1410): 2.0, ("CS", 2420): None,
                                 ("PHYS", 2210): None}


def test_best_student_per_state_by_gpa(u):
    gpa = u.Student.aggr(u.Course * u.Grade * u.LetterGrade, "home_state",
                         gpa="sum(points * credits) / sum(credits)", exclude_nonmatching=True)
    best = dj.U("home_state").aggr(gpa, top="max(gpa)")
    assert mapping(best, "top") == {"TX": 4.0, "OK": 4.0, "MA": 0.0}


def test_results_can_be_restricted_fetched_and_inserted_again(u):
    counts = u.Student.aggr(u.Enroll, n="count(section)") & "n >= 2"
    assert ids(counts) == [1, 2, 3, 5, 6, 8]
    assert ids((u.Student & counts) * u.StudentMajor & {"dept": "CS"}) == [3, 5, 8]
    assert u.Student.head(1)[0]["student_id"] == 1 and u.Student.tail(1)[0]["student_id"] == 8
    assert {"student_id": 4} in u.Student() and {"student_id": 9} not in u.Student()
    assert len(list(u.Student & {"home_state": "OK"})) == 2
    assert "*student_id" in repr(u.Student & {"home_state": "OK"}) and "Total: 4" in repr(u.Student & 'sex = "M"')
    assert isinstance(u.Student.to_dicts()[0]["date_of_birth"], dt.date)


def test_insert_from_a_query(u):
    class Undeclared(dj.Manual):
        definition = """
        -> Student
        ---
        first_name : varchar(40)
        """

    Undeclared = u.schema(Undeclared, context={"Student": u.Student})
    Undeclared.insert((u.Student - u.StudentMajor).proj("first_name"))
    assert mapping(Undeclared(), "first_name") == {4: "Dee", 7: "Gus"}
    Undeclared.drop(prompt=False)


# ----- the same queries through the reference client --------------------------------------------
def reference_queries(m, U, Top):
    """Expressions written once, built with djframe or with the reference client `datajoint`."""
    S, D, SM, C, Se, CT, E, LG, G = (getattr(m, k) for k in (
        "Student", "Department", "StudentMajor", "Course", "Section", "CurrentTerm", "Enroll", "LetterGrade",
        "Grade"))
    return {
        "join_b_determines_a": SM * S,
        "join_a_determines_b": S * SM,
        "join_three": (S * SM * D).proj("first_name", "dept_name"),
        "proj_rename_key": S.proj("last_name", fn="first_name", sid="student_id"),
        "proj_duplicate": S.proj(x="(home_state)", y="(student_id)"),
        "proj_ellipsis": S.proj(..., "-home_city", born="date_of_birth"),
        "aggr_left": S.aggr(E, n="count(section)", star="count(*)"),
        "aggr_exclude": C.aggr(G * LG, p="avg(points)", exclude_nonmatching=True),
        "union_outer": (S & {"home_state": "TX"}).proj("first_name") + (S & {"home_state": "OK"}).proj("last_name"),
        "union_plain": (S & {"home_state": "TX"}).proj() + SM.proj(),
        "distinct": U("home_state", "sex") & S,
        "group": U("dept").aggr(E, n="count(*)"),
        "extend": E.extend(G),
        "neither_determines": S.proj() * C.proj(),
        "top": S & Top(3, "home_state DESC"),
        "antijoin": S - (E & "dept = 'MATH'"),  # the reference passes SQL verbatim: standard quotes
        "restricted_aggr_join": (D.aggr(C, n="count(*)") & "n > 1") * C,
        "current": (Se & CT).aggr(E, n="count(student_id)"),
    }


@pytest.fixture(scope="module")
def reference(u, connection):
    """The reference client, reading the schema djframe wrote (MySQL and PostgreSQL only)."""
    if connection.backend.name == "sqlite":
        pytest.skip("the reference client has no SQLite backend")
    import datajoint
    s = connection.settings
    instance = datajoint.Instance(s["host"], s["user"], s["password"], port=s["port"], use_tls=False,
                                  backend=connection.backend.name,
                                  **({"database__name": s["database_name"]} if s.get("database_name") else {}))
    yield datajoint, datajoint.virtual_schema(u.schema.database, connection=instance.connection)
    instance.connection.close()


QUERIES = ["join_b_determines_a", "join_a_determines_b", "join_three", "proj_rename_key", "proj_duplicate",
           "proj_ellipsis", "aggr_left", "aggr_exclude", "union_outer", "union_plain", "distinct", "group",
           "extend", "neither_determines", "top", "antijoin", "restricted_aggr_join", "current"]


@pytest.mark.oracle
@pytest.mark.parametrize("name", QUERIES)
def test_same_heading_and_rows_as_the_reference_client(u, reference, name):
    datajoint, vm = reference
    ours = reference_queries(u, dj.U, dj.Top)[name]
    theirs = reference_queries(vm, datajoint.U, datajoint.Top)[name]
    assert ours.heading.names == list(theirs.heading.names)
    assert ours.primary_key == list(theirs.primary_key)
    names = ours.heading.names
    assert _rows(ours.to_dicts(), names) == _rows(theirs.to_dicts(), names)


def _rows(rows, names):
    return sorted((tuple(_plain(r[n]) for n in names) for r in rows), key=repr)
