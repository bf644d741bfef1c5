"""The DataJoint 2.0 quick start, run on djframe's embedded SQLite default."""

import djframe as dj

schema = dj.Schema('my_pipeline')


@schema
class Subject(dj.Manual):
    definition = """
    subject_id : uint16
    ---
    name : varchar(100)
    date_of_birth : date
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session_idx : uint8
    ---
    session_date : date
    """


@schema
class SessionAnalysis(dj.Computed):
    definition = """
    -> Session
    ---
    result : float64
    """

    def make(self, key):
        # Compute result for this session
        self.insert1({**key, 'result': 42.0})


# Insert data
Subject.insert1({'subject_id': 1, 'name': 'M001', 'date_of_birth': '2024-01-15'}, skip_duplicates=True)
Session.insert1({'subject_id': 1, 'session_idx': 1, 'session_date': '2024-06-01'}, skip_duplicates=True)

# Run computations
SessionAnalysis.populate()

print(dj.conn())
print((Session * SessionAnalysis).to_polars())
