"""ddm: credential assets served by this server (sealed), devices found by their certificate, managed-app
declarations naming a catalogue app

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credential_sealed', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('app_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_declarations_app_id'), ['app_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_declarations_app_id_apps'), 'apps', ['app_id'], ['id'],
                                    ondelete='RESTRICT')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_certificate_fingerprint'), ['certificate_fingerprint'], unique=False)


def downgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_certificate_fingerprint'))
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_declarations_app_id_apps'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_declarations_app_id'))
        batch_op.drop_column('app_id')
        batch_op.drop_column('credential_sealed')
