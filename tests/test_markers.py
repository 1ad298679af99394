"""The ``postgres_only`` marker declared in pyproject.toml, applied by the root conftest."""
import pytest


@pytest.mark.postgres_only("this test checks the marker itself")
def test_a_postgres_only_test_runs_only_against_postgresql(database_url):
    assert database_url.startswith("postgresql"), "the marker lets a PostgreSQL-only test run on another database"
