"""Migrations are the schema: they must run down and up again, and match the models exactly."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from portal.extensions import db


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_downgrade_to_base_and_upgrade_again(app):
    with app.app_context():
        downgrade(revision="base")
        assert db.inspect(db.engine).get_table_names() in ([], ["alembic_version"])
        upgrade()
        assert "devices" in db.inspect(db.engine).get_table_names()
