"""The schema's version as workers read it while they wait for the master to migrate."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from dccf import db, schema
from dccf.settings import Settings

pytestmark = pytest.mark.integration


def test_a_new_database_is_at_version_0_until_migrated(cfg: Settings) -> None:
    name = f"dccf_schema_{uuid.uuid4().hex[:8]}"
    admin = db.connect(cfg.postgres, "dccf-schema-test")
    admin.run(f"CREATE DATABASE {name}")
    try:
        conn = db.connect(dataclasses.replace(cfg.postgres, database=name), "dccf-schema-test")
        try:
            assert (schema.version(conn), schema.current(conn)) == (0, False)
            assert schema.migrate(conn) == len(schema.MIGRATIONS)
            assert (schema.version(conn), schema.current(conn)) == (len(schema.MIGRATIONS), True)
            # The first statement of the first migration and the last of the last both ran.
            assert conn.run(
                "SELECT to_regclass('jobs')::text, to_regclass('jobs_principal_started')::text"
            ) == [["jobs", "jobs_principal_started"]]
            assert conn.run("SELECT count(*) FROM pg_proc WHERE proname = 'dccf_claim'") == [[1]]
            conn.run("DELETE FROM schema_migrations WHERE version = :v", v=len(schema.MIGRATIONS))
            assert schema.current(conn) is False
        finally:
            conn.close()
    finally:
        admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
