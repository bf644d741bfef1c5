"""Helpers the test files share (imported as ``support.x``: tests/ is on sys.path via its conftest)."""
