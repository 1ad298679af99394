"""session revocation: employee session versions; admin sign-in failures counted per e-mail

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('end_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))

    op.create_table('admin_login_failures',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_admin_login_failures'))
    )
    with op.batch_alter_table('admin_login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_login_failures_last_attempt_at'), ['last_attempt_at'], unique=False)

    # Counted per e-mail in admin_login_failures from now on; a lock in force is dropped with the columns.
    with op.batch_alter_table('admins', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')


def downgrade():
    with op.batch_alter_table('admins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('admin_login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_login_failures_last_attempt_at'))

    op.drop_table('admin_login_failures')

    with op.batch_alter_table('end_users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
