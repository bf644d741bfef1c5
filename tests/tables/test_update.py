"""update1 changes the secondary attributes of exactly one row, on every backend.
(Every update1 that must be refused is in tests/write/test_bad_input.py.)"""

import pytest

from support.checks import declare_lab


@pytest.fixture
def lab(schema):
    return declare_lab(schema)


def test_update1_changes_one_row(lab):
    Subject, Session, _ = lab
    Subject.update1({"subject_id": 2, "weight": 3.5, "species": "rat"})
    Subject.update1({"subject_id": 2, "species": None, "nickname": "two"})
    assert (Subject & {"subject_id": 2}).fetch1() == {"subject_id": 2, "name": "s2", "species": "mouse",
                                                      "weight": 3.5, "nickname": "two"}
    Session.update1({"subject_id": 1, "session": 1, "buddy_id": 3})
    assert (Session & {"subject_id": 1, "session": 1}).fetch1("buddy_id") == 3
    assert (Subject & {"subject_id": 1}).fetch1("weight") is None
