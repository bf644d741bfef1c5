"""What the test files share: assertions (a clean DataJointError, a schema's row counts) and the small
lab pipeline that the insert, update1, alter and delete tests start from."""

import re

import djframe as dj

ADVICE = re.compile(
    r"\b(use|pass|set|give|provide|declare|remove|rename|choose|insert|delete|drop|define|move|add|shorten|"
    r"restrict|check|convert|write|encode|put|keep|commit|cancel|run|correct|restore|project|widen|make|call|"
    r"reference)\b", re.I)


def assert_clean_error(error, cls, *fragments):
    """The message names the table, the attribute and the value (`fragments`) and says what to do."""
    text = str(error)
    assert type(error) is cls, f"expected {cls.__name__}, got {type(error).__name__}: {text}"
    for fragment in fragments:
        assert str(fragment) in text, f"{fragment!r} is not named in: {text}"
    assert ADVICE.search(text), f"the message does not say what to do: {text}"


def snapshot(conn, schema_name):
    """{table: row count} of every table of the schema, hidden ones included."""
    backend = conn.backend
    return {t: backend.count(backend.full_name(schema_name, t)) for t in sorted(backend.list_tables(schema_name))}


def counts(*tables):
    """The row count of each table, in order: what an operation kept and what it removed."""
    return [len(t()) for t in tables]


def declare_lab(schema):
    """Subjects (a unique secondary index), sessions (a second, renamed and nullable foreign key to Subject)
    and a computed table with a part, filled: 3 subjects, 4 sessions, 4 analyses, 8 details."""

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(20)
        species = 'mouse' : varchar(12)
        weight = null : float64
        nickname = null : varchar(20)
        unique index(nickname)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        -> [nullable] Subject.proj(buddy_id='subject_id')
        note = '' : varchar(40)
        """

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Session
        ---
        score : float64
        """

        class Detail(dj.Part):
            definition = """
            -> master
            step : int16
            ---
            value : float64
            """

        def make(self, key):
            self.insert1({**key, "score": 1.0})
            self.Detail.insert([{**key, "step": i, "value": float(i)} for i in range(2)])

    Subject.insert([{"subject_id": i, "name": f"s{i}"} for i in range(1, 4)])
    Session.insert([{"subject_id": 1, "session": 1, "buddy_id": None}, {"subject_id": 1, "session": 2, "buddy_id": 2},
                    {"subject_id": 2, "session": 1, "buddy_id": 3}, {"subject_id": 3, "session": 1, "buddy_id": None}])
    Analysis.populate()
    return Subject, Session, Analysis
