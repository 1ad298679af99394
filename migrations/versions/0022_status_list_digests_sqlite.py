"""ddm: the lists a status report carries are written only when they changed on SQLite too; mark ``unknown`` the
list digests of DDM enrollments whose status-reported rows SQLite wrote without one, so the next report writes
them (else a full report listing nothing would be taken for a list never written, and the rows would stay)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 02:50:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None
_TABLES = (('apps', 'device_apps'), ('certificates', 'device_certificates'), ('accounts', 'device_accounts'))


def upgrade():
    for kind, table in _TABLES:
        op.execute(f"UPDATE ddm_enrollments SET {kind}_list_digest = 'unknown' WHERE {kind}_list_digest IS NULL "
                   f"AND EXISTS (SELECT 1 FROM {table} WHERE {table}.device_id = ddm_enrollments.device_id "
                   f"AND {table}.status_identifier IS NOT NULL)")


def downgrade():
    pass  # a digest only spares a write: 'unknown' is right for the code before this revision too
