"""privacy acknowledgements

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26 11:19:50.334061

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('privacy_acknowledgements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('disclosure_version', sa.String(length=64), nullable=False),
    sa.Column('disclosure_text', sa.Text(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['end_users.id'], name=op.f('fk_privacy_acknowledgements_user_id_end_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_acknowledgements'))
    )
    with op.batch_alter_table('privacy_acknowledgements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_acknowledgements_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('privacy_acknowledgements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_acknowledgements_user_id'))

    op.drop_table('privacy_acknowledgements')
