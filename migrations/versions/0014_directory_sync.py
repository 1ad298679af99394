"""directory sync (SCIM) and offboarding: SCIM identities on people and groups, enrollment retirements

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 05:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('end_users', schema=None) as batch_op:
        batch_op.alter_column('issuer', existing_type=sa.String(length=500), nullable=True)
        batch_op.alter_column('subject', existing_type=sa.String(length=255), nullable=True)
        batch_op.add_column(sa.Column('source', sa.String(length=10), server_default='sign_in', nullable=False))
        batch_op.add_column(sa.Column('scim_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('user_name', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('scim_resource', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('offboarded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_end_users_scim_id'), ['scim_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_end_users_external_id'), ['external_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_end_users_user_name'), ['user_name'])

    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scim_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_groups_scim_id'), ['scim_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_groups_external_id'), ['external_id'])

    op.create_table('enrollment_retirements',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('command_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['command_id'], ['commands.id'], name=op.f('fk_enrollment_retirements_command_id_commands'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_enrollment_retirements_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['end_users.id'], name=op.f('fk_enrollment_retirements_user_id_end_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_enrollment_retirements'))
    )
    with op.batch_alter_table('enrollment_retirements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollment_retirements_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrollment_retirements_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('enrollment_retirements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollment_retirements_user_id'))
        batch_op.drop_index(batch_op.f('ix_enrollment_retirements_started_at'))
    op.drop_table('enrollment_retirements')

    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_groups_external_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_groups_scim_id'), type_='unique')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('external_id')
        batch_op.drop_column('scim_id')

    op.execute("DELETE FROM end_users WHERE issuer IS NULL OR subject IS NULL")
    with op.batch_alter_table('end_users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_end_users_user_name'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_end_users_external_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_end_users_scim_id'), type_='unique')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('offboarded_at')
        batch_op.drop_column('scim_resource')
        batch_op.drop_column('user_name')
        batch_op.drop_column('external_id')
        batch_op.drop_column('scim_id')
        batch_op.drop_column('source')
        batch_op.alter_column('subject', existing_type=sa.String(length=255), nullable=False)
        batch_op.alter_column('issuer', existing_type=sa.String(length=500), nullable=False)
