"""The DataJoint error hierarchy.

Every failure a user can cause surfaces as a `DataJointError` subclass whose
message names the table, the attribute and the offending value, and says what
to do next. Driver exceptions are translated at the backend boundary.
"""


class DataJointError(Exception):
    """Base class of every error djframe raises on purpose."""

    def suggest(self, *args):
        """Return the same kind of error with extra hint text appended."""
        return self.__class__(*(self.args + args))

    def __str__(self):
        return "\n".join(str(a) for a in self.args)


class LostConnectionError(DataJointError):
    """The server connection dropped."""


class QueryError(DataJointError):
    """The server refused a statement."""


class QuerySyntaxError(QueryError):
    """SQL that could not be parsed."""


class AccessError(QueryError):
    """The user lacks a privilege."""


class DuplicateError(QueryError):
    """A row with the same primary key or unique index value exists."""


class IntegrityError(QueryError):
    """A foreign-key constraint was violated."""


class UnknownAttributeError(QueryError, KeyError):
    """An attribute name that is not in the heading (a KeyError too, as the reference raises)."""


class MissingAttributeError(QueryError):
    """A required attribute was not given a value."""


class MissingTableError(DataJointError):
    """A table that is not declared in the database."""


class MissingExternalFile(DataJointError):
    """A stored object is missing from its store."""


class BucketInaccessible(DataJointError):
    """A store bucket cannot be reached."""


class ThreadSafetyError(DataJointError):
    """Global config or connection used in thread-safe mode."""


class DeclarationError(DataJointError):
    """A table definition that cannot be declared."""


class MissingDefinitionError(DeclarationError, NotImplementedError):
    """A table class without a `definition` attribute (NotImplementedError too, as the reference raises)."""


class UnsupportedAlterError(DeclarationError, NotImplementedError):
    """alter() asked to change what it cannot: the primary key, foreign keys or indexes."""


class InvalidValueError(DataJointError):
    """A value that does not fit the attribute's type (wrong type, out of range, too long)."""


class TransactionError(DataJointError):
    """A transaction used in a way that is not allowed (nesting, DDL inside)."""


class ConfigKeyError(DataJointError, KeyError, AttributeError):
    """An unknown or unset config key; also a KeyError/AttributeError so `get`, `in`, `hasattr` work."""


class StoreIntegrityError(DataJointError):
    """A stored object's size or checksum differs from what its row recorded."""
