from __future__ import annotations

from dccf.schema import MIGRATIONS, _statements


def test_statements_split_outside_function_bodies() -> None:
    sql = """
    CREATE TABLE a (x int); -- not a statement
    CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM 1; RETURN NULL; END $$;
    -- a comment line; with a semicolon
    CREATE INDEX i ON a (x)
    """
    statements = _statements(sql)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE FUNCTION") and statements[1].endswith("END $$")
    assert statements[2] == "CREATE INDEX i ON a (x)"


def test_every_migration_has_statements() -> None:
    assert all(_statements(sql) for sql in MIGRATIONS)
