"""enrollment access tokens (Account-Driven User Enrollment) and the token hash on devices

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-26 11:36:47.570498

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('enrollment_access_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('managed_apple_id', sa.String(length=320), nullable=False),
    sa.Column('product', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['enrollment_grants.id'], name=op.f('fk_enrollment_access_tokens_grant_id_enrollment_grants')),
    sa.ForeignKeyConstraint(['user_id'], ['end_users.id'], name=op.f('fk_enrollment_access_tokens_user_id_end_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollment_access_tokens')),
    sa.UniqueConstraint('grant_id', name=op.f('uq_enrollment_access_tokens_grant_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_enrollment_access_tokens_token_hash'))
    )
    with op.batch_alter_table('enrollment_access_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollment_access_tokens_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_token_hash', sa.String(length=64), nullable=True))



def downgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('access_token_hash')

    with op.batch_alter_table('enrollment_access_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollment_access_tokens_user_id'))

    op.drop_table('enrollment_access_tokens')
