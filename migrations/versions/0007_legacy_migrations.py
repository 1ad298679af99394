"""legacy migrations: what the migration to User Enrollment did to each legacy device enrollment

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 11:58:06.879989

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('legacy_migrations',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_by', sa.String(length=320), nullable=True),
    sa.Column('notice_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unenroll_command_id', sa.Integer(), nullable=True),
    sa.Column('unenroll_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unenroll_sent_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_legacy_migrations_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unenroll_command_id'], ['commands.id'], name=op.f('fk_legacy_migrations_unenroll_command_id_commands'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_legacy_migrations'))
    )


def downgrade():
    op.drop_table('legacy_migrations')
