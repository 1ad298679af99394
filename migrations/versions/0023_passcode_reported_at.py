"""ddm: when a status report last carried passcode compliance, so the device pages weigh that against the last
SecurityInfo answer instead of the last report of any kind; rows holding a compliance take their last report's
time, which is what the pages compared before

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 06:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ddm_enrollments') as batch:
        batch.add_column(sa.Column('passcode_reported_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE ddm_enrollments SET passcode_reported_at = last_status_at WHERE passcode_compliant IS NOT NULL")


def downgrade():
    with op.batch_alter_table('ddm_enrollments') as batch:
        batch.drop_column('passcode_reported_at')
