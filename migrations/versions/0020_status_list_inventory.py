"""inventory: managed apps and certificates a DDM status report lists are kept with the status channel's
identifier (device_apps.status_identifier, device_certificates.status_identifier), so a later report's
``_removed`` entry finds its row and each channel removes only the rows it reported

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('device_apps', 'device_certificates'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('status_identifier', sa.String(length=255), nullable=True))


def downgrade():
    for table in ('device_apps', 'device_certificates'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('status_identifier')
