"""alter brings a declared table to its edited definition, keeping and converting the stored rows,
and refuses what it cannot do; on every backend."""

import datetime as dt
import decimal

import pytest

import djframe as dj
from djframe.errors import InvalidValueError, MissingAttributeError, UnsupportedAlterError
from support.checks import assert_clean_error, declare_lab


@pytest.fixture
def lab(schema):
    return declare_lab(schema)


def test_alter_secondary_attributes_and_comment(lab):
    Subject, Session, _ = lab
    Subject.update1({"subject_id": 1, "weight": 20.5})
    Subject.definition = """
    # subjects of the lab
    subject_id : int32
    ---
    name : varchar(30)           # longer now
    species = 'mouse' : varchar(12)
    mass = null : float64        # {weight} renamed
    nickname = null : varchar(20)
    sex = 'U' : enum('F', 'M', 'U')
    unique index(nickname)
    """
    Subject.alter(prompt=False)
    heading = Subject.heading
    assert set(heading.names) == {"subject_id", "name", "species", "mass", "nickname", "sex"}
    assert heading["name"].type.text == "varchar(30)" and heading["name"].comment == "longer now"
    assert heading["sex"].default == "U" and "subjects of the lab" in Subject.describe()
    assert (Subject & {"subject_id": 1}).fetch1("sex", "mass", "name") == ("U", 20.5, "s1") and len(Subject()) == 3
    Subject.insert1({"subject_id": 5, "name": "x" * 30, "sex": "F"})
    Subject.alter(prompt=False)  # nothing left to do
    assert len(Session()) == 4


def test_alter_refuses_what_it_cannot_do(lab, monkeypatch):
    Subject, _, _ = lab
    original = Subject.definition
    Subject.definition = original.replace("name : varchar(20)", "name : varchar(1)")
    with pytest.raises(InvalidValueError) as e:
        Subject.alter(prompt=False)
    assert_clean_error(e.value, InvalidValueError, "subject", "name", "s1")
    Subject.definition = original + "\nborn : date\n"
    with pytest.raises(MissingAttributeError):
        Subject.alter(prompt=False)
    Subject.definition = original.replace("subject_id : int32", "subject_id : int64")
    with pytest.raises(UnsupportedAlterError):
        Subject.alter(prompt=False)
    Subject.definition = original.replace("unique index(nickname)", "")
    with pytest.raises(UnsupportedAlterError):
        Subject.alter(prompt=False)
    Subject.definition = original.replace("weight = null : float64", "weight = null : varchar(9)")
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    Subject.alter()
    assert Subject.heading["weight"].type.text == "float64"
    Subject.definition = original


def test_alter_converts_stored_values(schema, monkeypatch, capsys):
    @schema
    class Sample(dj.Manual):
        definition = """
        sample : int32
        ---
        at : datetime
        amount : decimal(6,1)
        hits : int32
        """

    moment, amount = dt.datetime(2020, 1, 1, 1, 2, 3), decimal.Decimal("12.5")
    Sample.insert1({"sample": 1, "at": moment, "amount": amount, "hits": 7})
    original = Sample.definition
    Sample.definition = original.replace("at : datetime", "at : datetime(3)").replace(
        "decimal(6,1)", "decimal(8,3)").replace("hits : int32", "hits : uint64")
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    Sample.alter()
    assert "MODIFY at : datetime(3)   (was at : datetime)" in capsys.readouterr().out
    assert Sample.fetch1() == {"sample": 1, "at": moment, "amount": decimal.Decimal("12.500"), "hits": 7}
    for key, value in (("at", moment), ("amount", amount), ("hits", 7)):
        assert len(Sample & {key: value}) == 1, key
    Sample.insert1({"sample": 2, "at": moment.replace(microsecond=250000), "amount": 1, "hits": 2**64 - 1})
    Sample.definition = original
    with pytest.raises(InvalidValueError) as e:
        Sample.alter(prompt=False)
    assert_clean_error(e.value, InvalidValueError, "sample", "at", "fractional digits")
    assert Sample.heading["at"].type.text == "datetime(3)" and len(Sample()) == 2
