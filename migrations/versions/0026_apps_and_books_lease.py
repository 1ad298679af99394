"""apps: the Apps and Books job's lease on the content token's row (``vpp_tokens.sync_until``), so one job calls the
service at a time on any node (two would associate the same licenses), through PgBouncer's transaction pooling too

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 12:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('vpp_tokens') as batch:
        batch.add_column(sa.Column('sync_until', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('vpp_tokens') as batch:
        batch.drop_column('sync_until')
