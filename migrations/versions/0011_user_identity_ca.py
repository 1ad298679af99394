"""user identity CA: one-time SCEP challenges per device and profile

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('user_identity_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('profile_identifier', sa.String(length=255), nullable=False),
    sa.Column('challenge_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('certificate_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_user_identity_challenges_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_identity_challenges')),
    sa.UniqueConstraint('challenge_hash', name=op.f('uq_user_identity_challenges_challenge_hash'))
    )
    with op.batch_alter_table('user_identity_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_identity_challenges_device_id'), ['device_id'], unique=False)


def downgrade():
    with op.batch_alter_table('user_identity_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_identity_challenges_device_id'))

    op.drop_table('user_identity_challenges')
