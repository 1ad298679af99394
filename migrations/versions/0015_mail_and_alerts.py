"""mail: each person's language, the mail outbox and templates, migration notices and admin alerts

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-06 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('end_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('end_users', schema=None) as batch_op:
        batch_op.drop_column('language')
