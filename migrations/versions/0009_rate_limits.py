"""rate limits: fixed-window request counters shared by every web node

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_limit_hits',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('resets_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'resets_at', name=op.f('pk_rate_limit_hits'))
    )


def downgrade():
    op.drop_table('rate_limit_hits')
