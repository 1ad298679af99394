"""managed apps: a registration or an association the Apps and Books service refused is tried again with backoff

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

TABLES = ('app_users', 'app_licenses')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
            batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('next_attempt_at')
            batch_op.drop_column('attempts')
